"""Characters (character-visual-identity spec): versions, sessions, visual assets, readiness,
image probes and inventory batches."""
