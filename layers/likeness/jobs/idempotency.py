"""Idempotency keys: a retried POST returns the original response instead of a second job.

Layout: IDEMPOTENCY#<account>#<key> / IDEMPOTENCY, with ``expires_at`` (epoch seconds) for the
table's TTL. A key is first *claimed* (state ``in_flight``); the submission transaction that
writes the job also completes the claim with the response, so a stored response always
belongs to a job that exists. A claim whose request never finished (a crash) can be taken
over after ``in_flight_seconds``.

- same key, same body, completed: the stored response is replayed (``Idempotent-Replayed: true``)
- same key, different body: 409 ``idempotency_key_mismatch``
- same key while the first request is still running: 409 ``idempotency_key_in_use``
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, TransactItem
from likeness.errors import BadRequest, Conflict

REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def request_fingerprint(scope: str, body: Any) -> str:
    """A hash of what makes two requests "the same": the route and the canonical JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def validate_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable characters",
            code="invalid_idempotency_key",
            fix="Send a UUID (or another unique string) per logical request.",
        )
    return key


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class IdempotencyClaim:
    """This request owns the key until ``complete_write`` lands or ``release`` is called."""

    account_id: str
    key: str
    token: str


class IdempotencyStore:
    def __init__(
        self, *, table: DynamoTable, ttl_seconds: int, in_flight_seconds: int, clock: Any = time.time
    ) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._in_flight = in_flight_seconds
        self._clock = clock

    @staticmethod
    def _key(account_id: str, key: str) -> tuple[str, str]:
        return f"IDEMPOTENCY#{account_id}#{key}", "IDEMPOTENCY"

    def begin(self, *, account_id: str, key: str, fingerprint: str) -> IdempotencyClaim | StoredResponse:
        """Claim the key, or return the response it already produced (or raise 409)."""
        now = int(self._clock())
        pk, sk = self._key(account_id, key)
        token = secrets.token_hex(8)
        try:
            self._table.put(
                {
                    "PK": pk,
                    "SK": sk,
                    "type": "idempotency_key",
                    "state": "in_flight",
                    "fingerprint": fingerprint,
                    "token": token,
                    "claimed_at": now,
                    "expires_at": now + self._ttl,
                },
                # TTL deletion is lazy, so an expired item counts as absent here
                condition="attribute_not_exists(PK) OR expires_at < :now "
                "OR (#state = :in_flight AND claimed_at < :stale)",
                names={"#state": "state"},
                values={":now": now, ":in_flight": "in_flight", ":stale": now - self._in_flight},
            )
            return IdempotencyClaim(account_id=account_id, key=key, token=token)
        except ConditionFailed:
            pass
        existing = self._table.get(pk, sk)
        if existing is None:  # it expired or was released between the two calls
            return self.begin(account_id=account_id, key=key, fingerprint=fingerprint)
        if existing["fingerprint"] != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used with a different request body",
                code="idempotency_key_mismatch",
                fix="Use a new Idempotency-Key for a different request, or resend the original body.",
            )
        if existing["state"] != "completed":
            raise Conflict(
                "a request with this Idempotency-Key is still being processed",
                code="idempotency_key_in_use",
                fix="Wait a moment and retry with the same key to get its response.",
            )
        return StoredResponse(status_code=int(existing["status_code"]), body=existing["response"])

    def stored(self, *, account_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        """The response a completed request with this key and body gave, without claiming the
        key (None for anything else: ``begin`` answers those). For a request that must not
        repeat a step before its replay is known, such as using an upload."""
        existing = self._table.get(*self._key(account_id, key))
        if (
            existing is None
            or existing.get("state") != "completed"
            or existing.get("fingerprint") != fingerprint
            or int(existing.get("expires_at", 0)) < int(self._clock())
        ):
            return None
        return StoredResponse(status_code=int(existing["status_code"]), body=existing["response"])

    def complete_write(self, claim: IdempotencyClaim, response: StoredResponse) -> TransactItem:
        """The claim's completion, written in the same transaction as the job it answers for."""
        pk, sk = self._key(claim.account_id, claim.key)
        return TransactItem(
            kind="Update",
            key={"PK": pk, "SK": sk},
            update="SET #state = :completed, status_code = :status, #response = :response",
            condition="#token = :token",
            names={"#state": "state", "#token": "token", "#response": "response"},
            values={
                ":completed": "completed",
                ":status": response.status_code,
                ":response": response.body,
                ":token": claim.token,
            },
        )

    def release(self, claim: IdempotencyClaim) -> None:
        """Forget a claim whose request changed nothing (so the key can be used again)."""
        with contextlib.suppress(ConditionFailed):
            self._table.delete(
                *self._key(claim.account_id, claim.key),
                condition="#token = :token",
                names={"#token": "token"},
                values={":token": claim.token},
            )

    def forget_write(self, claim: IdempotencyClaim) -> TransactItem:
        pk, sk = self._key(claim.account_id, claim.key)
        return TransactItem(kind="Delete", key={"PK": pk, "SK": sk})
