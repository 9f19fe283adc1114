"""Standard Webhooks signatures (https://www.standardwebhooks.com).

Headers: ``webhook-id`` (the message id, the same on every retry), ``webhook-timestamp`` (unix
seconds of the attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``. The HMAC key of a ``whsec_<base64>`` secret is the decoded bytes;
any other secret (a request-level ``webhook_secret`` a client chose) is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    if not secret:
        raise ValueError("a webhook secret may not be empty")
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            # tolerate missing padding, as the reference libraries do
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode("utf-8")


def sign(secret: str, *, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value for one attempt."""
    to_sign = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(secret: str, *, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id=message_id, timestamp=timestamp, body=body),
    }


def secret_hint(secret: str) -> str:
    """A short, non-secret fingerprint (for logs and support), never the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]
