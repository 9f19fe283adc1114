"""Requests over API Gateway's size, and POST /uploads: the presigned PUT, its one use in place of
inline bytes, and every way an upload_id is refused (docs/uploads.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from likeness.http.limits import MAX_REQUEST_BODY_BYTES
from tests.e2e.conftest import ApiUser, bucket_keys
from tests.e2e.uploading import expire, new_upload, padded_face, put_bytes, upload_record, uploaded
from tests.helpers import error_code, face_bytes, png_bytes, truncated_jpeg

pytestmark = pytest.mark.e2e

TOO_BIG_INLINE = MAX_REQUEST_BODY_BYTES + 64 * 1024


def identity_total(user: ApiUser) -> int:
    resp = user.client.get("/identity", params={"visibility": "private"})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total_count"])


def upload_identity(user: ApiUser, upload_id: str, name: str = "Big") -> httpx.Response:
    return user.client.post("/identity/upload", data={"name": name, "upload_id": upload_id})


def test_an_image_too_big_to_send_inline_goes_through_an_upload(alice: ApiUser) -> None:
    big = padded_face(TOO_BIG_INLINE)
    identities_before = set(bucket_keys("identities/"))

    inline = alice.upload("big.jpg", big, name="Inline")
    assert error_code(inline, 413) == "payload_too_large"
    assert "POST /uploads" in inline.json()["detail"]["fix"]
    assert "upload_id" in inline.json()["detail"]["fix"]
    assert identity_total(alice) == 0 and bucket_keys(f"uploads/{alice.account_id}/") == []

    ticket = new_upload(alice, "image/jpeg", len(big))
    assert set(ticket) == {"upload_id", "url", "headers", "expires_at"}
    assert ticket["headers"] == {"Content-Type": "image/jpeg", "Content-Length": str(len(big))}
    assert datetime.fromisoformat(ticket["expires_at"]).timestamp() > time.time() + 600
    assert put_bytes(ticket, big).status_code == 200
    assert bucket_keys(f"uploads/{alice.account_id}/") == [
        f"uploads/{alice.account_id}/{ticket['upload_id']}"
    ]

    resp = upload_identity(alice, ticket["upload_id"])
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "Big" and identity_total(alice) == 1
    # used: its bytes now live with the identity only, and it cannot be used again
    assert bucket_keys(f"uploads/{alice.account_id}/") == []
    first = resp.json()["identity_code"]
    again = upload_identity(alice, ticket["upload_id"], name="Again")
    assert error_code(again, 409) == "upload_already_used"
    assert identity_total(alice) == 1
    # (other tests' background work writes to the bucket meanwhile: only identity files count)
    stored = set(bucket_keys("identities/")) - identities_before
    assert stored and all(key.startswith(f"identities/{first}/") for key in stored)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content_type": "image/gif", "size": 100}, 415, "unsupported_media_type"),
        ({"content_type": "application/pdf", "size": 100}, 415, "unsupported_media_type"),
        ({"content_type": "image/png", "size": 15 * 1024 * 1024 + 1}, 413, "payload_too_large"),
        ({"content_type": "image/png", "size": 0}, 422, "invalid_request"),
        ({"content_type": "image/png"}, 422, "invalid_request"),
        ({"size": 100}, 422, "invalid_request"),
        ({"content_type": "image/png", "size": 100, "key": "uploads/other/x"}, 422, "invalid_request"),
    ],
    ids=["gif", "pdf", "over-15mb", "empty", "no-size", "no-type", "own-key"],
)
def test_post_uploads_refuses_what_no_route_takes(
    alice: ApiUser, body: dict[str, object], status: int, code: str
) -> None:
    assert error_code(alice.client.post("/uploads", json=body), status) == code
    assert bucket_keys(f"uploads/{alice.account_id}/") == []


def test_post_uploads_needs_a_key_that_may_write(make_user: Callable[..., ApiUser], api_url: str) -> None:
    body = {"content_type": "image/png", "size": 100}
    # no key: API Gateway's authorizer refuses it before any function runs (docs/security.md)
    refused = httpx.post(f"{api_url}/uploads", json=body)
    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    reader = make_user(scopes=("identities:read",))
    assert error_code(reader.client.post("/uploads", json=body), 403) == "forbidden"


def test_a_put_that_breaks_the_signed_size_or_type_is_refused(alice: ApiUser) -> None:
    photo = face_bytes("obama.jpg")

    # more bytes than declared: S3 refuses the PUT (signed Content-Length); an emulator that
    # does not check signatures takes it, and the upload is refused when used
    ticket = new_upload(alice, "image/jpeg", len(photo))
    longer = photo + b"\0" * 10
    put = put_bytes(ticket, longer, {"Content-Type": "image/jpeg"})
    if put.status_code == 200:
        assert error_code(upload_identity(alice, ticket["upload_id"]), 422) == "upload_mismatch"
    else:
        assert put.status_code == 403
    # the exact bytes, sent again to the same URL, make it usable: the refusal used nothing up
    assert put_bytes(ticket, photo).status_code == 200
    assert upload_identity(alice, ticket["upload_id"], name="Exact").status_code == 201

    # another type than declared (signed Content-Type)
    ticket = new_upload(alice, "image/png", len(photo))
    put = put_bytes(ticket, photo, {"Content-Type": "image/jpeg", "Content-Length": str(len(photo))})
    if put.status_code == 200:
        assert error_code(upload_identity(alice, ticket["upload_id"]), 422) == "upload_mismatch"
    else:
        assert put.status_code == 403
    assert identity_total(alice) == 1


def test_another_accounts_upload_is_404_and_stays_theirs(alice: ApiUser, bob: ApiUser) -> None:
    upload_id = uploaded(alice, face_bytes("obama.jpg"))
    assert error_code(upload_identity(bob, upload_id), 404) == "upload_not_found"
    assert identity_total(bob) == 0
    assert upload_identity(alice, upload_id).status_code == 201


def test_unknown_unsent_and_expired_uploads_are_4xx_and_store_nothing(alice: ApiUser) -> None:
    before = bucket_keys("identities/")
    assert error_code(upload_identity(alice, "up_" + "0" * 32), 404) == "upload_not_found"
    assert error_code(upload_identity(alice, "not-an-upload"), 404) == "upload_not_found"

    unsent = new_upload(alice, "image/jpeg", 1000)
    assert error_code(upload_identity(alice, unsent["upload_id"]), 409) == "upload_not_received"

    expired = uploaded(alice, face_bytes("obama.jpg"))
    expire(alice.account_id, expired)
    assert error_code(upload_identity(alice, expired), 410) == "upload_expired"
    assert bucket_keys("identities/") == before and identity_total(alice) == 0


def test_an_upload_is_validated_like_the_inline_bytes(alice: ApiUser) -> None:
    cases = [
        (b"this is not an image at all", "image/jpeg"),
        (truncated_jpeg(), "image/jpeg"),
        (face_bytes("obama_and_biden.jpg"), "image/jpeg"),
        (png_bytes(32, 32), "image/png"),
    ]
    for data, content_type in cases:
        inline = alice.upload("photo", data, name="Inline", content_type=content_type)
        assert inline.status_code in (413, 415, 422), inline.text
        via_upload = upload_identity(alice, uploaded(alice, data, content_type))
        assert via_upload.status_code == inline.status_code, via_upload.text
        assert via_upload.json()["detail"]["code"] == inline.json()["detail"]["code"]
    assert identity_total(alice) == 0


def test_a_refused_request_leaves_its_upload_usable(alice: ApiUser) -> None:
    assert alice.upload_fixture("obama.jpg", name="Taken").status_code == 201
    upload_id = uploaded(alice, face_bytes("obama2.jpg"))
    assert error_code(upload_identity(alice, upload_id, name="taken"), 409) == "identity_name_taken"
    record = upload_record(alice.account_id, upload_id)
    assert record is not None and record["state"] == "pending" and "lease_token" not in record
    assert upload_identity(alice, upload_id, name="Free").status_code == 201
    record = upload_record(alice.account_id, upload_id)
    assert record is not None and record["state"] == "used"


def test_bytes_and_an_upload_id_together_are_a_conflict(alice: ApiUser) -> None:
    upload_id = uploaded(alice, face_bytes("obama.jpg"))
    resp = alice.client.post(
        "/identity/upload",
        data={"name": "Both", "upload_id": upload_id},
        files={"file": ("obama.jpg", face_bytes("obama.jpg"), "image/jpeg")},
    )
    assert error_code(resp, 400) == "image_source_conflict"
    assert identity_total(alice) == 0
    missing = alice.client.post("/identity/upload", data={"name": "Neither"})
    assert error_code(missing, 422) == "invalid_request"


def test_a_body_far_over_the_limit_still_gets_its_413(alice: ApiUser) -> None:
    # the client is still sending when the gateway refuses: it must read the answer, not a reset
    resp = alice.upload("huge.jpg", padded_face(40 * 1024 * 1024), name="Huge")
    assert error_code(resp, 413) == "payload_too_large"
    assert identity_total(alice) == 0
