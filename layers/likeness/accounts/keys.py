"""API key generation and hashing. Keys are random; only an HMAC of each is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "lk_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str, *, pepper: str) -> str:
    return hmac.new(pepper.encode(), api_key.encode(), hashlib.sha256).hexdigest()


def display_prefix(api_key: str) -> str:
    return api_key[:10]
