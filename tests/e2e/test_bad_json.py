"""Every route reads a JSON body the same way: anything that is not JSON is a 400, never a 500."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ApiUser

pytestmark = pytest.mark.e2e

DEEP = b"[" * 10_000 + b"]" * 10_000  # deeper than Python's recursion limit
HAND_PARSED = ("/clothing-item", "/api/v1/files", "/api/v1/files/uploads")


@pytest.mark.parametrize("path", HAND_PARSED)
def test_json_nested_too_deeply_is_a_400(alice: ApiUser, path: str) -> None:
    resp = alice.client.post(path, content=DEEP, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert (
        resp.json()["detail"]["code"] == "invalid_json"
        and "nested too deeply" in resp.json()["detail"]["message"]
    )


@pytest.mark.parametrize("path", HAND_PARSED)
def test_broken_json_is_a_400_naming_it(alice: ApiUser, path: str) -> None:
    resp = alice.client.post(path, content=b'{"a": ', headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["detail"]["code"] == "invalid_json"


def test_routes_with_a_body_model_answer_deep_json_with_a_4xx(alice: ApiUser) -> None:
    for path in ("/generation", "/api/v1/avatars/generate", "/v1/characters"):
        resp = alice.client.post(path, content=DEEP, headers={"content-type": "application/json"})
        assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text[:200])
