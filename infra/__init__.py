"""Infrastructure helpers: the local development stack lives in :mod:`infra.local`."""
