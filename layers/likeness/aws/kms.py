"""KMS adapter: small secrets (webhook signing secrets) stored encrypted with the stack's key.

A signing secret is a few dozen bytes, far under KMS's 4 KB limit, so each one is encrypted by
KMS itself (``Encrypt``/``Decrypt``): no data key to wrap and nothing to decrypt locally. Every
ciphertext is bound to its record by an encryption context (the account, and what the secret
signs), so a ciphertext copied onto another record does not decrypt. Who may decrypt is the key
policy's business (template.yaml ``WebhookSecretsKey``; docs/security.md).

Stored form: ``kms1:<base64 ciphertext blob>``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from likeness.errors import LikenessError

SEALED_PREFIX = "kms1:"


class SecretsUnavailable(LikenessError):
    """KMS refused or failed (throttled, key disabled, no key configured): retry later."""

    status_code = 503
    code = "secrets_unavailable"
    transient = True


class SecretUnreadable(LikenessError):
    """The ciphertext does not decrypt with its context (tampered, or copied from another record)."""

    code = "secret_unreadable"


# KMS errors that no retry fixes
_PERMANENT = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class SecretBox:
    """Seal (encrypt) and open (decrypt) short secrets with one KMS key.

    ``client_factory`` gives the boto3 KMS client when one is needed (functions that never touch
    a secret never make one; ``get_client`` keeps it per process). Opened secrets are kept in a
    small in-process cache keyed by the ciphertext: a delivery burst to one endpoint decrypts
    its secret once.
    """

    def __init__(self, *, client_factory: Callable[[], Any], key_id: str, cache_size: int = 256) -> None:
        self._client_factory = client_factory
        self.key_id = key_id
        self._cache: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @staticmethod
    def is_sealed(value: object) -> bool:
        return isinstance(value, str) and value.startswith(SEALED_PREFIX)

    def seal(self, plaintext: str, *, context: Mapping[str, str]) -> str:
        resp = self._call(
            "encrypt",
            KeyId=self._key(),
            Plaintext=plaintext.encode("utf-8"),
            EncryptionContext=dict(context),
        )
        return SEALED_PREFIX + base64.b64encode(resp["CiphertextBlob"]).decode("ascii")

    def open(self, sealed: str, *, context: Mapping[str, str]) -> str:
        if not self.is_sealed(sealed):
            raise ValueError("not a sealed secret")
        cache_key = (sealed, tuple(sorted(context.items())))
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                return cached
        try:
            blob = base64.b64decode(sealed[len(SEALED_PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("a sealed secret that is not base64") from exc
        resp = self._call("decrypt", CiphertextBlob=blob, KeyId=self._key(), EncryptionContext=dict(context))
        plaintext = bytes(resp["Plaintext"]).decode("utf-8")
        with self._lock:
            self._cache[cache_key] = plaintext
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return plaintext

    def _key(self) -> str:
        if not self.key_id:
            raise SecretsUnavailable(
                "no key is configured for webhook signing secrets",
                fix="Set LIKENESS_WEBHOOK_SECRETS_KEY_ID (template.yaml sets it from WebhookSecretsKey).",
            )
        return self.key_id

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client_factory(), operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _PERMANENT:
                raise SecretUnreadable(f"KMS {operation} refused the secret: {exc}") from exc
            raise SecretsUnavailable(f"KMS {operation} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise SecretsUnavailable(f"KMS {operation} failed: {exc}") from exc
