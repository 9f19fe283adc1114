"""The local gateway refuses bodies that API Gateway + Lambda could not carry, before the function
runs, with the API's error shape and a fix that names the upload route (likeness.http.limits)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, MutableMapping
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from infra.local.gateway import Gateway
from infra.local.template import HttpRoute
from likeness.http.limits import (
    EVENT_ENVELOPE_BYTES,
    LAMBDA_SYNC_PAYLOAD_BYTES,
    MAX_REQUEST_BODY_BYTES,
)

LIMIT = MAX_REQUEST_BODY_BYTES


def test_the_limit_is_the_largest_body_whose_base64_fits_a_lambda_invocation() -> None:
    def event_size(body_bytes: int) -> int:  # base64 of the body, plus the event around it
        return 4 * math.ceil(body_bytes / 3) + EVENT_ENVELOPE_BYTES

    assert LAMBDA_SYNC_PAYLOAD_BYTES == 6_291_456
    assert event_size(LIMIT) <= LAMBDA_SYNC_PAYLOAD_BYTES < event_size(LIMIT + 3)
    assert 4.4 < LIMIT / (1024 * 1024) < 4.5  # "about 4.4 MB", as the docs say


class _Recorder:
    """A function app that answers with the size of the body it received."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.calls.append(size)
        body = str(size).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def recorder() -> _Recorder:
    return _Recorder()


@pytest.fixture
def gateway(recorder: _Recorder) -> Gateway:
    routes = [
        HttpRoute("ANY", "/identity/{proxy+}", "IdentityFunction", "Proxy", "fake_identity.app.handler"),
        HttpRoute("ANY", "/api/v1/files", "MediaFunction", "Files", "fake_media.app.handler"),
    ]
    return Gateway(routes, importer=lambda name: SimpleNamespace(app=recorder))


def _post(gateway: Gateway, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.post(path, **kwargs)

    return asyncio.run(go())


def test_a_body_at_the_limit_reaches_the_function_whole(gateway: Gateway, recorder: _Recorder) -> None:
    resp = _post(gateway, "/identity/upload", content=b"x" * LIMIT)
    assert resp.status_code == 200 and resp.text == str(LIMIT)
    assert recorder.calls == [LIMIT]


def _assert_refused(resp: httpx.Response, fix_names: str) -> None:
    assert resp.status_code == 413, resp.text
    detail = resp.json()["detail"]
    assert set(detail) == {"code", "message", "fix"}
    assert detail["code"] == "payload_too_large"
    assert "4.45 MB" in detail["message"]
    assert fix_names in detail["fix"]


def test_a_declared_length_over_the_limit_is_413_and_the_function_never_runs(
    gateway: Gateway, recorder: _Recorder
) -> None:
    resp = _post(gateway, "/identity/upload", content=b"x" * (LIMIT + 1))
    _assert_refused(resp, "POST /uploads")
    assert "upload_id" in resp.json()["detail"]["fix"]
    assert recorder.calls == []


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(gateway: Gateway, recorder: _Recorder) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):  # 20 MiB offered, no Content-Length
            yield b"x" * (1024 * 1024)

    resp = _post(gateway, "/identity/upload", content=chunks())
    _assert_refused(resp, "POST /uploads")
    assert recorder.calls == []


def test_media_files_point_to_their_own_upload_route(gateway: Gateway, recorder: _Recorder) -> None:
    resp = _post(gateway, "/api/v1/files", content=b"x" * (LIMIT + 1))
    _assert_refused(resp, "POST /api/v1/files/uploads")
    assert recorder.calls == []
