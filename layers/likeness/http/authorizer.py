"""API key authorization at the edge: the rules of the Lambda REQUEST authorizer
(functions/authorizer) that API Gateway runs before any route, and how a route reads its answer.

A key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The authorizer answers
API Gateway's simple response: ``{"isAuthorized": false}`` (API Gateway then answers 403
``{"message": "Forbidden"}`` and no route function starts), or ``{"isAuthorized": true,
"context": {...}}`` with the caller, which API Gateway hands to the route as
``requestContext.authorizer.lambda``. Routes take the caller from there and ask DynamoDB only when
there is none (the same app under uvicorn, or invoked some other way).

API Gateway cannot cache these answers: its cache needs identity sources, and it refuses, without
calling the authorizer, any request that lacks one of them - while a client sends only one of
the two headers. So the authorizer caches them itself, per key, for ``authorizer_cache_seconds``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from likeness.accounts.models import Caller
from likeness.errors import Unauthorized

MAX_CACHED_KEYS = 10_000


def presented_key(authorization: str | None, x_api_key: str | None) -> str:
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    raise Unauthorized(
        "an API key is required",
        fix="Send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
    )


def caller_context(caller: Caller) -> dict[str, str]:
    """The authorizer's context: flat strings, as API Gateway passes them on."""
    return {
        "account_id": caller.account_id,
        "plan": caller.plan,
        "key_id": caller.key_id,
        "scopes": " ".join(sorted(caller.scopes)),
        "demo": "true" if caller.demo else "false",
    }


def caller_from_event(event: Any) -> Caller | None:
    """The caller an authorizer let through, from an HTTP API (payload 2.0) event; None when
    the event carries no authorizer answer."""
    if not isinstance(event, Mapping):
        return None
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda")
    if not isinstance(context, Mapping) or not context.get("account_id") or not context.get("key_id"):
        return None
    return Caller(
        account_id=str(context["account_id"]),
        plan=str(context.get("plan") or "free"),
        key_id=str(context["key_id"]),
        scopes=frozenset(str(context.get("scopes") or "").split()),
        demo=str(context.get("demo")).lower() == "true",
    )


class KeyAuthorizer:
    """Decides a request from its headers; remembers each key's answer ``ttl_seconds``."""

    def __init__(
        self,
        *,
        authenticate: Callable[[str], Caller],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_CACHED_KEYS,
    ) -> None:
        self._authenticate = authenticate
        self._ttl = ttl_seconds
        self._clock = clock
        self._max_entries = max_entries
        # sha256(key) -> (valid until, the caller or None for a refused key)
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()
        self._lock = threading.Lock()

    def authorize(self, headers: Mapping[str, str]) -> Caller | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            key = presented_key(lowered.get("authorization"), lowered.get("x-api-key"))
        except Unauthorized:
            return None
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(digest)
                return cached[1]
        try:
            caller: Caller | None = self._authenticate(key)
        except Unauthorized:
            caller = None
        if self._ttl > 0:
            with self._lock:
                self._cache[digest] = (now + self._ttl, caller)
                self._cache.move_to_end(digest)
                while len(self._cache) > self._max_entries:
                    self._cache.popitem(last=False)
        return caller

    def respond(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The simple response to an HTTP API REQUEST authorizer event (payload 2.0)."""
        caller = self.authorize(event.get("headers") or {})
        if caller is None:
            return {"isAuthorized": False}
        return {"isAuthorized": True, "context": caller_context(caller)}
