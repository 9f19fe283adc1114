"""Polling helpers for job-based routes, as a client would poll them."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import ApiUser, wait_for_status

TERMINAL = ("completed", "failed", "cancelled")


def wait_for_job(user: ApiUser, job_id: str, *, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = user.client.get(f"/api/v1/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in TERMINAL:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout}s")
        time.sleep(0.2)


def credits_of(user: ApiUser) -> int:
    from likeness.wiring import account_service

    return account_service().get_account(user.account_id).credits


def add_library_faces(admin: ApiUser, fixtures: tuple[str, ...]) -> list[str]:
    """Default identities (the reference library), preprocessed; returns their codes."""
    codes = []
    for fixture in fixtures:
        resp = admin.upload_fixture(fixture, visibility="default")
        assert resp.status_code == 201, resp.text
        codes.append(resp.json()["identity_code"])
    for code in codes:
        assert wait_for_status(admin, code)["preprocessing_status"] == "completed"
    return codes
