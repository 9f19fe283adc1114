"""API keys are random and only their HMAC is ever stored."""

from __future__ import annotations

from likeness.accounts.keys import KEY_PREFIX, generate_api_key, hash_api_key


def test_keys_are_random_and_prefixed() -> None:
    keys = {generate_api_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith(KEY_PREFIX) and len(k) > 40 for k in keys)


def test_hash_is_stable_peppered_and_not_the_key() -> None:
    key = generate_api_key()
    digest = hash_api_key(key, pepper="p1")
    assert digest == hash_api_key(key, pepper="p1")
    assert digest != hash_api_key(key, pepper="p2")
    assert key not in digest and len(digest) == 64
