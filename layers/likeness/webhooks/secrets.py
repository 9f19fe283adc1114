"""Webhook signing secrets at rest: sealed with KMS (likeness.aws.kms), never stored in clear.

Three kinds, each bound to its record by the encryption context, so a ciphertext copied onto
another record (another account, another endpoint) does not decrypt:

- an endpoint's secret (``WHEP`` records):
  ``{"purpose": "webhook-endpoint", "account_id", "endpoint_id"}``
- the account's secret for request-level webhooks (``WHSECRET``):
  ``{"purpose": "webhook-account", "account_id"}``
- a request-level ``webhook_secret`` the client chose (the job's ``webhook``):
  ``{"purpose": "webhook-request", "account_id"}``

The key policy (template.yaml ``WebhookSecretsKey``) lets the delivery function decrypt every
kind and the webhooks API only the account's secret, which ``GET /webhooks/signing-secret`` shows.
The sealed value lives in ``secret_sealed``; a record from before sealing (``secret`` in clear)
is still read, and the next rotation replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from likeness.aws.kms import SecretBox

ENDPOINT = "webhook-endpoint"
ACCOUNT = "webhook-account"
REQUEST = "webhook-request"

SEALED_FIELD = "secret_sealed"
LEGACY_FIELD = "secret"


def context(purpose: str, *, account_id: str, endpoint_id: str | None = None) -> dict[str, str]:
    ctx = {"purpose": purpose, "account_id": account_id}
    if endpoint_id:
        ctx["endpoint_id"] = endpoint_id
    return ctx


class WebhookSecrets:
    def __init__(self, *, box: SecretBox) -> None:
        self._box = box

    def seal(self, secret: str, purpose: str, *, account_id: str, endpoint_id: str | None = None) -> str:
        ctx = context(purpose, account_id=account_id, endpoint_id=endpoint_id)
        return self._box.seal(secret, context=ctx)

    def open(
        self, record: Mapping[str, Any], purpose: str, *, account_id: str, endpoint_id: str | None = None
    ) -> str | None:
        """The secret a record holds (None when it holds none)."""
        sealed = record.get(SEALED_FIELD)
        if sealed:
            return self._box.open(
                str(sealed), context=context(purpose, account_id=account_id, endpoint_id=endpoint_id)
            )
        legacy = record.get(LEGACY_FIELD)
        return str(legacy) if legacy else None
