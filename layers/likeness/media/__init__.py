"""The media identities surface: people found across video and image files."""
