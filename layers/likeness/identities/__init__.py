"""Studio identities: upload, preprocessing, visibility and sharing."""
