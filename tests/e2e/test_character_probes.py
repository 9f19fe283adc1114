"""Image probes and inventory batches over HTTP, in the spec's end-to-end order: identity upload,
anchors as a dict, thresholds, then probes (passing, forced to fail, continuity) and batches."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser
from tests.e2e.polling import credits_of
from tests.helpers import error_code, face_bytes

pytestmark = pytest.mark.e2e

ANCHORS = {
    "visual_summary": "man in his late forties, short dark hair, warm smile",
    "hair": "short, dark, greying at the temples",
    "style_constants": ["dark suit", "white shirt"],
    "avoid_visual_changes": ["no drastic hair color changes", "no heavy makeup", "no new scars"],
}
THRESHOLDS = {"image_proactivity": 0.5, "selfie_comfort": 0.5, "daily_image_cap": 5}


def make_character(
    user: ApiUser, *, identity: str | None = "obama.jpg", anchors: Any = ANCHORS, thresholds: Any = THRESHOLDS
) -> str:
    slug = f"char-{secrets.token_hex(4)}"
    resp = user.client.post(
        "/v1/characters",
        json={
            "slug": slug,
            "name": "Barack",
            "profile": {"identity_anchors": anchors},
            "behavioral_thresholds": thresholds,
        },
    )
    assert resp.status_code == 201, resp.text
    if identity:
        upload = user.client.post(
            f"/v1/characters/{slug}/visual-assets",
            data={"category": "identity", "asset_key": "identity-front", "label": "front portrait"},
            files={"file": (identity, face_bytes(identity))},
        )
        assert upload.status_code in (200, 201), upload.text
    return slug


def open_session(user: ApiUser, slug: str) -> str:
    resp = user.client.post(f"/v1/characters/{slug}/sessions")
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["data"]["session_id"])


def probe(user: ApiUser, slug: str, session_id: str, probe_type: str) -> httpx.Response:
    return user.client.post(
        f"/v1/characters/{slug}/image-probe", json={"probe_type": probe_type, "session_id": session_id}
    )


def wait_for_report(user: ApiUser, slug: str, probe_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = user.client.get(f"/v1/characters/{slug}/image-probe/{probe_id}")
        assert resp.status_code == 200, resp.text
        report: dict[str, Any] = resp.json()["data"]
        if report["state"] in ("ready", "failed", "blocked"):
            return report
        assert time.monotonic() < deadline, f"probe {probe_id} still {report['state']}"
        time.sleep(0.2)


def run_probe(user: ApiUser, slug: str, session_id: str, probe_type: str) -> dict[str, Any]:
    resp = probe(user, slug, session_id, probe_type)
    assert resp.status_code == 202, resp.text
    return wait_for_report(user, slug, resp.json()["data"]["probe_id"])


@pytest.fixture
def author(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user(credits=200)


def test_identity_selfie_probe_passes_and_lands_on_the_session_log(author: ApiUser) -> None:
    slug = make_character(author)
    session_id = open_session(author, slug)
    resp = probe(author, slug, session_id, "identity_selfie")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["schema_version"] == "v0"
    data = body["data"]
    assert data["probe_type"] == "identity_selfie" and data["image_kind"] == "selfie"
    assert (
        data["decision"] == "send_image" and data["deliverable"] is True and data["session_id"] == session_id
    )
    assert [a["command"] for a in body["next_actions"]] == [
        f"GET /v1/characters/{slug}/image-probe/{data['probe_id']}",
        f"GET /v1/sessions/{session_id}/events?since=0",
    ]

    report = wait_for_report(author, slug, data["probe_id"])
    expected = {
        "probe_id", "session_id", "probe_type", "image_kind", "request_status", "state", "image_url",
        "servable", "summary", "assets_sent", "consistency", "failure_reason", "promotion_eligible",
        "continuity_dependent", "created_at", "completed_at",
    }  # fmt: skip
    assert expected <= set(report)
    assert (
        report["state"] == "ready" and report["request_status"] == "succeeded" and report["servable"] is True
    )
    # the classical engine's selfie re-frames the upload: on-identity, but a near copy of it, and
    # a near copy is never promotable (tests/e2e/test_hosted_generation.py has the eligible case)
    assert report["consistency"]["status"] == "passed" and report["consistency"]["near_copy"] is True
    assert report["promotion_eligible"] is False
    assert report["continuity_dependent"] is False and report["failure_reason"] is None
    assert "near copy of the uploaded identity image" in report["summary"]
    assert httpx.get(report["image_url"], timeout=30).status_code == 200
    assert len(report["assets_sent"]) == 1

    events = author.client.get(f"/v1/sessions/{session_id}/events", params={"since": 0}).json()["data"]
    ready = [
        e for e in (events["events"] if isinstance(events, dict) else events) if e["type"] == "image.ready"
    ]
    assert [e["data"]["probe_id"] for e in ready] == [data["probe_id"]]


def test_a_different_face_forced_into_the_identity_fails_the_verdict(author: ApiUser) -> None:
    from likeness.wiring import asset_service, blob_store

    slug = make_character(author)
    session_id = open_session(author, slug)
    [identity] = asset_service().active_assets(account_id=author.account_id, slug=slug, category="identity")
    # the stored photo is swapped for another person's; the embedding taken at upload stays
    blob_store().put(identity["key"], face_bytes("biden.jpg"), content_type="image/jpeg")
    # enforce (the default): every attempt shows someone else, so the probe fails, refunded
    before = credits_of(author)
    enforced = run_probe(author, slug, session_id, "identity_selfie")
    assert enforced["state"] == "failed" and enforced["servable"] is False
    assert "did not show the identity in 3 attempts" in enforced["failure_reason"]
    assert credits_of(author) == before
    # report: the image is viewable with its failed verdict, but never promoted nor delivered
    resp = author.client.post(
        f"/v1/characters/{slug}/image-probe",
        json={"probe_type": "identity_selfie", "session_id": session_id, "identity_check": "report"},
    )
    assert resp.status_code == 202, resp.text
    report = wait_for_report(author, slug, resp.json()["data"]["probe_id"])
    assert report["state"] == "ready" and report["servable"] is True
    assert report["consistency"]["status"] == "failed", report["consistency"]
    assert report["promotion_eligible"] is False
    assert "not promotable" in report["summary"]
    events = author.client.get(f"/v1/sessions/{session_id}/events", params={"since": 0}).json()["data"]
    listed = events["events"] if isinstance(events, dict) else events
    assert not [e for e in listed if e["type"] == "image.ready"]


def test_continuity_probes_with_and_without_a_previous_image(author: ApiUser) -> None:
    slug = make_character(author)
    fresh = open_session(author, slug)
    alone = run_probe(author, slug, fresh, "same_scene_followup")
    assert alone["continuity_dependent"] is True and alone["state"] == "ready"
    assert alone["consistency"]["continuity_relation"] == "new_episode"
    assert alone["consistency"]["parent_bitmap_available"] is False

    session_id = open_session(author, slug)
    run_probe(author, slug, session_id, "identity_selfie")
    followed = run_probe(author, slug, session_id, "accessory_carry_forward")
    assert followed["consistency"]["parent_bitmap_available"] is True
    assert followed["consistency"]["continuity_relation"] == "carried_forward"
    assert followed["consistency"]["status"] == "passed" and len(followed["assets_sent"]) == 2
    scene = run_probe(author, slug, session_id, "same_scene_followup")
    assert scene["consistency"]["continuity_relation"] == "same_scene"
    assert scene["consistency"]["parent_bitmap_available"] is True


def test_what_the_engine_cannot_draw_fails_with_the_reason(author: ApiUser) -> None:
    slug = make_character(author)
    session_id = open_session(author, slug)
    before = author.client.get("/v1/characters/" + slug + "/image-probe").json()["data"]
    assert "prop_usage" in before["probe_types"]
    prop = run_probe(author, slug, session_id, "prop_usage")
    assert prop["state"] == "failed" and prop["servable"] is False and prop["image_url"] is None
    assert "cannot draw" in prop["failure_reason"] and prop["promotion_eligible"] is False
    body = run_probe(author, slug, session_id, "full_body_identity")
    assert body["state"] == "failed" and "full-body identity image" in body["failure_reason"]
    check = run_probe(author, slug, session_id, "forbidden_visual_check")
    assert check["state"] == "ready" and check["consistency"]["status"] == "passed"
    assert "no new scars" in check["visual_checks"]["not_measurable"]
    assert "no drastic hair color changes" in check["visual_checks"]["held"]
    listed = author.client.get(f"/v1/characters/{slug}/image-probe").json()["data"]["probes"]
    assert [p["probe_type"] for p in listed[:3]] == [
        "forbidden_visual_check",
        "full_body_identity",
        "prop_usage",
    ]


def test_inventory_batch_with_one_item_failing_and_the_rest_landing(author: ApiUser) -> None:
    slug = make_character(author)
    session_id = open_session(author, slug)
    resp = author.client.post(
        f"/v1/characters/{slug}/inventory/generate",
        json={
            "categories": ["scene", "prop"],
            "session_id": session_id,
            "count_per_category": 1,
            "style_brief": "soft light",
        },
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["requested"] == 2 and data["queued"] == 2 and data["hold_for_review"] is False
    assert [e["category"] for e in data["batch"]] == ["scene", "prop"]
    assert all(e["request_id"] for e in data["batch"])

    deadline = time.monotonic() + 120
    while True:
        generations = author.client.get(f"/v1/characters/{slug}/inventory/generations").json()["data"][
            "generations"
        ]
        if all(g["state"] in ("ready", "failed") for g in generations) and len(generations) == 2:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    by_category = {g["category"]: g for g in generations}
    assert by_category["scene"]["state"] == "ready" and by_category["scene"]["promotion_eligible"] is True
    assert by_category["prop"]["state"] == "failed" and "cannot draw" in by_category["prop"]["failure_reason"]
    inventory = author.client.get(f"/v1/characters/{slug}/visual-inventory").json()["data"]
    assert "scene" in str(inventory) and "active" in str(inventory)


def test_batch_limits_and_categories(author: ApiUser) -> None:
    slug = make_character(author)
    session_id = open_session(author, slug)
    url = f"/v1/characters/{slug}/inventory/generate"
    big = author.client.post(
        url,
        json={
            "categories": ["wardrobe", "accessory", "prop"],
            "session_id": session_id,
            "count_per_category": 3,
        },
    )
    assert big.status_code == 422
    assert big.json()["detail"] == {
        "code": "batch_too_large",
        "message": "9 images requested; max 8 per batch",
        "fix": "Reduce categories × count_per_category to ≤ 8.",
    }
    wrong = author.client.post(url, json={"categories": ["identity"], "session_id": session_id})
    assert wrong.status_code == 422 and wrong.json()["detail"]["code"] == "invalid_category"
    assert (
        author.client.post(
            url, json={"categories": ["scene"], "session_id": session_id, "count_per_category": 5}
        ).status_code
        == 422
    )


def test_probe_preconditions_in_the_specs_order(author: ApiUser, make_user: Callable[..., ApiUser]) -> None:
    slug = make_character(author)
    session_id = open_session(author, slug)
    missing = probe(author, slug, "no-such-session", "identity_selfie")
    assert error_code(missing, 404) == "session_not_found"
    exited = open_session(author, slug)
    assert author.client.post(f"/v1/sessions/{exited}/exit").status_code == 200
    gone = probe(author, slug, exited, "identity_selfie")
    assert gone.status_code == 409 and gone.json()["detail"]["code"] == "session_exited"

    bare = make_character(author, identity=None)
    bare_session = open_session(author, bare)
    none = probe(author, bare, bare_session, "identity_selfie")
    assert none.status_code == 409 and none.json()["detail"]["code"] == "needs_identity"
    listed = make_character(author, anchors=["warm", "tired eyes"])
    listed_session = open_session(author, listed)
    unseeded = probe(author, listed, listed_session, "identity_selfie")
    assert unseeded.status_code == 409 and unseeded.json()["detail"]["code"] == "needs_identity"
    assert "visual-readiness" in unseeded.json()["detail"]["fix"]

    poor = make_user(credits=0)
    poor_slug = make_character(poor)
    broke = probe(poor, poor_slug, open_session(poor, poor_slug), "identity_selfie")
    assert broke.status_code == 402 and broke.json()["detail"]["code"] == "budget_exceeded"

    from likeness.wiring import account_service

    demo_key = account_service().issue_key(
        account_id=author.account_id, scopes=("identities:read", "identities:write"), demo=True
    )
    demo = author.client.post(
        f"/v1/characters/{slug}/image-probe",
        json={"probe_type": "identity_selfie", "session_id": session_id},
        headers={"X-API-Key": demo_key.api_key},
    )
    assert demo.status_code == 403
    assert probe(author, slug, session_id, "selfie_of_the_moon").status_code == 422


def test_held_inventory_items_become_candidates_to_approve(author: ApiUser) -> None:
    slug = make_character(author)
    session_id = open_session(author, slug)
    resp = author.client.post(
        f"/v1/characters/{slug}/inventory/generate",
        json={"categories": ["place"], "session_id": session_id, "hold_for_review": True},
    )
    assert resp.status_code == 200 and resp.json()["data"]["hold_for_review"] is True
    request_id = resp.json()["data"]["batch"][0]["request_id"]
    assert wait_for_report(author, slug, request_id)["state"] == "ready"
    from likeness.wiring import asset_service

    assets = [
        a
        for a in asset_service().all_assets(account_id=author.account_id, slug=slug)
        if a["category"] == "place"
    ]
    assert [(a["asset_status"], a["promotion_status"]) for a in assets] == [("candidate", "candidate")]
    approved = author.client.patch(
        f"/v1/characters/{slug}/visual-assets/{assets[0]['asset_id']}",
        json={"promotion_status": "approved_keyframe"},
    )
    assert approved.status_code == 200, approved.text
    readiness = author.client.get(f"/v1/characters/{slug}/visual-readiness").json()["data"]
    assert readiness["status"] == "ready"
