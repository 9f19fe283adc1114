"""Identity drafts over HTTP: POST /identity/create, GET /identity/create/{job_id}, promotion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser, wait_for_status
from tests.e2e.polling import credits_of
from tests.helpers import data_url, error_code

DRAFT_PRICE = 10
PROMOTION_PRICE = 50


def _identity_count(user: ApiUser) -> int:
    from likeness.wiring import account_service

    return account_service().get_account(user.account_id).identity_count


def wait_for_drafts(user: ApiUser, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = user.client.get(f"/identity/create/{job_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        assert time.monotonic() < deadline, f"drafts {job_id} still {body['status']}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def drafted(make_user: Callable[..., ApiUser]) -> tuple[ApiUser, dict[str, Any]]:
    """A user whose draft job (a reference image blended with one of their identities) finished."""
    user = make_user(plan="free", credits=200)
    uploaded = user.upload_fixture("rose_leslie_img1.jpg", name="Rose")
    assert uploaded.status_code == 201, uploaded.text
    code = uploaded.json()["identity_code"]
    assert wait_for_status(user, code)["preprocessing_status"] == "completed"
    identities_before = _identity_count(user)
    credits_before = credits_of(user)

    resp = user.client.post(
        "/identity/create",
        json={
            "instructions": [
                {"attribute": "background", "value": "#20304a"},
                {"attribute": "age", "value": "around 35"},
            ],
            "prompt": "a confident brand ambassador",
            "num_drafts": 3,
            "reference_image": data_url("obama.jpg"),
            "identity_codes": [code],
            "output": {"size": 512},
        },
    )
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    assert accepted["type"] == "identity_creation" and accepted["status"] == "queued"
    assert accepted["num_drafts"] == 3 and accepted["cost"] == 3 * DRAFT_PRICE
    assert resp.headers["location"] == f"/identity/create/{accepted['job_id']}"
    # drafts cost credits and no identity slot
    assert credits_of(user) == credits_before - 3 * DRAFT_PRICE
    batch = wait_for_drafts(user, accepted["job_id"])
    assert _identity_count(user) == identities_before
    return user, batch


def test_drafts_are_distinct_judged_images(drafted: tuple[ApiUser, dict[str, Any]]) -> None:
    _, batch = drafted
    assert batch["status"] == "completed", batch
    drafts = batch["drafts"]
    assert len(drafts) == 3 and len({d["image_result_id"] for d in drafts}) == 3
    weights = [tuple(d["details"]["weights"]) for d in drafts]
    assert len(set(weights)) == 3  # each draft blends the faces differently
    for draft in drafts:
        assert draft["consistency"]["mode"] == "new_person" and draft["consistency"]["faces_found"] == 1
        assert draft["details"]["sources"][0] == "the reference image"
        assert draft["details"]["unapplied_instructions"] == [{"attribute": "age", "value": "around 35"}]
        resp = httpx.get(draft["image_url"], timeout=30)
        assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
        assert max(draft["width"], draft["height"]) == 512


def test_promoting_a_draft_makes_a_preprocessed_identity(
    drafted: tuple[ApiUser, dict[str, Any]], bob: ApiUser
) -> None:
    user, batch = drafted
    draft_id = batch["drafts"][0]["image_result_id"]
    before_credits, before_slots = credits_of(user), _identity_count(user)

    # someone else's draft is not found, and nothing is charged for trying
    stolen = bob.client.post(
        "/identity/promote-generated", json={"image_result_id": draft_id, "name": "Stolen"}
    )
    assert error_code(stolen, 404) == "image_result_not_found"

    resp = user.client.post(
        "/identity/promote-generated", json={"image_result_id": draft_id, "name": "Ambassador"}
    )
    assert resp.status_code == 201, resp.text
    identity = resp.json()
    assert identity["source"] == "generated" and identity["name"] == "Ambassador"
    assert identity["preprocessing_status"] == "pending"
    assert credits_of(user) == before_credits - PROMOTION_PRICE
    assert _identity_count(user) == before_slots + 1
    status = wait_for_status(user, identity["identity_code"])
    assert status["preprocessing_status"] == "completed", status

    # the same name again is a conflict, and changes nothing
    again = user.client.post(
        "/identity/promote-generated",
        json={"image_result_id": batch["drafts"][1]["image_result_id"], "name": "ambassador"},
    )
    assert again.status_code == 409 and again.json()["detail"]["code"] == "identity_name_taken"
    assert credits_of(user) == before_credits - PROMOTION_PRICE


def test_promotion_respects_credits_and_slots(drafted: tuple[ApiUser, dict[str, Any]]) -> None:
    from likeness.wiring import account_service

    user, batch = drafted
    accounts = account_service()
    draft_id = batch["drafts"][2]["image_result_id"]

    balance = credits_of(user)
    accounts.charge_credits(account_id=user.account_id, amount=balance - 10)
    short = user.client.post(
        "/identity/promote-generated", json={"image_result_id": draft_id, "name": "Short"}
    )
    assert short.status_code == 402 and short.json()["detail"]["code"] == "insufficient_credits"
    assert credits_of(user) == 10

    accounts.add_credits(account_id=user.account_id, amount=500)
    # the free plan has 3 slots: fill them, then promotion is refused like an upload
    while _identity_count(user) < 3:
        assert user.upload_fixture("obama2.jpg").status_code == 201
    full = user.client.post("/identity/promote-generated", json={"image_result_id": draft_id, "name": "Full"})
    assert full.status_code == 403 and full.json()["detail"]["code"] == "identity_slots_exhausted"
    assert credits_of(user) == 510


def test_unknown_or_wrong_results_and_bad_briefs(alice: ApiUser) -> None:
    missing = alice.client.post("/identity/promote-generated", json={"image_result_id": "nope", "name": "X"})
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "image_result_not_found"
    assert alice.client.post("/identity/create", json={"num_drafts": 2}).status_code == 422
    assert alice.client.post("/identity/create", json={"prompt": "p", "num_drafts": 9}).status_code == 422
    unknown = alice.client.post("/identity/create", json={"prompt": "p", "identity_codes": ["idn_missing"]})
    assert error_code(unknown, 404) == "not_found"
    no_job = alice.client.get("/identity/create/00000000-0000-4000-8000-000000000000")
    assert error_code(no_job, 404) == "job_not_found"


def test_avatar_results_cannot_be_promoted(alice: ApiUser) -> None:
    from tests.e2e.polling import wait_for_job

    resp = alice.client.post(
        "/api/v1/avatars/generate", json={"prompt": "p", "reference_images": [data_url("obama.jpg")]}
    )
    job = wait_for_job(alice, resp.json()["job_id"])
    result_id = job["data"]["avatar"]["result_id"]
    promoted = alice.client.post(
        "/identity/promote-generated", json={"image_result_id": result_id, "name": "Av"}
    )
    assert promoted.status_code == 409 and promoted.json()["detail"]["code"] == "not_an_identity_draft"
