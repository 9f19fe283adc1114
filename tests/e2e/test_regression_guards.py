"""Guards for rules whose breaking once left every other test green: each test here fails when
its rule is broken (the tenant check on probe reports, the webhook_url check at submit,
readiness with only a disabled check, a stale idempotency claim, the webhook endpoint cap)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser
from tests.e2e.polling import credits_of, wait_for_job
from tests.e2e.test_character_probes import make_character, open_session, run_probe
from tests.e2e.test_characters import DICT_ANCHORS, check, create, upload_identity, upload_wardrobe, visual
from tests.e2e.test_wardrobe_generations import clothing_item
from tests.helpers import data_url

pytestmark = pytest.mark.e2e


def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    detail: dict[str, Any] = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    return detail


# ---------------------------------------------------------------------------- probe reports
def test_another_accounts_probe_report_is_not_found_under_the_same_slug(
    make_user: Callable[..., ApiUser],
) -> None:
    author, other = make_user(credits=200), make_user(credits=200)
    slug = make_character(author)
    report = run_probe(author, slug, open_session(author, slug), "identity_selfie")
    probe_id = report["probe_id"]
    # slugs are per account: the other account has a character of the same slug
    resp = other.client.post("/v1/characters", json={"slug": slug, "name": "Someone else"})
    assert resp.status_code == 201, resp.text

    _error(other.client.get(f"/v1/characters/{slug}/image-probe/{probe_id}"), 404, "probe_not_found")
    listed = other.client.get(f"/v1/characters/{slug}/image-probe")
    assert listed.status_code == 200, listed.text
    assert probe_id not in [p["probe_id"] for p in listed.json()["data"]["probes"]]
    # its owner still reads it
    mine = author.client.get(f"/v1/characters/{slug}/image-probe/{probe_id}")
    assert mine.status_code == 200 and mine.json()["data"]["probe_id"] == probe_id


# ---------------------------------------------------------------------------- generation webhook_url
@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "ftp://example.com/hook", "http://user:pw@127.0.0.1/"]
)
def test_a_generation_with_a_forbidden_webhook_url_is_refused_at_submit(
    make_user: Callable[..., ApiUser], url: str
) -> None:
    stylist = make_user(credits=100)
    item = clothing_item(stylist, "dress_red.jpg", back=None)
    before = credits_of(stylist)
    resp = stylist.client.post(
        "/generation",
        json={"clothing_item_id": item, "prompt": "p", "resolution": "1K", "webhook_url": url},
    )
    detail = _error(resp, 400, "url_not_allowed")
    assert detail["fix"]
    # nothing was accepted, charged or queued
    assert credits_of(stylist) == before
    assert stylist.client.get("/generations").json()["data"] == []


# ---------------------------------------------------------------------------- readiness
def test_readiness_with_only_image_generation_disabled_is_ready_with_warnings(alice: ApiUser) -> None:
    slug = create(alice, profile={"identity_anchors": DICT_ANCHORS, "bio": "baker"})["slug"]
    upload_identity(alice, slug)
    wardrobe = upload_wardrobe(alice, slug)
    promoted = alice.client.patch(
        f"/v1/characters/{slug}/visual-assets/{wardrobe['asset_id']}", json={"asset_status": "active"}
    )
    assert promoted.status_code == 200, promoted.text

    shown = visual(alice, slug)
    assert {c["id"]: c["status"] for c in shown["checks"]} == {
        "identity_asset": "ok",
        "identity_anchors": "ok",
        "inventory_coverage": "ok",
        "image_generation": "disabled",
    }
    assert shown["status"] == "ready_with_warnings"
    assert check(shown, "image_generation")["fix"]

    launch = alice.client.get(f"/v1/characters/{slug}/readiness")
    assert launch.status_code == 200, launch.text
    data = launch.json()["data"]
    assert {c["id"] for c in data["checks"] if c["status"] != "ok"} == {"delivery", "image_generation"}
    assert {c["status"] for c in data["checks"] if c["status"] != "ok"} == {"disabled"}
    assert data["status"] == "ready_with_warnings"


# ---------------------------------------------------------------------------- idempotency
def test_a_stale_in_flight_idempotency_key_is_taken_over(alice: ApiUser) -> None:
    """A first request that claimed its key and then crashed must not block the key forever."""
    from likeness.avatars.models import AvatarGenerate
    from likeness.avatars.service import AvatarService
    from likeness.jobs.idempotency import IdempotencyStore
    from likeness.settings import get_settings
    from likeness.wiring import table

    key = str(uuid.uuid4())
    body = {"prompt": "taken over", "reference_images": [data_url("obama.jpg")]}
    settings = get_settings()
    # the claim of a request that started well over the in-flight window ago and never answered
    crashed = IdempotencyStore(
        table=table(),
        ttl_seconds=settings.idempotency_ttl_seconds,
        in_flight_seconds=settings.idempotency_in_flight_seconds,
        clock=lambda: time.time() - settings.idempotency_in_flight_seconds - 5,
    )
    crashed.begin(
        account_id=alice.account_id, key=key, fingerprint=AvatarService.fingerprint(AvatarGenerate(**body))
    )
    before = credits_of(alice)

    resp = alice.client.post("/api/v1/avatars/generate", json=body, headers={"Idempotency-Key": key})
    assert resp.status_code == 202, resp.text
    assert "idempotent-replayed" not in resp.headers
    job_id = resp.json()["job_id"]
    assert credits_of(alice) == before - get_settings().avatar_generation_credits
    # the key now answers with the new job
    again = alice.client.post("/api/v1/avatars/generate", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["job_id"] == job_id
    assert wait_for_job(alice, job_id)["status"] == "completed"


# ---------------------------------------------------------------------------- webhook endpoint cap
def test_an_account_has_at_most_20_webhook_endpoints(alice: ApiUser, bob: ApiUser) -> None:
    def create_endpoint(user: ApiUser) -> Any:
        return user.client.post(
            "/webhooks/endpoints", json={"url": f"http://127.0.0.1:9/{secrets.token_hex(4)}"}
        )

    made = []
    for _ in range(20):
        resp = create_endpoint(alice)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["endpoint_id"])

    detail = _error(create_endpoint(alice), 409, "endpoint_limit_reached")
    assert "20" in detail["message"] and detail["fix"]
    assert len(alice.client.get("/webhooks/endpoints").json()["data"]) == 20
    # the cap is per account
    assert create_endpoint(bob).status_code == 201

    # deleting one makes room for exactly one more
    assert alice.client.delete(f"/webhooks/endpoints/{made[0]}").status_code == 204
    assert create_endpoint(alice).status_code == 201
    _error(create_endpoint(alice), 409, "endpoint_limit_reached")
    assert len(alice.client.get("/webhooks/endpoints").json()["data"]) == 20
