"""Error codes no other test provoked, each provoked over HTTP as a client would meet it: the
status, ``detail.code``, and that the refused request changed nothing."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser, wait_for_status
from tests.e2e.polling import credits_of, wait_for_job
from tests.helpers import data_url
from tests.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e

GENERATE = "/api/v1/avatars/generate"


def _error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    detail: dict[str, Any] = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    return detail


def _jobs_total(user: ApiUser) -> int:
    return int(user.client.get("/api/v1/jobs").json()["total"])


@pytest.fixture
def receiver(local_stack: Any) -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx
        rx.release()  # a held attempt answers before the queues are drained
        local_stack.consumers.drain(timeout=60)


def _delivery_of(user: ApiUser, endpoint_id: str, receiver: Receiver, path: str) -> dict[str, Any]:
    """The one delivery of an identity.created event to ``path``, once its attempt has arrived."""
    uploaded = user.upload_fixture("obama.jpg")
    assert uploaded.status_code == 201, uploaded.text
    receiver.wait_for(path)
    [delivery] = user.client.get(f"/webhooks/endpoints/{endpoint_id}/deliveries").json()["data"]
    return delivery


# ---------------------------------------------------------------------------- webhooks
def test_redelivering_to_a_deleted_endpoint_is_endpoint_deleted(
    alice: ApiUser, receiver: Receiver, local_stack: Any
) -> None:
    resp = alice.client.post(
        "/webhooks/endpoints", json={"url": receiver.url("/gone-soon"), "events": ["identity.created"]}
    )
    endpoint_id = resp.json()["endpoint_id"]
    delivery = _delivery_of(alice, endpoint_id, receiver, "/gone-soon")
    local_stack.consumers.drain(timeout=60)
    assert alice.client.delete(f"/webhooks/endpoints/{endpoint_id}").status_code == 204

    detail = _error(
        alice.client.post(f"/webhooks/deliveries/{delivery['delivery_id']}/redeliver"),
        409,
        "endpoint_deleted",
    )
    assert detail["fix"]
    # the log stays readable, unchanged; nothing was sent again
    after = alice.client.get(f"/webhooks/deliveries/{delivery['delivery_id']}").json()
    assert after["status"] == "succeeded" and after["cycle"] == 1 and after["attempt_count"] == 1
    local_stack.consumers.drain(timeout=60)
    assert len(receiver.to("/gone-soon")) == 1


def test_redelivering_while_an_attempt_is_in_flight_is_delivery_in_flight(
    alice: ApiUser, receiver: Receiver, local_stack: Any
) -> None:
    receiver.holds["/slow"] = threading.Event()
    resp = alice.client.post(
        "/webhooks/endpoints", json={"url": receiver.url("/slow"), "events": ["identity.created"]}
    )
    endpoint_id = resp.json()["endpoint_id"]
    delivery = _delivery_of(alice, endpoint_id, receiver, "/slow")  # its attempt is held open

    redeliver = f"/webhooks/deliveries/{delivery['delivery_id']}/redeliver"
    detail = _error(alice.client.post(redeliver), 409, "delivery_in_flight")
    assert detail["fix"]

    receiver.release()
    local_stack.consumers.drain(timeout=60)
    after = alice.client.get(f"/webhooks/deliveries/{delivery['delivery_id']}").json()
    assert after["status"] == "succeeded" and after["cycle"] == 1 and after["attempt_count"] == 1
    assert len(receiver.to("/slow")) == 1
    # once the attempt has finished, redelivery is allowed
    assert alice.client.post(redeliver).status_code == 202
    receiver.wait_for("/slow", 2)


@pytest.mark.parametrize("cursor", ["!!!", "a", "_w", "aGVsbG8", "===="])
def test_a_cursor_the_api_did_not_issue_is_invalid_cursor(alice: ApiUser, cursor: str) -> None:
    endpoint_id = alice.client.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x"}).json()[
        "endpoint_id"
    ]
    resp = alice.client.get(f"/webhooks/endpoints/{endpoint_id}/deliveries", params={"cursor": cursor})
    assert _error(resp, 400, "invalid_cursor")["fix"]


# ---------------------------------------------------------------------------- identities before preprocessing
def test_an_identity_still_pending_has_no_results_and_cannot_seed_drafts(
    alice: ApiUser, paused_consumers: Callable[[], None]
) -> None:
    uploaded = alice.upload_fixture("obama.jpg")
    assert uploaded.status_code == 201, uploaded.text
    code = uploaded.json()["identity_code"]

    detail = _error(alice.client.get(f"/identity/{code}/results"), 409, "preprocessing_not_completed")
    assert "pending" in detail["message"] and detail["fix"]

    before = credits_of(alice), _jobs_total(alice)
    resp = alice.client.post(
        "/identity/create", json={"prompt": "a new face", "num_drafts": 1, "identity_codes": [code]}
    )
    assert code in _error(resp, 409, "identity_not_ready")["message"]
    assert (credits_of(alice), _jobs_total(alice)) == before

    paused_consumers()  # resume: once completed, both work
    assert wait_for_status(alice, code)["preprocessing_status"] == "completed"
    assert alice.client.get(f"/identity/{code}/results").status_code == 200


# ---------------------------------------------------------------------------- idempotency keys
@pytest.mark.parametrize("key", ["k" * 256, ""])
def test_a_malformed_idempotency_key_is_invalid_idempotency_key(alice: ApiUser, key: str) -> None:
    before = credits_of(alice), _jobs_total(alice)
    headers = {"Idempotency-Key": key}
    avatar = alice.client.post(GENERATE, json={"prompt": "p"}, headers=headers)
    assert _error(avatar, 400, "invalid_idempotency_key")["fix"]
    drafts = alice.client.post("/identity/create", json={"prompt": "p", "num_drafts": 1}, headers=headers)
    _error(drafts, 400, "invalid_idempotency_key")
    assert (credits_of(alice), _jobs_total(alice)) == before


# ---------------------------------------------------------------------------- engines
def test_more_references_than_the_engine_takes_is_too_many_reference_images(alice: ApiUser) -> None:
    before = credits_of(alice), _jobs_total(alice)
    faces = ["obama.jpg", "biden.jpg", "alex-lacamoire.png", "rose_leslie_img1.jpg"]
    resp = alice.client.post(
        GENERATE,
        json={"prompt": "p", "engine": "nano-banana-2", "reference_images": [data_url(f) for f in faces]},
    )
    assert "at most 3" in _error(resp, 422, "too_many_reference_images")["message"]
    assert (credits_of(alice), _jobs_total(alice)) == before


def test_an_engine_without_its_key_is_engine_unavailable(
    alice: ApiUser, stack_settings: Callable[..., None]
) -> None:
    stack_settings(LIKENESS_GEMINI_API_KEY="")
    before = credits_of(alice), _jobs_total(alice)
    resp = alice.client.post(GENERATE, json={"prompt": "p", "engine": "nano-banana-2"})
    assert "LIKENESS_GEMINI_API_KEY" in _error(resp, 422, "engine_unavailable")["message"]
    assert (credits_of(alice), _jobs_total(alice)) == before


def test_a_job_whose_engine_went_away_fails_engine_unavailable_and_is_refunded(
    alice: ApiUser, stack_settings: Callable[..., None], paused_consumers: Callable[[], None]
) -> None:
    before = credits_of(alice)
    resp = alice.client.post(
        GENERATE, json={"prompt": "p", "engine": "nano-banana-2", "reference_images": [data_url("obama.jpg")]}
    )
    assert resp.status_code == 202, resp.text
    assert credits_of(alice) < before
    stack_settings(LIKENESS_GEMINI_API_KEY="")  # the key is taken away while the job waits
    paused_consumers()  # resume
    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "failed" and job["error"]["code"] == "engine_unavailable", job
    assert credits_of(alice) == before


# ---------------------------------------------------------------------------- outbound fetches
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_image_url_nothing_listens_on_is_url_request_failed(make_user: Callable[..., ApiUser]) -> None:
    user = make_user(credits=100)
    url = f"http://127.0.0.1:{_closed_port()}/face.jpg"
    detail = _error(
        user.client.post("/avatar", json={"avatar_name": "Nobody", "avatar_url": url}),
        400,
        "url_request_failed",
    )
    assert detail["message"].startswith("avatar_url: ")
    before = credits_of(user)
    upscale = user.client.post(
        "/generation", json={"use_case": "upscale", "image_url": url, "model_slug": "classical"}
    )
    _error(upscale, 400, "url_request_failed")
    assert user.client.get("/avatars").json()["data"] == []
    assert user.client.get("/generations").json()["data"] == []
    assert credits_of(user) == before


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_image_url_that_never_answers_is_url_timeout(
    make_user: Callable[..., ApiUser], silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import likeness.wardrobe.clothing

    # the stack runs in this process: its fetch waits 1 s per step here, not 10
    monkeypatch.setattr(likeness.wardrobe.clothing, "FETCH_TIMEOUT_SECONDS", 1.0)
    user = make_user(credits=100)
    resp = user.client.post(
        "/avatar", json={"avatar_name": "Silent", "avatar_url": f"{silent_server}/face.jpg"}
    )
    assert _error(resp, 400, "url_timeout")["message"].startswith("avatar_url: ")
    assert user.client.get("/avatars").json()["data"] == []


# ---------------------------------------------------------------------------- characters under contention
def test_a_patch_that_keeps_losing_to_other_patches_is_character_busy(
    alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from likeness.characters.models import CharacterPatch, CharacterProfile
    from likeness.characters.service import CharacterService

    slug = f"char-{secrets.token_hex(4)}"
    assert alice.client.post("/v1/characters", json={"slug": slug, "name": "Mara"}).status_code == 201
    real = CharacterService._new_version
    rival = CharacterPatch(profile=CharacterProfile.model_validate({"bio": "the rival's"}))

    def another_patch_lands_first(self: Any, character: Any, active: Any, patch: Any) -> Any:
        real(self, character, active, rival)  # a concurrent PATCH, built on the same version
        return real(self, character, active, patch)

    monkeypatch.setattr(CharacterService, "_new_version", another_patch_lands_first)
    resp = alice.client.patch(f"/v1/characters/{slug}", json={"profile": {"bio": "mine"}})
    _error(resp, 409, "character_busy")
    monkeypatch.undo()

    # every version is a rival's: the refused PATCH wrote none
    versions = alice.client.get(f"/v1/characters/{slug}/versions").json()["data"]["versions"]
    assert len(versions) > 1
    assert [v["profile"] for v in versions if v["version"] > 1] == [{"bio": "the rival's"}] * (
        len(versions) - 1
    )
    shown = alice.client.get(f"/v1/characters/{slug}").json()["data"]
    assert shown["profile"] == {"bio": "the rival's"}
