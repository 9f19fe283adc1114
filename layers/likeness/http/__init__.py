"""The HTTP edge shared by every API function: app factory, error mapping, auth."""
