"""Fixtures for tests that drive the local stack over HTTP."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.helpers import FACES, GARMENTS, face_bytes


@dataclass
class ApiUser:
    account_id: str
    api_key: str
    client: httpx.Client

    def upload(
        self,
        filename: str,
        data: bytes,
        *,
        name: str | None = None,
        visibility: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> httpx.Response:
        form = {"name": name or f"person-{secrets.token_hex(4)}"}
        if visibility:
            form["visibility"] = visibility
        return self.client.post("/identity/upload", data=form, files={"file": (filename, data, content_type)})

    def upload_fixture(self, fixture: str, **kwargs: Any) -> httpx.Response:
        return self.upload(fixture, face_bytes(fixture), **kwargs)


@pytest.fixture(scope="session")
def api_url(local_stack: Any) -> str:
    return str(local_stack.info.api_url)


@pytest.fixture(scope="session")
def make_user(api_url: str) -> Iterator[Callable[..., ApiUser]]:
    from likeness.wiring import account_service

    clients: list[httpx.Client] = []

    def _make(
        *,
        plan: str = "pro",
        scopes: tuple[str, ...] = ("identities:read", "identities:write"),
        credits: int = 100,
    ) -> ApiUser:
        accounts = account_service()
        account = accounts.create_account(name=f"test-{secrets.token_hex(3)}", plan=plan, credits=credits)
        issued = accounts.issue_key(account_id=account.account_id, scopes=scopes)
        client = httpx.Client(base_url=api_url, headers={"X-API-Key": issued.api_key}, timeout=60)
        clients.append(client)
        return ApiUser(account_id=account.account_id, api_key=issued.api_key, client=client)

    yield _make
    for client in clients:
        client.close()


@pytest.fixture
def alice(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user()


@pytest.fixture
def bob(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user()


def wait_for_status(user: ApiUser, code: str, *, timeout: float = 90.0) -> dict[str, Any]:
    """Poll the status route as a client would, until preprocessing is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        resp = user.client.get(f"/identity/{code}/status")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["preprocessing_status"] in ("completed", "failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(
                f"preprocessing of {code} still {body['preprocessing_status']} after {timeout}s"
            )
        time.sleep(0.2)


def bucket_keys(prefix: str = "") -> list[str]:
    from likeness.wiring import blob_store

    return blob_store().list_keys(prefix)


_stack: list[Any] = []  # the session's local stack, for bus_events() to drain


def bus_events(account_id: str | None = None) -> list[dict[str, Any]]:
    """The EventBridge envelopes the bus rule routed to webhook delivery so far, oldest first.

    Read from the event log the delivery consumer keeps (it consumes the webhook queue), after
    every consumer queue has drained; ``account_id`` limits them to one account.
    """
    import json

    from likeness.aws.clients import get_client
    from likeness.settings import get_settings
    from likeness.webhooks.store import event_log_pk

    if _stack:
        _stack[0].consumers.drain(timeout=120)
    dynamodb = get_client("dynamodb")
    table_name = get_settings().table_name
    if account_id is not None:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table_name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": event_log_pk(account_id)}},
        )
    else:
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table_name,
            FilterExpression="begins_with(PK, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": event_log_pk("")}},
        )
    events = [json.loads(item["envelope"]["S"]) for page in pages for item in page.get("Items", [])]
    return sorted(events, key=lambda e: e["detail"].get("occurred_at", ""))


@pytest.fixture(autouse=True)
def _settled(local_stack: Any) -> None:
    """Start each test with empty queues, so work left by the last one cannot race its checks."""
    if not _stack:
        _stack.append(local_stack)
    local_stack.consumers.drain(timeout=120)


@pytest.fixture(scope="session")
def image_server() -> Iterator[str]:
    """Serves the fixture photos over loopback, as a customer's CDN would."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            name = self.path.rsplit("/", 1)[-1]
            path = FACES / name if (FACES / name).is_file() else GARMENTS / name
            if not path.is_file():
                self.send_response(404)
                self.end_headers()
                return
            data = path.read_bytes()
            kind = {".png": "image/png", ".webp": "image/webp"}.get(path.suffix, "image/jpeg")
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def stack_settings() -> Iterator[Callable[..., None]]:
    """Change the running stack's settings for one test: ``stack_settings(LIKENESS_X="...")``.

    The stack runs in this process and reads its settings per request and per job, so the
    change applies at once; everything is put back after the test."""
    import os

    from likeness.settings import get_settings

    saved: dict[str, str | None] = {}

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        get_settings.cache_clear()

    yield apply
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


@pytest.fixture
def paused_consumers(local_stack: Any) -> Iterator[Callable[[], None]]:
    """The queue consumers stopped, as if every worker were busy: what a test submits stays
    queued (a job queued, an identity pending) until it calls the yielded ``resume()``."""
    consumers = local_stack.consumers
    consumers.stop()
    running = False

    def resume() -> None:
        nonlocal running
        if not running:
            consumers.start()
            running = True

    yield resume
    resume()
