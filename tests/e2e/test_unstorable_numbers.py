"""Numbers DynamoDB cannot store are refused at the edge with a 422 naming the field; nothing is
written, nothing is charged."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ApiUser
from tests.e2e.polling import credits_of
from tests.helpers import error_code

pytestmark = pytest.mark.e2e

TINY = "1e-320"  # a float, but below DynamoDB's smallest number
HUGE = "1" * 39  # an integer of 39 significant digits
BAD = (TINY, HUGE, "NaN", "Infinity", "-Infinity")


def post_raw(user: ApiUser, path: str, body: str, method: str = "POST") -> int:
    resp = user.client.request(
        method, path, content=body.encode(), headers={"content-type": "application/json"}
    )
    assert resp.status_code < 500, (path, body, resp.text)
    return resp.status_code


@pytest.mark.parametrize("number", BAD)
def test_characters_refuse_unstorable_numbers_in_profile_and_thresholds(alice: ApiUser, number: str) -> None:
    profile = f'{{"slug": "num-profile", "name": "N", "profile": {{"age": {number}}}}}'
    resp = alice.client.post("/v1/characters", content=profile, headers={"content-type": "application/json"})
    assert resp.status_code == 422 and "profile" in resp.text, resp.text
    body = (
        f'{{"slug": "num-thresholds", "name": "N", "behavioral_thresholds": {{"selfie_comfort": {number}}}}}'
    )
    assert post_raw(alice, "/v1/characters", body) == 422
    for slug in ("num-profile", "num-thresholds"):
        assert error_code(alice.client.get(f"/v1/characters/{slug}"), 404) == "character_not_found"


def test_a_patch_with_an_unstorable_number_changes_nothing(alice: ApiUser) -> None:
    created = alice.client.post("/v1/characters", json={"slug": "patch-num", "name": "P"})
    assert created.status_code == 201, created.text
    for number in BAD:
        assert (
            post_raw(alice, "/v1/characters/patch-num", f'{{"profile": {{"x": [1, {number}]}}}}', "PATCH")
            == 422
        )
        body = f'{{"behavioral_thresholds": {{"image_proactivity": {number}}}}}'
        assert post_raw(alice, "/v1/characters/patch-num", body, "PATCH") == 422
    versions = alice.client.get("/v1/characters/patch-num/versions").json()["data"]
    assert len(versions["versions"] if isinstance(versions, dict) else versions) == 1


@pytest.mark.parametrize("number", BAD)
def test_generation_feature_setting_and_avatar_hints_refuse_them(alice: ApiUser, number: str) -> None:
    before = credits_of(alice)
    body = f'{{"clothing_item_id": 1, "prompt": "p", "feature_setting": {{"strength": {number}}}}}'
    resp = alice.client.post(
        "/generation", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422 and "feature_setting" in resp.text, resp.text
    hints = f'{{"prompt": "p", "hints": {{"weight": {number}}}}}'
    resp = alice.client.post(
        "/api/v1/avatars/generate", content=hints.encode(), headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422 and "hints" in resp.text, resp.text
    assert credits_of(alice) == before
