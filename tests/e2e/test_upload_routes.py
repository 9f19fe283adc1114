"""Every route that takes an image takes an upload_id from POST /uploads in its place: the same
checks as inline bytes, the route's own limits and face rules, and the upload used once."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import httpx
import pytest

from likeness.http.limits import MAX_REQUEST_BODY_BYTES
from tests.e2e.conftest import ApiUser, bucket_keys, wait_for_status
from tests.e2e.polling import credits_of, wait_for_job
from tests.e2e.uploading import padded_face, upload_record, uploaded
from tests.helpers import GARMENTS, data_url, error_code, face_bytes, png_bytes

pytestmark = pytest.mark.e2e

GENERATE = "/api/v1/avatars/generate"


def fetched(url: str) -> bytes:
    resp = httpx.get(url, timeout=30)
    assert resp.status_code == 200, url
    return resp.content


def used(user: ApiUser, upload_id: str) -> bool:
    record = upload_record(user.account_id, upload_id)
    return record is not None and record["state"] == "used" and not bucket_keys(f"uploads/{user.account_id}/")


# ---------------------------------------------------------------------------- wardrobe
def test_a_clothing_item_from_uploads_front_and_back(alice: ApiUser) -> None:
    front, back = (GARMENTS / "tshirt_front.png").read_bytes(), (GARMENTS / "tshirt_back.png").read_bytes()
    front_id, back_id = uploaded(alice, front, "image/png"), uploaded(alice, back, "image/png")
    resp = alice.client.post(
        "/clothing-item",
        data={
            "clothing_item_name": "Tee",
            "use_image_enhancement": "false",
            "upload_id": front_id,
            "back_upload_id": back_id,
        },
    )
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert fetched(item["clothing_item_url"]) == front and fetched(item["clothing_item_back_url"]) == back
    assert used(alice, front_id) and used(alice, back_id)


def test_clothing_item_uploads_are_checked_like_files(alice: ApiUser) -> None:
    garment = (GARMENTS / "dress_red.jpg").read_bytes()
    upload_id = uploaded(alice, garment)
    both = alice.client.post(
        "/clothing-item",
        data={"clothing_item_name": "Dress", "upload_id": upload_id},
        files={"file": ("dress.jpg", garment, "image/jpeg")},
    )
    assert error_code(both, 400) == "image_source_conflict"
    not_an_image = uploaded(alice, b"GIF89a" + b"\0" * 64, "image/png")
    inline = alice.client.post(
        "/clothing-item",
        data={"clothing_item_name": "Gif", "use_image_enhancement": "false"},
        files={"file": ("a.png", b"GIF89a" + b"\0" * 64, "image/png")},
    )
    resp = alice.client.post(
        "/clothing-item",
        data={"clothing_item_name": "Gif", "use_image_enhancement": "false", "upload_id": not_an_image},
    )
    assert resp.status_code == inline.status_code and resp.status_code in (415, 422), resp.text
    assert resp.json()["detail"]["code"] == inline.json()["detail"]["code"]
    assert alice.client.get("/clothing-items").json()["total_count"] == 0
    # nothing was used up: the good upload still makes an item (as JSON, too)
    made = alice.client.post(
        "/clothing-item",
        json={"clothing_item_name": "Dress", "use_image_enhancement": False, "upload_id": upload_id},
    )
    assert made.status_code == 201, made.text


def test_a_wardrobe_avatar_from_an_upload(alice: ApiUser) -> None:
    photo = face_bytes("obama.jpg")
    upload_id = uploaded(alice, photo)
    conflict = alice.client.post(
        "/avatar",
        json={"avatar_name": "A", "upload_id": upload_id, "avatar_url": "https://example.com/a.jpg"},
    )
    assert error_code(conflict, 400) == "image_source_conflict"
    group = alice.client.post(
        "/avatar", json={"avatar_name": "G", "upload_id": uploaded(alice, face_bytes("obama_and_biden.jpg"))}
    )
    assert error_code(group, 422) == "face_rejected"

    resp = alice.client.post("/avatar", json={"avatar_name": "Uploaded", "upload_id": upload_id})
    assert resp.status_code == 201, resp.text
    assert fetched(resp.json()["avatar_url"]) == photo
    assert upload_record(alice.account_id, upload_id)["state"] == "used"  # type: ignore[index]


# ---------------------------------------------------------------------------- avatar jobs
def test_avatar_references_by_upload_id_are_used_once_and_replay_with_their_key(alice: ApiUser) -> None:
    upload_id = uploaded(alice, face_bytes("biden.jpg"))
    body = {"prompt": "a presenter", "reference_images": [data_url("obama.jpg"), {"upload_id": upload_id}]}
    before = credits_of(alice)
    headers = {"Idempotency-Key": secrets.token_hex(8)}
    resp = alice.client.post(GENERATE, json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    assert used(alice, upload_id)
    # the same request and key again: the stored answer, not a refusal of the used upload
    replay = alice.client.post(GENERATE, json=body, headers=headers)
    assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["job_id"] == resp.json()["job_id"]
    assert error_code(alice.client.post(GENERATE, json=body), 409) == "upload_already_used"

    job = wait_for_job(alice, resp.json()["job_id"])
    assert job["status"] == "completed", job
    assert job["data"]["avatar"]["details"]["sources"] == ["reference image 1", "reference image 2"]
    assert credits_of(alice) < before


def test_reference_uploads_keep_the_reference_limit_and_checks(
    alice: ApiUser, stack_settings: Callable[..., None]
) -> None:
    stack_settings(LIKENESS_MAX_REFERENCE_IMAGE_BYTES="300000")
    big = padded_face(300_001)
    jobs_before = len(bucket_keys("jobs/"))
    for reference in (
        data_url("obama.jpg").split(",")[0] + "," + _b64(big),
        {"upload_id": uploaded(alice, big)},
    ):
        resp = alice.client.post(
            GENERATE, json={"prompt": "p", "reference_images": [data_url("obama.jpg"), reference]}
        )
        assert error_code(resp, 413) == "image_too_large"
        assert "reference_images[1]" in resp.json()["detail"]["message"]
    twice = uploaded(alice, face_bytes("biden.jpg"))
    resp = alice.client.post(
        GENERATE, json={"prompt": "p", "reference_images": [{"upload_id": twice}, {"upload_id": twice}]}
    )
    assert error_code(resp, 422) == "duplicate_upload_id"
    assert len(bucket_keys("jobs/")) == jobs_before


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_an_identity_draft_reference_from_an_upload(make_user: Callable[..., ApiUser]) -> None:
    user = make_user(credits=200)
    rose = user.upload_fixture("rose_leslie_img1.jpg", name="Rose")
    assert rose.status_code == 201, rose.text
    code = rose.json()["identity_code"]
    assert wait_for_status(user, code)["preprocessing_status"] == "completed"
    upload_id = uploaded(user, face_bytes("obama.jpg"))
    resp = user.client.post(
        "/identity/create",
        json={
            "prompt": "a brand ambassador",
            "num_drafts": 1,
            "reference_image": {"upload_id": upload_id},
            "identity_codes": [code],
            "output": {"size": 512},
        },
    )
    assert resp.status_code == 202, resp.text
    assert used(user, upload_id)
    deadline = time.monotonic() + 120
    while (batch := user.client.get(f"/identity/create/{resp.json()['job_id']}").json())["status"] not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)
    assert batch["status"] == "completed", batch


# ---------------------------------------------------------------------------- characters
def test_character_visual_assets_from_uploads_keep_the_8_mb_rule(alice: ApiUser) -> None:
    slug = f"char-{secrets.token_hex(4)}"
    assert alice.client.post("/v1/characters", json={"slug": slug, "name": "Mara"}).status_code == 201

    def asset(upload_id: str, category: str = "identity", key: str = "identity-front") -> httpx.Response:
        form = {"category": category, "asset_key": key, "label": "portrait", "upload_id": upload_id}
        return alice.client.post(f"/v1/characters/{slug}/visual-assets", data=form)

    # over the spec's 8 MB (and too big to send inline): the spec's 422, the upload kept
    too_big = uploaded(alice, padded_face(8 * 1024 * 1024 + 1))
    assert error_code(asset(too_big), 422) == "image_rejected"
    assert upload_record(alice.account_id, too_big)["state"] == "pending"  # type: ignore[index]

    identity = uploaded(alice, padded_face(MAX_REQUEST_BODY_BYTES + 1))
    resp = asset(identity)
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["asset_status"] == "active"
    # the refused upload was not used up: an inventory image over 8 MB is the same 422
    assert error_code(asset(too_big, category="prop", key="mug"), 422) == "image_rejected"
    prop = asset(uploaded(alice, png_bytes(320, 240), "image/png"), category="prop", key="mug")
    assert prop.status_code == 201, prop.text
    assert prop.json()["data"]["asset_status"] == "candidate"


# ---------------------------------------------------------------------------- media identities
def test_a_media_profile_image_from_an_upload(alice: ApiUser) -> None:
    uuid = secrets.token_hex(16)
    identity = {"version": 1, "identity_uuid": uuid, "name": "Lin-Manuel Miranda", "identity_type": "people"}
    assert alice.client.post("/api/v1/identity/upload", json=identity).status_code == 201
    image = face_bytes("lin-manuel-miranda.png")
    route = f"/api/v1/identity/{uuid}/profile-image"

    gif = uploaded(alice, b"GIF89a" + b"\0" * 64, "image/png")
    assert error_code(alice.client.post(route, json={"upload_id": gif}), 415) == "unsupported_media_type"
    resp = alice.client.post(route, files={"upload_id": (None, uploaded(alice, image, "image/png"))})
    assert resp.status_code == 200, resp.text
    assert alice.client.get(route).content == image
    resp = alice.client.post(
        route, json={"upload_id": uploaded(alice, face_bytes("lin-manuel-miranda.png"), "image/png")}
    )
    assert resp.status_code == 200, resp.text
    unknown = alice.client.post(route, json={"upload_id": "up_" + "1" * 32})
    assert error_code(unknown, 404) == "upload_not_found"
