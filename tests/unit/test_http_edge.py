"""The HTTP edge: typed errors become the standard error shape; keys come from either header."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, File, UploadFile
from fastapi.testclient import TestClient

from likeness.errors import Conflict, FaceRejected, NotFound, ServiceBusy, Unauthorized, WriteConflict
from likeness.http.app import create_app
from likeness.http.auth import presented_key

router = APIRouter()


@router.get("/conflict")
def conflict() -> None:
    raise Conflict("that name is taken", code="identity_name_taken", fix="pick another")


@router.get("/face")
def face() -> None:
    raise FaceRejected("2 faces found", extra={"face_count": 2})


@router.get("/missing")
def missing() -> None:
    raise NotFound("nothing here")


@router.get("/collided")
def collided() -> None:
    raise WriteConflict()


@router.get("/busy")
def busy() -> None:
    raise ServiceBusy()


@router.get("/boom")
def boom() -> None:
    raise RuntimeError("secret internals")


@router.post("/upload")
async def upload(file: UploadFile = File(...)) -> dict[str, int]:
    return {"size": len(await file.read())}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(
        create_app(title="t", routers=[router], max_body_bytes=10_000), raise_server_exceptions=False
    )


def test_typed_errors_map_to_status_and_shape(client: TestClient) -> None:
    resp = client.get("/conflict")
    assert resp.status_code == 409
    assert resp.json() == {
        "detail": {"code": "identity_name_taken", "message": "that name is taken", "fix": "pick another"}
    }
    resp = client.get("/face")
    assert resp.status_code == 422
    assert resp.json()["detail"] == {"code": "face_rejected", "message": "2 faces found", "face_count": 2}
    missing = client.get("/missing")
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "not_found"


def test_a_write_collision_is_409_and_throttling_503_with_retry_after(client: TestClient) -> None:
    resp = client.get("/collided")
    assert resp.status_code == 409
    assert resp.json()["detail"]["code"] == "write_conflict" and resp.json()["detail"]["fix"]
    assert "retry-after" not in resp.headers
    resp = client.get("/busy")
    assert resp.status_code == 503
    assert resp.json()["detail"]["code"] == "service_busy"
    assert int(resp.headers["retry-after"]) == ServiceBusy.retry_after


def test_unexpected_errors_do_not_leak_internals(client: TestClient) -> None:
    resp = client.get("/boom")
    assert resp.status_code == 500
    assert resp.json()["detail"]["code"] == "internal_error"
    assert "secret" not in resp.text


def test_unknown_routes_use_the_same_shape(client: TestClient) -> None:
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.json()["detail"]["code"] == "not_found"


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/missing", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/missing").headers["x-request-id"]) >= 16


def test_bodies_over_the_limit_are_413_before_parsing(client: TestClient) -> None:
    assert client.post("/upload", files={"file": ("a.bin", b"x" * 100)}).json() == {"size": 100}
    resp = client.post("/upload", files={"file": ("a.bin", b"x" * 20_000)})
    assert resp.status_code == 413
    assert resp.json()["detail"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "expected"),
    [
        ("Bearer lk_abc", None, "lk_abc"),
        ("bearer  lk_abc ", None, "lk_abc"),
        (None, "lk_xyz", "lk_xyz"),
        ("Bearer lk_abc", "lk_xyz", "lk_xyz"),
    ],
)
def test_presented_key_reads_both_headers(
    authorization: str | None, x_api_key: str | None, expected: str
) -> None:
    assert presented_key(authorization, x_api_key) == expected


@pytest.mark.parametrize(
    ("authorization", "x_api_key"), [(None, None), ("Basic Zm9vOmJhcg==", None), ("Bearer ", "")]
)
def test_missing_or_malformed_credentials_are_unauthorized(
    authorization: str | None, x_api_key: str | None
) -> None:
    with pytest.raises(Unauthorized):
        presented_key(authorization, x_api_key)
