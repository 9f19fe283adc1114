"""Uploading identities through the HTTP API of the local stack, with real photos."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import ApiUser, bucket_keys, wait_for_status
from tests.helpers import png_bytes, truncated_jpeg

pytestmark = pytest.mark.e2e

EXPECTED_VIEWS = {"aligned_face", "head", "head_and_shoulders", "mirrored", "light_bright", "light_dim"}


def test_portrait_is_accepted_then_preprocessed_with_results(alice: ApiUser) -> None:
    resp = alice.upload_fixture("obama.jpg", name="Barack")
    assert resp.status_code == 201, resp.text
    created = resp.json()
    code = created["identity_code"]
    assert created["preprocessing_status"] == "pending"
    assert created["visibility"] == "private" and created["owned"] is True
    assert resp.headers["location"] == f"/identity/{code}"

    status = wait_for_status(alice, code)
    assert status["preprocessing_status"] == "completed", status
    assert 0.0 <= status["quality_score"] <= 1.0
    assert status["preprocessing_time"] > 0
    assert status["error_message"] is None

    results = alice.client.get(f"/identity/{code}/results")
    assert results.status_code == 200, results.text
    body = results.json()
    kinds = {r["kind"] for r in body["results"]}
    assert kinds >= EXPECTED_VIEWS
    assert body["expires_in"] > 0
    for result in body["results"]:
        # the signed URL works against the emulator, with no API key
        image = httpx.get(result["url"], timeout=30)
        assert image.status_code == 200
        assert image.headers["content-type"] == result["content_type"]
        decoded = Image.open(io.BytesIO(image.content))
        assert decoded.size == (result["width"], result["height"])


def test_rgba_png_portrait_is_accepted(alice: ApiUser) -> None:
    resp = alice.upload_fixture("alex-lacamoire.png", content_type="image/png")
    assert resp.status_code == 201, resp.text
    assert wait_for_status(alice, resp.json()["identity_code"])["preprocessing_status"] == "completed"


@pytest.mark.parametrize(("fixture", "count"), [("two_people.jpg", 2), ("obama_and_biden.jpg", 3)])
def test_group_photo_is_rejected_naming_the_count(alice: ApiUser, fixture: str, count: int) -> None:
    before = bucket_keys()
    resp = alice.upload_fixture(fixture)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail["code"] == "face_rejected"
    assert f"{count} faces found" in detail["message"]
    assert detail["face_count"] == count
    assert bucket_keys() == before
    assert alice.client.get("/identity", params={"visibility": "private"}).json()["total_count"] == 0


def test_partial_face_is_rejected_as_cut_off(alice: ApiUser) -> None:
    resp = alice.upload_fixture("obama_partial_face.jpg")
    assert resp.status_code == 422
    assert "cut off" in resp.json()["detail"]["message"]


@pytest.mark.parametrize(
    ("filename", "payload", "status", "code"),
    [
        ("notes.txt", b"these are not the pixels you are looking for\n" * 20, 415, "unsupported_media_type"),
        ("half.jpg", truncated_jpeg(), 422, "image_rejected"),
        ("dot.png", png_bytes(1, 1), 422, "image_rejected"),
    ],
)
def test_bad_files_are_rejected_and_nothing_is_stored(
    alice: ApiUser, filename: str, payload: bytes, status: int, code: str
) -> None:
    before = bucket_keys()
    resp = alice.upload(filename, payload)
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]["code"] == code
    assert resp.json()["detail"]["message"]
    assert bucket_keys() == before
    assert alice.client.get("/identity", params={"visibility": "private"}).json()["total_count"] == 0


def test_oversized_upload_is_rejected_with_413(alice: ApiUser) -> None:
    from likeness.settings import get_settings

    before = bucket_keys()
    too_big = b"\xff\xd8\xff" + b"\0" * (get_settings().max_upload_bytes + 1)
    resp = alice.upload("huge.jpg", too_big)
    assert resp.status_code == 413
    assert resp.json()["detail"]["code"] == "payload_too_large"
    assert bucket_keys() == before


def test_missing_file_or_name_is_a_validation_error(alice: ApiUser) -> None:
    resp = alice.client.post("/identity/upload", data={"name": "nobody"})
    assert resp.status_code == 422
    assert resp.json()["detail"]["code"] == "invalid_request"
    resp = alice.client.post("/identity/upload", files={"file": ("a.jpg", b"x", "image/jpeg")})
    assert resp.status_code == 422


def test_unknown_visibility_is_rejected(alice: ApiUser) -> None:
    resp = alice.upload_fixture("obama2.jpg", visibility="public")
    assert resp.status_code == 422
    assert "visibility" in resp.json()["detail"]["message"]


def test_duplicate_name_is_409_case_insensitively(alice: ApiUser) -> None:
    assert alice.upload_fixture("obama.jpg", name="Rose").status_code == 201
    before = bucket_keys()
    resp = alice.upload_fixture("rose_leslie_img1.jpg", name="rose")
    assert resp.status_code == 409
    assert resp.json()["detail"]["code"] == "identity_name_taken"
    assert bucket_keys() == before
    assert alice.client.get("/identity", params={"visibility": "private"}).json()["total_count"] == 1


def test_slot_cap_is_a_clear_error(make_user) -> None:  # type: ignore[no-untyped-def]
    free = make_user(plan="free")  # 3 identity slots
    for i in range(3):
        assert free.upload_fixture("obama_small.jpg", name=f"p{i}").status_code == 201
    resp = free.upload_fixture("obama_small.jpg", name="one-too-many")
    assert resp.status_code == 403
    assert resp.json()["detail"]["code"] == "identity_slots_exhausted"
    assert "3 identity slots" in resp.json()["detail"]["message"]
    # deleting one frees its slot
    code = free.client.get("/identity", params={"visibility": "private"}).json()["data"][0]["identity_code"]
    assert free.client.delete(f"/identity/{code}").status_code == 204
    assert free.upload_fixture("obama_small.jpg", name="one-too-many").status_code == 201
