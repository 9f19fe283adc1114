"""Webhook records in the single table.

ACCOUNT#<account> / WHEP#<endpoint_id>   a saved endpoint (url, events, sealed secret, enabled)
ACCOUNT#<account> / WHSECRET             the account's (sealed) signing secret for request-level
                                         webhooks; secrets are KMS-sealed (webhooks/secrets.py)
WHDLV#<delivery_id> / DELIVERY           one message to one target, with its attempts
                                         (GSI1: WHEP#<endpoint_id> or WHREQ#<account>
                                         / <created_at>#<delivery_id>: newest first per endpoint)
WHEVENTS#<account> / <occurred_at>#<event_id>
                                         the event log: the EventBridge envelope as JSON,
                                         expiring (``expires_at``) after event_log_ttl_seconds
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item
from likeness.clock import now_iso
from likeness.webhooks.secrets import ACCOUNT, ENDPOINT, LEGACY_FIELD, SEALED_FIELD, WebhookSecrets
from likeness.webhooks.signing import new_secret

MAX_ENDPOINTS_PER_ACCOUNT = 20
# attempts kept on a delivery record (redelivers add cycles; the record must stay small)
MAX_ATTEMPTS_KEPT = 50


def endpoint_key(account_id: str, endpoint_id: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", f"WHEP#{endpoint_id}"


def delivery_key(delivery_id: str) -> tuple[str, str]:
    return f"WHDLV#{delivery_id}", "DELIVERY"


def signing_secret_key(account_id: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", "WHSECRET"


def event_log_pk(account_id: str) -> str:
    return f"WHEVENTS#{account_id}"


def delivery_index_pk(*, account_id: str, endpoint_id: str | None) -> str:
    return f"WHEP#{endpoint_id}" if endpoint_id else f"WHREQ#{account_id}"


def delivery_ids(event_id: str, target: str) -> tuple[str, str]:
    """(delivery_id, message_id): derived from the event and the target, so a redelivered
    queue message finds the delivery it already made instead of making a second one."""
    digest = hashlib.sha256(f"{event_id}|{target}".encode()).hexdigest()
    return f"whdlv_{digest[:24]}", f"msg_{digest[24:48]}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class WebhookStore:
    """Reads and writes of webhook records; no HTTP, no policy."""

    def __init__(self, *, table: DynamoTable, secrets: WebhookSecrets) -> None:
        self.table = table
        self.secrets = secrets

    # ---------------------------------------------------------------- endpoints
    def endpoints(self, account_id: str) -> list[Item]:
        items = self.table.query(f"ACCOUNT#{account_id}", sk_prefix="WHEP#")
        return sorted(items, key=lambda i: i["created_at"])

    def endpoint(self, account_id: str, endpoint_id: str) -> Item | None:
        return self.table.get(*endpoint_key(account_id, endpoint_id))

    def disable_endpoint(self, account_id: str, endpoint_id: str, *, reason: str) -> Item | None:
        now = now_iso()
        try:
            return self.table.update(
                *endpoint_key(account_id, endpoint_id),
                update="SET enabled = :false, disabled_reason = :reason, disabled_at = :now, "
                "updated_at = :now",
                condition="attribute_exists(PK)",
                values={":false": False, ":reason": reason, ":now": now},
            )
        except ConditionFailed:
            return None

    # ---------------------------------------------------------------- account signing secret
    def signing_secret(self, account_id: str) -> tuple[str, Item]:
        """The account's secret and its record, made on first use (a race keeps the first one
        written). Only the API side makes it: the delivery function writes no account record."""
        item = self.ensure_signing_secret(account_id)
        secret = self.secrets.open(item, ACCOUNT, account_id=account_id)
        assert secret is not None
        return secret, item

    def existing_signing_secret(self, account_id: str) -> str | None:
        """The account's secret, or None when it was never made (read-only)."""
        item = self.table.get(*signing_secret_key(account_id))
        return None if item is None else self.secrets.open(item, ACCOUNT, account_id=account_id)

    def rotate_signing_secret(self, account_id: str) -> tuple[str, Item]:
        self.ensure_signing_secret(account_id)
        secret = new_secret()
        item = self.table.update(
            *signing_secret_key(account_id),
            update=f"SET {SEALED_FIELD} = :secret, rotated_at = :now REMOVE {LEGACY_FIELD}",
            values={":secret": self.secrets.seal(secret, ACCOUNT, account_id=account_id), ":now": now_iso()},
        )
        return secret, item

    def ensure_signing_secret(self, account_id: str) -> Item:
        pk, sk = signing_secret_key(account_id)
        item = self.table.get(pk, sk)
        if item is not None:
            return item
        item = {
            "PK": pk,
            "SK": sk,
            "type": "webhook_signing_secret",
            "account_id": account_id,
            SEALED_FIELD: self.secrets.seal(new_secret(), ACCOUNT, account_id=account_id),
            "created_at": now_iso(),
        }
        try:
            self.table.put(item, condition="attribute_not_exists(PK)")
        except ConditionFailed:
            existing = self.table.get(pk, sk)
            assert existing is not None
            return existing
        return item

    # ---------------------------------------------------------------- endpoint secrets
    def endpoint_secret(self, endpoint: Item) -> str | None:
        return self.secrets.open(
            endpoint, ENDPOINT, account_id=endpoint["account_id"], endpoint_id=endpoint["endpoint_id"]
        )

    # ---------------------------------------------------------------- deliveries
    def delivery(self, delivery_id: str) -> Item | None:
        return self.table.get(*delivery_key(delivery_id))

    def create_delivery(self, item: Item) -> bool:
        """False when it already exists (the same event reached the same target before)."""
        try:
            self.table.put(item, condition="attribute_not_exists(PK)")
        except ConditionFailed:
            return False
        return True

    def deliveries_page(
        self, *, index_pk: str, limit: int, before: str | None = None
    ) -> tuple[list[Item], str | None]:
        """Newest first; returns the page and the GSI1SK to continue below (None at the end)."""
        items = self.table.query(index_pk, index="GSI1", forward=False, limit=limit + 1, sk_below=before)
        more = len(items) > limit
        items = items[:limit]
        # GSI1 is eventually consistent and projects everything; the page is what it shows
        return items, (items[-1]["GSI1SK"] if more and items else None)

    # ---------------------------------------------------------------- event log
    def log_event(self, *, account_id: str, envelope: dict[str, Any], expires_at: int) -> None:
        detail = envelope.get("detail") or {}
        occurred_at = str(detail.get("occurred_at") or envelope.get("time") or now_iso())
        self.table.put(
            {
                "PK": event_log_pk(account_id),
                "SK": f"{occurred_at}#{envelope['id']}",
                "type": "webhook_event",
                "account_id": account_id,
                "event_id": envelope["id"],
                "event_type": envelope["detail-type"],
                "occurred_at": occurred_at,
                "received_at": now_iso(),
                # JSON text: the table adapter drops None values from maps, the envelope keeps them
                "envelope": dumps(envelope),
                "expires_at": expires_at,
            }
        )

    def recent_events(self, account_id: str, *, limit: int) -> list[Item]:
        return self.table.query(event_log_pk(account_id), forward=False, limit=limit)
