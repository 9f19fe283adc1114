"""Generation engines: one interface, a catalog, and the embedded classical engine."""
