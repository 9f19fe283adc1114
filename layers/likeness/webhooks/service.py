"""Saved webhook endpoints, the delivery log, redelivery, the event log and the signing secret."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, Item
from likeness.aws.sqs import JobQueue
from likeness.clock import now_iso
from likeness.errors import BadRequest, Conflict, Forbidden, NotFound
from likeness.net.urlguard import Resolver, check_url
from likeness.settings import Settings
from likeness.webhooks.delivery import RETRY_KIND, build_payload, delivery_ttl_seconds
from likeness.webhooks.models import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPage,
    DeliveryPublic,
    DeliveryStatus,
    EndpointCreate,
    EndpointList,
    EndpointPublic,
    EndpointUpdate,
    EndpointWithSecret,
    EventList,
    EventPublic,
    SigningSecretPublic,
    TargetKind,
)
from likeness.webhooks.secrets import ENDPOINT, LEGACY_FIELD, SEALED_FIELD
from likeness.webhooks.signing import new_secret
from likeness.webhooks.store import (
    MAX_ENDPOINTS_PER_ACCOUNT,
    WebhookStore,
    delivery_index_pk,
    delivery_key,
    endpoint_key,
)


def _endpoint_public(item: Item) -> EndpointPublic:
    return EndpointPublic(
        endpoint_id=item["endpoint_id"],
        url=item["url"],
        events=list(item.get("events") or []),
        description=item.get("description"),
        enabled=bool(item.get("enabled", True)),
        disabled_reason=item.get("disabled_reason"),
        disabled_at=item.get("disabled_at"),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        secret_rotated_at=item.get("secret_rotated_at"),
    )


def _with_secret(item: Item, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(**_endpoint_public(item).model_dump(), secret=secret)


def _delivery_fields(item: Item) -> dict[str, Any]:
    return {
        "delivery_id": item["delivery_id"],
        "message_id": item["message_id"],
        "event_id": item["event_id"],
        "event_type": item["event_type"],
        "target": TargetKind(item["target"]),
        "endpoint_id": item.get("endpoint_id"),
        "job_id": item.get("job_id"),
        "url": item.get("url"),
        "status": DeliveryStatus(item["status"]),
        "attempt_count": int(item.get("attempt_count", 0)),
        "cycle": int(item.get("cycle", 1)),
        "next_attempt_at": item.get("next_attempt_at") if item["status"] == DeliveryStatus.PENDING else None,
        "last_status_code": item.get("last_status_code"),
        "last_error": item.get("last_error"),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "attempts": [AttemptPublic(**a) for a in reversed(item.get("attempts") or [])],
    }


def _encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


# what _encode_cursor encodes: a delivery's GSI1SK, "<created_at>#<delivery_id>"
_CURSOR_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]+Z#whdlv_[0-9a-f]+")


def _decode_cursor(cursor: str) -> str:
    """The sort key a cursor continues below; invalid_cursor for anything _encode_cursor did not
    make (a lax decode read garbage as "" and silently restarted from the first page)."""
    invalid = BadRequest(
        "the cursor is not valid", code="invalid_cursor", fix="Pass next_cursor from the previous page."
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid from exc
    if not _CURSOR_KEY.fullmatch(key):
        raise invalid
    return key


class WebhookService:
    def __init__(
        self,
        *,
        store: WebhookStore,
        queue: JobQueue,
        settings: Settings,
        resolver: Resolver = socket.getaddrinfo,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._table = store.table
        self._queue = queue
        self._settings = settings
        self._resolver = resolver
        self._clock = clock

    # ------------------------------------------------------------------ endpoints

    def create_endpoint(self, *, caller: Caller, create: EndpointCreate) -> EndpointWithSecret:
        self._require(caller, Scope.IDENTITIES_WRITE)
        url = self._checked_url(create.url)
        if len(self._store.endpoints(caller.account_id)) >= MAX_ENDPOINTS_PER_ACCOUNT:
            raise Conflict(
                f"an account can have at most {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints",
                code="endpoint_limit_reached",
                fix="Delete an endpoint you no longer use, or subscribe one endpoint to more events.",
            )
        endpoint_id = "whep_" + secrets.token_hex(10)
        pk, sk = endpoint_key(caller.account_id, endpoint_id)
        now = now_iso()
        secret = new_secret()
        item: Item = {
            "PK": pk,
            "SK": sk,
            "type": "webhook_endpoint",
            "endpoint_id": endpoint_id,
            "account_id": caller.account_id,
            "url": url,
            "events": create.events or [],
            "description": create.description or None,
            "enabled": True,
            SEALED_FIELD: self._store.secrets.seal(
                secret, ENDPOINT, account_id=caller.account_id, endpoint_id=endpoint_id
            ),
            "created_at": now,
            "updated_at": now,
        }
        self._table.put(item, condition="attribute_not_exists(PK)")
        return _with_secret(item, secret)

    def list_endpoints(self, *, caller: Caller) -> EndpointList:
        self._require(caller, Scope.IDENTITIES_READ)
        return EndpointList(data=[_endpoint_public(i) for i in self._store.endpoints(caller.account_id)])

    def get_endpoint(self, *, caller: Caller, endpoint_id: str) -> EndpointPublic:
        self._require(caller, Scope.IDENTITIES_READ)
        return _endpoint_public(self._endpoint(caller, endpoint_id))

    def update_endpoint(self, *, caller: Caller, endpoint_id: str, update: EndpointUpdate) -> EndpointPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        sent = update.model_fields_set
        sets = ["updated_at = :now"]
        removes: list[str] = []
        values: dict[str, Any] = {":now": now_iso()}
        if "url" in sent and update.url is not None:
            sets.append("#url = :url")
            values[":url"] = self._checked_url(update.url)
        if "events" in sent:
            sets.append("events = :events")
            values[":events"] = update.events or []
        if "description" in sent:
            if update.description:
                sets.append("description = :description")
                values[":description"] = update.description
            else:
                removes.append("description")
        item = self._update_endpoint(caller, endpoint_id, sets=sets, removes=removes, values=values)
        return _endpoint_public(item)

    def rotate_endpoint_secret(self, *, caller: Caller, endpoint_id: str) -> EndpointWithSecret:
        """A new secret signs every attempt from now on, retries of older messages included."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        now = now_iso()
        secret = new_secret()
        sealed = self._store.secrets.seal(
            secret, ENDPOINT, account_id=caller.account_id, endpoint_id=endpoint_id
        )
        item = self._update_endpoint(
            caller,
            endpoint_id,
            sets=[f"{SEALED_FIELD} = :secret", "secret_rotated_at = :now", "updated_at = :now"],
            removes=[LEGACY_FIELD],
            values={":secret": sealed, ":now": now},
        )
        return _with_secret(item, secret)

    def set_endpoint_enabled(self, *, caller: Caller, endpoint_id: str, enabled: bool) -> EndpointPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        now = now_iso()
        if enabled:
            item = self._update_endpoint(
                caller,
                endpoint_id,
                sets=["enabled = :true", "updated_at = :now"],
                removes=["disabled_reason", "disabled_at"],
                values={":true": True, ":now": now},
            )
        else:
            item = self._update_endpoint(
                caller,
                endpoint_id,
                sets=[
                    "enabled = :false",
                    "disabled_reason = :reason",
                    "disabled_at = :now",
                    "updated_at = :now",
                ],
                values={":false": False, ":reason": "disabled by the account", ":now": now},
            )
        return _endpoint_public(item)

    def delete_endpoint(self, *, caller: Caller, endpoint_id: str) -> None:
        """Its delivery log stays readable by delivery id until it expires; pending retries fail."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        try:
            self._table.delete(
                *endpoint_key(caller.account_id, endpoint_id), condition="attribute_exists(PK)"
            )
        except ConditionFailed as exc:
            raise self._endpoint_not_found(endpoint_id) from exc

    # ------------------------------------------------------------------ deliveries

    def list_deliveries(
        self, *, caller: Caller, endpoint_id: str, limit: int = 20, cursor: str | None = None
    ) -> DeliveryPage:
        self._require(caller, Scope.IDENTITIES_READ)
        self._endpoint(caller, endpoint_id)
        items, last = self._store.deliveries_page(
            index_pk=delivery_index_pk(account_id=caller.account_id, endpoint_id=endpoint_id),
            limit=limit,
            before=_decode_cursor(cursor) if cursor else None,
        )
        return DeliveryPage(
            data=[
                DeliveryPublic(**_delivery_fields(i)) for i in items if i["account_id"] == caller.account_id
            ],
            next_cursor=_encode_cursor(last) if last else None,
        )

    def get_delivery(self, *, caller: Caller, delivery_id: str) -> DeliveryDetail:
        self._require(caller, Scope.IDENTITIES_READ)
        item = self._delivery(caller, delivery_id)
        return DeliveryDetail(**_delivery_fields(item), payload=json.loads(item["body"]))

    def redeliver(self, *, caller: Caller, delivery_id: str) -> DeliveryPublic:
        """A new attempt cycle of the same message (same webhook-id and body), from now."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        item = self._delivery(caller, delivery_id)
        if item.get("endpoint_id"):
            endpoint = self._store.endpoint(caller.account_id, item["endpoint_id"])
            if endpoint is None:
                raise Conflict(
                    "the endpoint of this delivery was deleted",
                    code="endpoint_deleted",
                    fix="Create an endpoint; new events will be delivered to it.",
                )
            if not endpoint.get("enabled", True):
                raise Conflict(
                    "the endpoint of this delivery is disabled",
                    code="endpoint_disabled",
                    fix=f"Enable it with POST /webhooks/endpoints/{item['endpoint_id']}/enable first.",
                )
        now = self._clock()
        try:
            updated = self._table.update(
                *delivery_key(delivery_id),
                update="SET #status = :pending, #cycle = #cycle + :one, cycle_attempts = :zero, "
                "next_attempt_at = :now_iso, updated_at = :now_iso, expires_at = :expires "
                "REMOVE finished_at",
                condition="account_id = :account "
                "AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
                names={"#status": "status", "#cycle": "cycle"},
                values={
                    ":pending": DeliveryStatus.PENDING.value,
                    ":one": 1,
                    ":zero": 0,
                    ":now_iso": now_iso(),
                    ":now": now,
                    ":account": caller.account_id,
                    ":expires": int(now) + delivery_ttl_seconds(self._settings),
                },
            )
        except ConditionFailed as exc:
            raise Conflict(
                "an attempt of this delivery is in flight",
                code="delivery_in_flight",
                fix="Try again in a few seconds.",
            ) from exc
        # a retry still queued for the previous cycle is ignored: its cycle no longer matches
        self._queue.send(
            {
                "kind": RETRY_KIND,
                "delivery_id": delivery_id,
                "cycle": int(updated["cycle"]),
                "attempt": 0,
                "not_before": round(now, 3),
            }
        )
        return DeliveryPublic(**_delivery_fields(updated))

    # ------------------------------------------------------------------ events, signing secret

    def list_events(self, *, caller: Caller, limit: int = 20) -> EventList:
        self._require(caller, Scope.IDENTITIES_READ)
        now = int(self._clock())
        events = []
        for item in self._store.recent_events(caller.account_id, limit=limit):
            # TTL deletion runs late (up to days): hide what has expired
            if int(item.get("expires_at", now + 1)) <= now:
                continue
            envelope = json.loads(item["envelope"])
            events.append(
                EventPublic(
                    event_id=item["event_id"],
                    type=item["event_type"],
                    occurred_at=item["occurred_at"],
                    payload=build_payload(envelope),
                )
            )
        return EventList(data=events)

    def get_signing_secret(self, *, caller: Caller) -> SigningSecretPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        return self._secret_public(*self._store.signing_secret(caller.account_id))

    def rotate_signing_secret(self, *, caller: Caller) -> SigningSecretPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        return self._secret_public(*self._store.rotate_signing_secret(caller.account_id))

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _secret_public(secret: str, item: Item) -> SigningSecretPublic:
        return SigningSecretPublic(
            secret=secret, created_at=item["created_at"], rotated_at=item.get("rotated_at")
        )

    def _checked_url(self, url: str) -> str:
        return check_url(url, allow_private=self._settings.allow_private_urls, resolver=self._resolver).url

    def _endpoint(self, caller: Caller, endpoint_id: str) -> Item:
        item = self._store.endpoint(caller.account_id, endpoint_id)
        if item is None:
            raise self._endpoint_not_found(endpoint_id)
        return item

    def _update_endpoint(
        self,
        caller: Caller,
        endpoint_id: str,
        *,
        sets: list[str],
        values: dict[str, Any],
        removes: list[str] | None = None,
    ) -> Item:
        update = "SET " + ", ".join(sets)
        if removes:
            update += " REMOVE " + ", ".join(removes)
        names = {"#url": "url"} if "#url" in update else None
        try:
            return self._table.update(
                *endpoint_key(caller.account_id, endpoint_id),
                update=update,
                condition="attribute_exists(PK)",
                names=names,
                values=values,
            )
        except ConditionFailed as exc:
            raise self._endpoint_not_found(endpoint_id) from exc

    def _delivery(self, caller: Caller, delivery_id: str) -> Item:
        item = self._store.delivery(delivery_id)
        # another account's delivery is indistinguishable from a missing one
        if item is None or item.get("account_id") != caller.account_id:
            raise NotFound(f"no webhook delivery {delivery_id!r}", code="delivery_not_found")
        return item

    @staticmethod
    def _endpoint_not_found(endpoint_id: str) -> NotFound:
        return NotFound(f"no webhook endpoint {endpoint_id!r}", code="endpoint_not_found")

    @staticmethod
    def _require(caller: Caller, scope: Scope) -> None:
        if not caller.can(scope):
            raise Forbidden(f"this API key lacks the '{scope.value}' scope")
