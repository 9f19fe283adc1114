"""Presigned image uploads (POST /uploads) and their one-time use in place of inline bytes."""
