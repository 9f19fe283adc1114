"""Each API app holds bodies to API Gateway + Lambda's ceiling by itself too (under uvicorn, with
no gateway in front), with the same 413 and fix as the local gateway."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from likeness.http.app import create_app
from likeness.http.limits import MAX_REQUEST_BODY_BYTES

router = APIRouter()


@router.post("/{path:path}")
async def size(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


def test_an_app_refuses_bodies_over_the_ceiling_with_the_upload_fix() -> None:
    client = TestClient(create_app(title="t", routers=[router]))
    assert client.post("/identity/upload", content=b"x" * MAX_REQUEST_BODY_BYTES).json() == {
        "size": MAX_REQUEST_BODY_BYTES
    }
    resp = client.post("/identity/upload", content=b"x" * (MAX_REQUEST_BODY_BYTES + 1))
    assert resp.status_code == 413
    detail = resp.json()["detail"]
    assert detail["code"] == "payload_too_large" and "4.45 MB" in detail["message"]
    assert "POST /uploads" in detail["fix"]


def test_a_bigger_limit_asked_of_an_app_is_capped_at_the_ceiling() -> None:
    client = TestClient(create_app(title="t", routers=[router], max_body_bytes=32 * 1024 * 1024))
    resp = client.post("/api/v1/files", content=b"x" * (MAX_REQUEST_BODY_BYTES + 1))
    assert resp.status_code == 413
    assert "POST /api/v1/files/uploads" in resp.json()["detail"]["fix"]


def test_a_routes_own_smaller_limit_names_no_upload_route() -> None:
    client = TestClient(create_app(title="t", routers=[router], max_body_bytes=64 * 1024))
    resp = client.post("/webhooks", content=b"x" * (64 * 1024 + 1))
    assert resp.status_code == 413
    detail = resp.json()["detail"]
    assert "64 KB" in detail["message"] and "uploads" not in detail["fix"]
