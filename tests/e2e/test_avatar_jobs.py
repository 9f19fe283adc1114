"""The avatar jobs surface over HTTP: generate, poll, save, list, get; idempotency; credits."""

from __future__ import annotations

import base64
import io
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser
from tests.e2e.polling import add_library_faces, credits_of, wait_for_job
from tests.helpers import data_url, error_code, face_bytes, png_bytes, truncated_jpeg

GENERATE = "/api/v1/avatars/generate"
AVATAR_PRICE = 10


def _image_size(url: str) -> tuple[str, tuple[int, int]]:
    from PIL import Image

    resp = httpx.get(url, timeout=30)
    assert resp.status_code == 200
    with Image.open(io.BytesIO(resp.content)) as im:
        return resp.headers["content-type"], im.size


def _jobs_total(user: ApiUser) -> int:
    return int(user.client.get("/api/v1/jobs").json()["total"])


@pytest.fixture(scope="module")
def library(make_user: Callable[..., ApiUser], local_stack: Any) -> list[str]:
    admin = make_user()
    admin.client.headers["X-API-Key"] = local_stack.info.api_key
    return add_library_faces(admin, ("biden.jpg", "alex-lacamoire.png"))


def test_avatar_from_references_is_queued_completed_and_echoes_what_was_sent(alice: ApiUser) -> None:
    before = credits_of(alice)
    resp = alice.client.post(
        GENERATE,
        json={
            "prompt": "A friendly presenter for our onboarding videos",
            "hints": {"style": "warm", "unknown_hint": "ignored"},
            "reference_images": [data_url("obama.jpg"), base64.b64encode(face_bytes("biden.jpg")).decode()],
            "output": {"size": 512, "aspect_ratio": "4:5", "format": "jpeg"},
            "client_reference_id": "onboarding-run-7",
            "metadata": {"campaign": "spring", "owner": "team-a"},
        },
    )
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    assert set(accepted) == {"request_id", "object", "status", "created", "job_id"}
    assert accepted["request_id"].startswith("req_") and accepted["object"] == "job"
    assert accepted["status"] == "queued" and isinstance(accepted["created"], int)
    uuid.UUID(accepted["job_id"])
    assert resp.headers["location"] == f"/api/v1/jobs/{accepted['job_id']}"
    assert credits_of(alice) == before - AVATAR_PRICE

    job = wait_for_job(alice, accepted["job_id"])
    assert job["status"] == "completed", job
    assert job["object"] == "job" and job["type"] == "avatar_generation"
    assert job["client_reference_id"] == "onboarding-run-7"
    assert job["metadata"] == {"campaign": "spring", "owner": "team-a"}
    avatar = job["data"]["avatar"]
    content_type, size = _image_size(avatar["image_url"])
    assert content_type == "image/jpeg" and max(size) == 512 and abs(size[0] / size[1] - 4 / 5) < 0.01
    # a blend of two people is judged as a new face related to both
    assert avatar["consistency"]["mode"] == "new_person"
    assert avatar["consistency"]["faces_found"] == 1
    assert avatar["details"]["sources"] == ["reference image 1", "reference image 2"]
    assert credits_of(alice) == before - AVATAR_PRICE  # charged once, not refunded


def test_one_reference_makes_a_portrait_that_passes_consistency(alice: ApiUser) -> None:
    resp = alice.client.post(
        GENERATE, json={"prompt": "me, as a headshot", "reference_images": [data_url("obama2.jpg")]}
    )
    assert resp.status_code == 202, resp.text
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "completed", job
    consistency = job["data"]["avatar"]["consistency"]
    assert consistency["mode"] == "same_person" and consistency["verdict"] == "passed"
    assert consistency["score"] >= consistency["threshold"]


def test_library_assisted_avatar_uses_library_faces(alice: ApiUser, library: list[str]) -> None:
    resp = alice.client.post(GENERATE, json={"prompt": "a calm narrator in their forties"})
    assert resp.status_code == 202, resp.text
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "completed", job
    sources = job["data"]["avatar"]["details"]["sources"]
    assert len(sources) == 2 and all(s.startswith("library identity ") for s in sources)
    _, size = _image_size(job["data"]["avatar"]["image_url"])
    assert size == (1024, 1024)


def test_a_reference_without_a_face_fails_the_job_with_its_reason_and_refunds(alice: ApiUser) -> None:
    before = credits_of(alice)
    blank = "data:image/png;base64," + base64.b64encode(png_bytes(320, 320)).decode()
    resp = alice.client.post(
        GENERATE, json={"prompt": "x", "reference_images": [blank, data_url("obama.jpg")]}
    )
    assert resp.status_code == 202, resp.text
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "failed" and job["data"] is None
    assert "reference image 1" in job["error"]["message"]
    assert job["refunded"] is True and credits_of(alice) == before


def test_save_list_and_get_avatars(alice: ApiUser, bob: ApiUser) -> None:
    resp = alice.client.post(GENERATE, json={"prompt": "p", "reference_images": [data_url("obama.jpg")]})
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "completed"

    saved = alice.client.post("/api/v1/avatars/save", json={"job_id": job["id"], "name": "CEO hero v2"})
    assert saved.status_code == 201, saved.text
    avatar = saved.json()
    assert avatar["object"] == "avatar" and avatar["name"] == "CEO hero v2" and avatar["job_id"] == job["id"]
    assert _image_size(avatar["image_url"])[0] == "image/png"
    # the spec's field is the label; both come back
    second = alice.client.post("/api/v1/avatars/save", json={"job_id": job["id"], "label": "CEO hero v3"})
    assert second.status_code == 201 and second.json()["label"] == second.json()["name"] == "CEO hero v3"
    for bad in ({}, {"label": "a", "name": "b"}, {"label": " "}):
        refused = alice.client.post("/api/v1/avatars/save", json={"job_id": job["id"], **bad})
        assert refused.status_code == 422, (bad, refused.text)

    listed = alice.client.get("/api/v1/avatars", params={"limit": 1}).json()
    assert listed["object"] == "list" and listed["total"] == 2 and listed["has_more"] is True
    assert [a["name"] for a in listed["data"]] == ["CEO hero v3"]
    rest = alice.client.get("/api/v1/avatars", params={"limit": 1, "offset": 1}).json()
    assert [a["name"] for a in rest["data"]] == ["CEO hero v2"] and rest["has_more"] is False
    assert alice.client.get(f"/api/v1/avatars/{avatar['id']}").json()["name"] == "CEO hero v2"

    # someone else's job, avatar and unknown ids are not found
    assert error_code(bob.client.get(f"/api/v1/avatars/{avatar['id']}"), 404) == "avatar_not_found"
    assert error_code(bob.client.get(f"/api/v1/jobs/{job['id']}"), 404) == "job_not_found"
    saved = bob.client.post("/api/v1/avatars/save", json={"job_id": job["id"], "name": "x"})
    assert error_code(saved, 404) == "job_not_found"
    assert error_code(alice.client.get(f"/api/v1/avatars/{uuid.uuid4()}"), 404) == "avatar_not_found"
    assert bob.client.get("/api/v1/avatars").json()["total"] == 0


def test_saving_an_unfinished_job_is_a_conflict(alice: ApiUser, monkeypatch: pytest.MonkeyPatch) -> None:
    release = _hold_avatar_jobs(monkeypatch)
    try:
        job_id = alice.client.post(GENERATE, json={"prompt": "p"}).json()["job_id"]
        resp = alice.client.post("/api/v1/avatars/save", json={"job_id": job_id, "name": "too early"})
        assert resp.status_code == 409 and resp.json()["detail"]["code"] == "job_not_completed"
    finally:
        release()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "p", "reference_images": []}, "reference_images"),
        ({"prompt": "p", "reference_images": ["aGk="] * 7}, "reference_images"),
        ({"prompt": "p", "client_reference_id": "r" * 201}, "client_reference_id"),
        ({"prompt": "p", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"prompt": "p", "metadata": {"k": "v" * 501}}, "metadata"),
        ({"prompt": "p", "hints": {"nested": {"a": 1}}}, "hints"),
        ({"prompt": "p", "output": {"size": 100}}, "output"),
        ({"prompt": "p", "output": {"aspect_ratio": "7:3"}}, "output"),
    ],
)
def test_invalid_requests_are_422_and_change_nothing(
    alice: ApiUser, body: dict[str, Any], field: str
) -> None:
    before = credits_of(alice), _jobs_total(alice)
    resp = alice.client.post(GENERATE, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]["code"] == "invalid_request" and field in resp.json()["detail"]["message"]
    assert (credits_of(alice), _jobs_total(alice)) == before


@pytest.mark.parametrize(
    ("reference", "status", "code"),
    [
        ("data:image/png;base64,bm90IGFuIGltYWdl", 422, "image_rejected"),
        (base64.b64encode(truncated_jpeg()).decode(), 422, "image_rejected"),
        ("data:image/gif;base64," + base64.b64encode(b"GIF89a" + b"\0" * 64).decode(), 422, "image_rejected"),
        ("!!! not base64 !!!", 422, "image_rejected"),
        # over the size limit: test_upload_routes.py (15 MB cannot travel inline: docs/uploads.md)
    ],
)
def test_bad_reference_images_are_refused_before_anything_is_written(
    alice: ApiUser, reference: str, status: int, code: str
) -> None:
    from tests.e2e.conftest import bucket_keys

    before = credits_of(alice), _jobs_total(alice), len(bucket_keys("jobs/"))
    resp = alice.client.post(
        GENERATE, json={"prompt": "p", "reference_images": [data_url("obama.jpg"), reference]}
    )
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]["code"] == code and "reference_images[1]" in resp.json()["detail"]["message"]
    assert (credits_of(alice), _jobs_total(alice), len(bucket_keys("jobs/"))) == before


def test_malformed_json_and_unknown_engines_are_refused(alice: ApiUser) -> None:
    resp = alice.client.post(
        GENERATE, content=b'{"prompt": "p",', headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400 and resp.json()["detail"]["code"] == "invalid_json"
    resp = alice.client.post(GENERATE, json={"prompt": "p", "engine": "dall-e-9"})
    assert resp.status_code == 422 and resp.json()["detail"]["code"] == "unknown_engine"
    assert alice.client.post(GENERATE, json={"prompt": "p"}, headers={"X-API-Key": "nope"}).status_code == 403


def test_idempotency_key_replays_and_mismatches(alice: ApiUser) -> None:
    key = str(uuid.uuid4())
    body = {"prompt": "idempotent", "reference_images": [data_url("obama.jpg")]}
    before = credits_of(alice)
    first = alice.client.post(GENERATE, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    replay = alice.client.post(GENERATE, json=body, headers={"Idempotency-Key": key})
    assert replay.status_code == 202 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert credits_of(alice) == before - AVATAR_PRICE

    other = alice.client.post(GENERATE, json={**body, "prompt": "changed"}, headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["detail"]["code"] == "idempotency_key_mismatch"
    # keys belong to an account: bob's same key is a new request
    assert wait_for_job(alice, first.json()["job_id"])["status"] == "completed"


def test_a_key_whose_first_request_is_in_flight_is_a_conflict(alice: ApiUser) -> None:
    from likeness.avatars.models import AvatarGenerate
    from likeness.avatars.service import AvatarService
    from likeness.wiring import job_service

    key = str(uuid.uuid4())
    body = {"prompt": "in flight"}
    # the first request has claimed the key and not answered yet
    job_service()._idempotency.begin(
        account_id=alice.account_id, key=key, fingerprint=AvatarService.fingerprint(AvatarGenerate(**body))
    )
    before = credits_of(alice), _jobs_total(alice)
    resp = alice.client.post(GENERATE, json=body, headers={"Idempotency-Key": key})
    assert resp.status_code == 409 and resp.json()["detail"]["code"] == "idempotency_key_in_use"
    assert (credits_of(alice), _jobs_total(alice)) == before


def test_short_of_credits_is_402_and_nothing_is_written(make_user: Callable[..., ApiUser]) -> None:
    from tests.e2e.conftest import bucket_keys

    poor = make_user(credits=5)
    keys = len(bucket_keys("jobs/"))
    resp = poor.client.post(GENERATE, json={"prompt": "p", "reference_images": [data_url("obama.jpg")]})
    assert resp.status_code == 402, resp.text
    assert resp.json()["detail"]["code"] == "insufficient_credits"
    assert resp.json()["detail"]["required"] == AVATAR_PRICE and resp.json()["detail"]["balance"] == 5
    assert credits_of(poor) == 5 and _jobs_total(poor) == 0 and len(bucket_keys("jobs/")) == keys


def test_a_job_whose_worker_crashes_once_is_retried_and_charged_once(
    alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from likeness.avatars.generation import AvatarGenerator

    real = AvatarGenerator.execute
    crashes = {"left": 1}

    def crash_once(self: AvatarGenerator, job: dict[str, Any]) -> Any:
        if crashes["left"]:
            crashes["left"] -= 1
            raise ConnectionError("the worker lost its connection mid-job")
        return real(self, job)

    monkeypatch.setattr(AvatarGenerator, "execute", crash_once)
    before = credits_of(alice)
    resp = alice.client.post(GENERATE, json={"prompt": "p", "reference_images": [data_url("obama.jpg")]})
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "completed" and job["attempts"] == 2
    assert credits_of(alice) == before - AVATAR_PRICE


def _hold_avatar_jobs(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make avatar jobs wait (running) until the returned function is called."""
    from likeness.avatars.generation import AvatarGenerator

    gate = threading.Event()
    real = AvatarGenerator.execute

    def held(self: AvatarGenerator, job: dict[str, Any]) -> Any:
        gate.wait(60)
        return real(self, job)

    monkeypatch.setattr(AvatarGenerator, "execute", held)
    return gate.set


def test_cancelling_a_running_job_refunds_it_and_discards_its_output(
    alice: ApiUser, monkeypatch: pytest.MonkeyPatch, local_stack: Any
) -> None:
    from tests.e2e.conftest import bucket_keys

    release = _hold_avatar_jobs(monkeypatch)
    before = credits_of(alice)
    try:
        job_id = alice.client.post(
            GENERATE, json={"prompt": "p", "reference_images": [data_url("obama.jpg")]}
        ).json()["job_id"]
        cancelled = alice.client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled" and cancelled.json()["refunded"] is True
        assert credits_of(alice) == before
    finally:
        release()
    local_stack.consumers.drain(timeout=60)  # the held worker finishes, too late
    job = wait_for_job(alice, job_id)
    assert job["status"] == "cancelled" and job["data"] is None
    again = alice.client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["detail"]["code"] == "job_not_cancellable"
    assert bucket_keys(f"jobs/{job_id}/results/") == []


def test_jobs_list_and_engine_catalog(alice: ApiUser) -> None:
    listed = alice.client.get("/api/v1/jobs", params={"type": "avatar_generation", "limit": 100}).json()
    assert listed["object"] == "list" and all(j["type"] == "avatar_generation" for j in listed["data"])
    engines = alice.client.get("/api/v1/engines").json()["data"]
    classical = next(e for e in engines if e["slug"] == "classical")
    assert classical["available"] is True and classical["uses_model_weights"] is False
    assert {"face_transfer", "new_face", "portrait", "upscale", "edit", "video"} <= set(
        classical["operations"]
    )


def test_face_in_scene_transfers_the_identity_and_passes_consistency(alice: ApiUser) -> None:
    """A face transfer of a fixture identity: obama's face into biden's photo, judged against obama."""
    resp = alice.client.post(
        GENERATE,
        json={
            "prompt": "our presenter on the stage photo",
            "hints": {"composition": "face_in_scene"},
            "reference_images": [data_url("obama.jpg"), data_url("biden.jpg")],
        },
    )
    assert resp.status_code == 202, resp.text
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "completed", job
    avatar = job["data"]["avatar"]
    assert avatar["details"]["operation"] == "face_transfer"
    consistency = avatar["consistency"]
    assert consistency["mode"] == "same_person" and consistency["verdict"] == "passed", consistency
    assert consistency["near_copy"] is False

    wrong = alice.client.post(
        GENERATE,
        json={
            "prompt": "p",
            "hints": {"composition": "face_in_scene"},
            "reference_images": [data_url("obama.jpg")],
        },
    )
    assert wrong.status_code == 422 and wrong.json()["detail"]["code"] == "invalid_hint"


def test_job_events_are_delivered_as_signed_webhooks_with_the_callers_metadata(
    alice: ApiUser, local_stack: Any
) -> None:
    import json

    from standardwebhooks.webhooks import Webhook

    from tests.webhook_receiver import running_receiver

    with running_receiver() as receiver:
        created = alice.client.post(
            "/webhooks/endpoints",
            json={"url": receiver.url("/jobs"), "events": ["job.completed", "job.failed"]},
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        resp = alice.client.post(
            GENERATE,
            json={
                "prompt": "p",
                "reference_images": [data_url("obama.jpg")],
                "client_reference_id": "trace-99",
                "metadata": {"order": "A-17"},
            },
        )
        job_id = resp.json()["job_id"]
        assert wait_for_job(alice, job_id)["status"] == "completed"
        local_stack.consumers.drain(timeout=60)
        [delivery] = [r for r in receiver.to("/jobs") if json.loads(r.body)["data"]["id"] == job_id]
        event = Webhook(secret).verify(delivery.body, delivery.headers)
        assert event["type"] == "job.completed"
        assert event["data"]["client_reference_id"] == "trace-99"
        assert event["data"]["metadata"] == {"order": "A-17"}
        assert httpx.get(event["data"]["data"]["avatar"]["image_url"], timeout=30).status_code == 200
        alice.client.delete(f"/webhooks/endpoints/{created.json()['endpoint_id']}")


def test_the_jobs_api_lists_and_shows_an_accounts_preprocessing_jobs(alice: ApiUser) -> None:
    """An uploaded identity's preprocessing job is a job like the others: listed and shown, no 500."""
    from likeness.jobs.models import job_key
    from likeness.wiring import table
    from tests.e2e.conftest import wait_for_status

    upload = alice.upload_fixture("obama.jpg")
    assert upload.status_code == 201, upload.text
    code = upload.json()["identity_code"]
    assert wait_for_status(alice, code)["preprocessing_status"] == "completed"
    listed = alice.client.get("/api/v1/jobs", params={"type": "identity_preprocessing"})
    assert listed.status_code == 200, listed.text
    [job] = [j for j in listed.json()["data"] if (j["data"] or {}).get("identity_code") == code]
    assert job["status"] == "completed" and job["data"]["results_url"] == f"/identity/{code}/results"
    shown = alice.client.get(f"/api/v1/jobs/{job['id']}")
    assert shown.status_code == 200 and shown.json()["data"]["quality_score"] > 0
    # a record written before this release kept bare keys as results: still shown, never a 500
    table().update(
        *job_key(job["id"]), update="SET outputs.results = :keys", values={":keys": ["identities/x/view.png"]}
    )
    assert alice.client.get(f"/api/v1/jobs/{job['id']}").status_code == 200
    assert alice.client.get("/api/v1/jobs").status_code == 200
