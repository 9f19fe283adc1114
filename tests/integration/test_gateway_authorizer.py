"""The API key authorizer in front of every route: the local gateway runs it as API Gateway does
(a refused call never loads or starts the route's function), the real authorizer caches its
answers, and a route takes the caller from the authorizer's answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from infra.local.gateway import Gateway
from infra.local.template import Template
from likeness.accounts.models import Caller
from likeness.errors import Unauthorized
from likeness.http.authorizer import KeyAuthorizer

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALICE = Caller(account_id="acc_alice", plan="pro", key_id="key_1", scopes=frozenset({"identities:read"}))


def _api(identity_headers: list[str] | None = None) -> dict[str, Any]:
    authorizer: dict[str, Any] = {
        "FunctionArn": {"Fn::GetAtt": ["KeysFunction", "Arn"]},
        "AuthorizerPayloadFormatVersion": "2.0",
        "EnableSimpleResponses": True,
    }
    if identity_headers:
        authorizer["Identity"] = {"Headers": identity_headers}
    return {
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {"Auth": {"DefaultAuthorizer": "Keys", "Authorizers": {"Keys": authorizer}}},
            },
            "KeysFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "guarded/", "Handler": "keys.handler"},
            },
            "ThingsFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "PackageType": "Image",
                    "ImageConfig": {"Command": ["guarded.things.handler"]},
                    "Events": {
                        "Things": {
                            "Type": "HttpApi",
                            "Properties": {"ApiId": {"Ref": "Api"}, "Path": "/things", "Method": "ANY"},
                        },
                        "Open": {
                            "Type": "HttpApi",
                            "Properties": {
                                "ApiId": {"Ref": "Api"},
                                "Path": "/open",
                                "Method": "GET",
                                "Auth": {"Authorizer": "NONE"},
                            },
                        },
                    },
                },
            },
        }
    }


class _Functions:
    """The importer the gateway loads functions through: what was loaded, and what ran."""

    def __init__(self, *, fail: bool = False) -> None:
        self.imported: list[str] = []
        self.route_calls: list[dict[str, Any]] = []
        self.authorizer_events: list[dict[str, Any]] = []
        authorizer = KeyAuthorizer(authenticate=self._authenticate, ttl_seconds=60)

        def keys_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.authorizer_events.append(event)
            if fail:
                raise RuntimeError("the authorizer crashed")
            return authorizer.respond(event)

        async def things_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            self.route_calls.append(scope["aws.event"])
            body = json.dumps(scope["aws.event"]["requestContext"].get("authorizer")).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

        self.modules = {
            "guarded.keys": SimpleNamespace(handler=keys_handler),
            "guarded.things": SimpleNamespace(app=things_app),
        }

    @staticmethod
    def _authenticate(key: str) -> Caller:
        if key != "lk_alice":
            raise Unauthorized("invalid or revoked API key")
        return ALICE

    def __call__(self, name: str) -> Any:
        self.imported.append(name)
        return self.modules[name]


def _serve(gateway: Gateway, *requests: tuple[str, str, dict[str, str]]) -> list[httpx.Response]:
    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [await client.request(m, path, headers=h) for m, path, h in requests]

    # a loop of its own: asyncio.run would leave this thread without a current loop, which
    # Mangum (the Lambda handlers later tests call) asks for
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def _gateway(functions: _Functions, **api: Any) -> Gateway:
    return Gateway.from_template(Template(_api(**api), parameters={}), importer=functions)


def test_a_refused_call_never_loads_or_starts_the_route_function() -> None:
    functions = _Functions()
    refused = _serve(
        _gateway(functions),
        ("GET", "/things", {}),
        ("POST", "/things", {"x-api-key": "lk_nope"}),
        ("GET", "/things", {"authorization": "Basic abc"}),
    )
    assert [(r.status_code, r.json()) for r in refused] == [(403, {"message": "Forbidden"})] * 3
    assert functions.route_calls == [] and "guarded.things" not in functions.imported
    assert len(functions.authorizer_events) == 3
    assert functions.authorizer_events[0]["type"] == "REQUEST"
    assert functions.authorizer_events[0]["routeKey"] == "ANY /things"


def test_an_authorized_call_reaches_the_function_with_the_caller() -> None:
    functions = _Functions()
    gateway = _gateway(functions)
    both = _serve(
        gateway,
        ("GET", "/things", {"x-api-key": "lk_alice"}),
        ("GET", "/things", {"authorization": "Bearer lk_alice"}),
    )
    for response in both:
        assert response.status_code == 200
        assert response.json()["lambda"]["account_id"] == "acc_alice"
        assert response.json()["lambda"]["scopes"] == "identities:read"
    assert len(functions.route_calls) == 2


def test_a_route_without_authorizer_and_a_failing_authorizer() -> None:
    functions = _Functions(fail=True)
    gateway = _gateway(functions)
    opened, failed = _serve(gateway, ("GET", "/open", {}), ("GET", "/things", {"x-api-key": "lk_alice"}))
    assert opened.status_code == 200 and opened.json() is None  # Auth: NONE: no authorizer ran
    assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
    assert len(functions.route_calls) == 1


def test_a_missing_identity_source_is_401_without_calling_the_authorizer() -> None:
    functions = _Functions()
    gateway = _gateway(functions, identity_headers=["Authorization"])
    missing, present = _serve(
        gateway,
        ("GET", "/things", {"x-api-key": "lk_alice"}),
        ("GET", "/things", {"authorization": "Bearer x"}),
    )
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    assert present.status_code == 403
    assert len(functions.authorizer_events) == 1
    assert functions.authorizer_events[0]["identitySource"] == ["Bearer x"]


def test_every_route_of_the_real_template_is_behind_the_api_key_authorizer() -> None:
    routes = Template.load().http_routes()
    assert routes
    for route in routes:
        assert route.authorizer is not None, route
        assert route.authorizer.function_logical_id == "ApiKeyAuthorizerFunction"
        assert route.authorizer.entrypoint == "functions.authorizer.app.handler"
        assert route.authorizer.simple_responses and route.authorizer.identity_headers == ()


# ---------------------------------------------------------------------------- the real functions


class _Context:
    function_name = "ApiKeyAuthorizerFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ApiKeyAuthorizerFunction"
    memory_limit_in_mb = 256
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/ApiKeyAuthorizerFunction"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def _authorizer_event(**headers: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "authorizer_request_httpapi.json").read_text())
    event["headers"] = {"host": "api.likeness.example", **headers}
    return event


@pytest.fixture
def key(aws: dict[str, str]) -> tuple[str, str, str]:
    from functions.authorizer import app as authorizer_app
    from likeness.wiring import account_service

    authorizer_app._authorizer.cache_clear()  # a cold start
    accounts = account_service()
    account = accounts.create_account(name="authorized", plan="pro")
    issued = accounts.issue_key(account_id=account.account_id, scopes=("identities:read",))
    return account.account_id, issued.key_id, issued.api_key


def test_the_authorizer_function_answers_from_its_cache_until_a_cold_start(key: tuple[str, str, str]) -> None:
    from functions.authorizer.app import _authorizer, handler
    from likeness.wiring import account_service

    account_id, key_id, api_key = key
    answer = handler(_authorizer_event(**{"x-api-key": api_key}), _Context())
    assert answer["isAuthorized"] is True
    assert answer["context"]["account_id"] == account_id and answer["context"]["key_id"] == key_id
    assert handler(_authorizer_event(), _Context()) == {"isAuthorized": False}
    refused = handler(_authorizer_event(authorization="Bearer lk_nope"), _Context())
    assert refused == {"isAuthorized": False}

    account_service().revoke_key(account_id=account_id, key_id=key_id)
    # within the cache window (AuthorizerCacheSeconds) the answer stands: no DynamoDB read
    assert handler(_authorizer_event(authorization=f"Bearer {api_key}"), _Context())["isAuthorized"] is True
    _authorizer.cache_clear()
    assert handler(_authorizer_event(authorization=f"Bearer {api_key}"), _Context()) == {
        "isAuthorized": False
    }


def test_a_route_takes_the_caller_from_the_authorizer(key: tuple[str, str, str]) -> None:
    from functions.authorizer.app import handler as authorize
    from functions.webhook_api.app import handler

    _, _, api_key = key
    event: dict[str, Any] = json.loads((EVENTS / "identity_list_httpapi.json").read_text())
    event.update(rawPath="/webhooks/endpoints", rawQueryString="", routeKey="ANY /webhooks/{proxy+}")
    event.pop("queryStringParameters")
    event["requestContext"]["http"]["path"] = "/webhooks/endpoints"
    del event["headers"]["authorization"]

    # no key and no authorizer answer: the app itself refuses, with its own error
    denied = handler(event, _Context())
    assert denied["statusCode"] == 401 and json.loads(denied["body"])["detail"]["code"] == "unauthorized"

    answer = authorize(_authorizer_event(**{"x-api-key": api_key}), _Context())
    event["requestContext"]["authorizer"] = {"lambda": answer["context"]}
    listed = handler(event, _Context())
    assert listed["statusCode"] == 200, listed["body"]
    assert json.loads(listed["body"]) == {"data": []}
