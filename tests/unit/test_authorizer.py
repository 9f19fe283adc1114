"""The API key authorizer's rules: which requests it lets through, what it tells the route, and
that it asks for a key's record once per cache window."""

from __future__ import annotations

from likeness.accounts.models import Caller
from likeness.errors import Unauthorized
from likeness.http.authorizer import KeyAuthorizer, caller_context, caller_from_event

ALICE = Caller(account_id="acc_alice", plan="pro", key_id="key_1", scopes=frozenset({"identities:read"}))


class _Keys:
    """A stand-in for AccountService.authenticate that counts the lookups."""

    def __init__(self) -> None:
        self.known = {"lk_alice": ALICE}
        self.lookups: list[str] = []

    def authenticate(self, key: str) -> Caller:
        self.lookups.append(key)
        if key not in self.known:
            raise Unauthorized("invalid or revoked API key")
        return self.known[key]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _authorizer(keys: _Keys, clock: _Clock, ttl: float = 60) -> KeyAuthorizer:
    return KeyAuthorizer(authenticate=keys.authenticate, ttl_seconds=ttl, clock=clock)


def _event(**headers: str) -> dict[str, object]:
    return {"version": "2.0", "type": "REQUEST", "headers": headers}


def test_both_key_headers_are_authorized_and_the_caller_is_passed_on() -> None:
    authorizer = _authorizer(_Keys(), _Clock())
    for headers in ({"x-api-key": "lk_alice"}, {"authorization": "Bearer lk_alice"}):
        answer = authorizer.respond(_event(**headers))
        assert answer == {"isAuthorized": True, "context": caller_context(ALICE)}
        # what the route reads from requestContext.authorizer.lambda is the same caller
        event = {"requestContext": {"authorizer": {"lambda": answer["context"]}}}
        assert caller_from_event(event) == ALICE


def test_requests_without_a_valid_key_are_refused() -> None:
    authorizer = _authorizer(_Keys(), _Clock())
    for headers in ({}, {"authorization": "Basic abc"}, {"x-api-key": " "}, {"x-api-key": "lk_nope"}):
        assert authorizer.respond(_event(**headers)) == {"isAuthorized": False}, headers


def test_a_key_is_looked_up_once_per_cache_window() -> None:
    keys, clock = _Keys(), _Clock()
    authorizer = _authorizer(keys, clock, ttl=60)
    for _ in range(3):
        assert authorizer.respond(_event(**{"x-api-key": "lk_alice"}))["isAuthorized"] is True
        assert authorizer.respond(_event(**{"x-api-key": "lk_nope"}))["isAuthorized"] is False
    assert keys.lookups == ["lk_alice", "lk_nope"]

    # a revoked key is refused once its cached answer runs out
    del keys.known["lk_alice"]
    clock.now += 59
    assert authorizer.respond(_event(**{"authorization": "Bearer lk_alice"}))["isAuthorized"] is True
    clock.now += 2
    assert authorizer.respond(_event(**{"authorization": "Bearer lk_alice"}))["isAuthorized"] is False
    assert keys.lookups == ["lk_alice", "lk_nope", "lk_alice"]


def test_no_cache_window_asks_every_time() -> None:
    keys = _Keys()
    authorizer = _authorizer(keys, _Clock(), ttl=0)
    authorizer.respond(_event(**{"x-api-key": "lk_alice"}))
    authorizer.respond(_event(**{"x-api-key": "lk_alice"}))
    assert keys.lookups == ["lk_alice", "lk_alice"]


def test_an_event_without_an_authorizer_answer_names_no_caller() -> None:
    assert caller_from_event(None) is None
    assert caller_from_event({"requestContext": {}}) is None
    assert caller_from_event({"requestContext": {"authorizer": {"lambda": {"plan": "pro"}}}}) is None
