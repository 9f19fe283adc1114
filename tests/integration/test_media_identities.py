"""Media identities over the API on moto: identity.json upload (create, then update by name),
CRUD, search, pagination, the profile image rules, request errors, and account isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import face_bytes, png_bytes, truncated_jpeg
from tests.integration.media_support import MediaUser, ProfileEmbedder, make_user

CARY = "a9a901056d6b46ff92da0c3c1a57dff4"


@pytest.fixture
def app(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import likeness.wiring
    from functions.media_api.app import app

    monkeypatch.setattr(likeness.wiring, "media_indexer", lambda: ProfileEmbedder())
    yield app


@pytest.fixture
def alice(app: Any) -> MediaUser:
    return make_user(app)


@pytest.fixture
def bob(app: Any) -> MediaUser:
    return make_user(app)


def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    detail: dict[str, Any] = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    return detail


def identity_json(**fields: Any) -> dict[str, Any]:
    body = {
        "version": 1,
        "identity_uuid": CARY,
        "name": "Cary Grant",
        "identity_type": "people",
        "source": ".json",
        "status": "confirmed",
        "metadata": {},
        "file_bindings": [],
    }
    body.update(fields)
    return body


def create(user: MediaUser, name: str, **fields: Any) -> dict[str, Any]:
    resp = user.client.post("/api/v1/identities", json={"name": name, **fields})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# ---------------------------------------------------------------------------- identity.json
def test_identity_json_creates_then_updates_the_identity_with_the_same_name(alice: MediaUser) -> None:
    resp = alice.client.post("/api/v1/identity/upload", json=identity_json())
    assert resp.status_code == 201, resp.text
    assert resp.json() == {
        "success": True,
        "identity_uuid": CARY,
        "name": "Cary Grant",
        "created": True,
        "message": "Identity uploaded successfully",
    }
    got = alice.client.get(f"/api/v1/identity/{CARY}").json()
    assert got["success"] is True
    assert {k: got[k] for k in ("identity_uuid", "name", "identity_type", "source", "status")} == {
        "identity_uuid": CARY,
        "name": "Cary Grant",
        "identity_type": "people",
        "source": ".json",
        "status": "confirmed",
    }
    assert got["updated_at"] is None and got["created_at"].endswith("Z")
    assert got["metadata"] == {} and got["reference_data"] == {} and got["tmdb_id"] is None

    # same name in other case, another uuid: the existing identity is updated, its uuid answered
    update = identity_json(
        identity_uuid="0" * 32,
        name="cary GRANT",
        source="tmdb",
        tmdb_id=112,
        tmdb_profile="https://image.tmdb.org/t/p/w185/cary.jpg",
        metadata={"tmdb_character": "Roger Thornhill", "cast_order": 0},
        file_bindings=[
            {"file_uuid": "bd80fec92b0b6963d177a2c55bf713e2", "trace_ids": [1, 2], "face_count": 9}
        ],
    )
    resp = alice.client.post("/api/v1/identity/upload", json=update)
    assert resp.status_code == 200, resp.text
    assert resp.json()["identity_uuid"] == CARY and resp.json()["created"] is False
    got = alice.client.get(f"/api/v1/identity/{CARY}").json()
    assert got["name"] == "cary GRANT" and got["source"] == "tmdb" and got["tmdb_id"] == 112
    assert got["tmdb_profile"] == "https://image.tmdb.org/t/p/w185/cary.jpg"
    assert got["metadata"] == {"tmdb_character": "Roger Thornhill", "cast_order": 0}
    assert got["reference_data"]["file_bindings"][0]["trace_ids"] == [1, 2]
    assert got["updated_at"] is not None
    listed = alice.client.get("/api/v1/identities").json()
    assert listed["count"] == 1
    error(alice.client.get(f"/api/v1/identity/{'0' * 32}"), 404, "identity_not_found")

    # the uuid of an identity with another name: 409; a malformed uuid or no name: 422
    error(
        alice.client.post("/api/v1/identity/upload", json=identity_json(name="Grace Kelly")),
        409,
        "identity_uuid_taken",
    )
    error(
        alice.client.post(
            "/api/v1/identity/upload", json=identity_json(identity_uuid="not-a-uuid", name="X")
        ),
        422,
        "invalid_request",
    )
    body = identity_json()
    del body["name"]
    error(alice.client.post("/api/v1/identity/upload", json=body), 422, "invalid_request")
    # a dashed UUID is the same identifier
    resp = alice.client.post(
        "/api/v1/identity/upload",
        json=identity_json(identity_uuid="A1B2C3D4-0000-4000-8000-000000000001", name="Grace Kelly"),
    )
    assert resp.status_code == 201 and resp.json()["identity_uuid"] == "a1b2c3d4000040008000000000000001"


def test_bad_json_and_wrong_types_are_refused_with_the_error_shape(alice: MediaUser) -> None:
    resp = alice.client.post(
        "/api/v1/identity/upload", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    error(resp, 400, "invalid_json")
    error(
        alice.client.post("/api/v1/identity/upload", json=identity_json(tmdb_id="one hundred")),
        422,
        "invalid_request",
    )
    error(
        alice.client.post("/api/v1/identity/upload", json=identity_json(status="famous")),
        422,
        "invalid_request",
    )
    error(
        alice.client.post("/api/v1/identity/upload", json=identity_json(source="imdb")),
        422,
        "invalid_request",
    )
    error(
        alice.client.post("/api/v1/identity/upload", json=identity_json(metadata=[1])), 422, "invalid_request"
    )
    error(alice.client.post("/api/v1/identities", json={"name": ""}), 422, "invalid_request")
    error(alice.client.post("/api/v1/identities", json={"name": "A", "color": "red"}), 422, "invalid_request")
    error(
        alice.client.post("/api/v1/identities/merge", json={"target_identity_uuid": CARY}),
        422,
        "invalid_request",
    )
    error(alice.client.get("/api/v1/identities?page=0"), 422, "invalid_request")
    error(alice.client.get("/api/v1/identities?page_size=101"), 422, "invalid_request")
    error(alice.client.get("/api/v1/identities/search"), 422, "invalid_request")
    uuid = create(alice, "Someone")["identity_uuid"]
    error(alice.client.patch(f"/api/v1/identity/{uuid}", json={"name": None}), 422, "invalid_request")
    error(
        alice.client.post(
            f"/api/v1/identity/{uuid}/bind", content=b"[", headers={"Content-Type": "application/json"}
        ),
        400,
        "invalid_json",
    )
    error(
        alice.client.post(f"/api/v1/identity/{uuid}/bind", json={"file_uuid": CARY, "face_id": 5}),
        422,
        "invalid_request",
    )


def test_no_key_is_401(app: Any) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(app)
    error(client.get("/api/v1/identities"), 401, "unauthorized")
    error(client.get("/api/v1/files"), 401, "unauthorized")


# ---------------------------------------------------------------------------- CRUD, list, search
def test_create_get_patch_delete_and_names_unique_case_insensitively(alice: MediaUser) -> None:
    created = create(alice, "Lin-Manuel Miranda", metadata={"role": "Hamilton"})
    uuid = created["identity_uuid"]
    assert (
        created["success"] is True
        and created["source"] == "user_defined"
        and created["status"] == "confirmed"
    )
    assert created["identity_type"] == "people" and created["metadata"] == {"role": "Hamilton"}
    assert len(uuid) == 32 and created["profile_image_url"] is None
    error(
        alice.client.post("/api/v1/identities", json={"name": "lin-manuel MIRANDA"}),
        409,
        "identity_name_taken",
    )

    patched = alice.client.patch(
        f"/api/v1/identity/{uuid}", json={"status": "inactive", "tmdb_id": 1179651, "identity_type": None}
    ).json()
    assert (
        patched["status"] == "inactive" and patched["tmdb_id"] == 1179651 and patched["identity_type"] is None
    )
    assert patched["metadata"] == {"role": "Hamilton"} and patched["updated_at"] is not None
    other = create(alice, "Leslie Odom Jr.")
    error(
        alice.client.patch(f"/api/v1/identity/{other['identity_uuid']}", json={"name": "LIN-MANUEL MIRANDA"}),
        409,
        "identity_name_taken",
    )
    renamed = alice.client.patch(f"/api/v1/identity/{uuid}", json={"name": "Lin Miranda"}).json()
    assert renamed["name"] == "Lin Miranda"
    # the old name is free again
    create(alice, "Lin-Manuel Miranda")

    resp = alice.client.delete(f"/api/v1/identity/{uuid}")
    assert resp.status_code == 200 and resp.json()["success"] is True
    error(alice.client.get(f"/api/v1/identity/{uuid}"), 404, "identity_not_found")
    error(alice.client.delete(f"/api/v1/identity/{uuid}"), 404, "identity_not_found")
    error(alice.client.get("/api/v1/identity/not-a-uuid"), 404, "identity_not_found")

    actions = [
        e["action"]
        for e in alice.client.get(f"/api/v1/identities/audit?identity_uuid={uuid}").json()["entries"]
    ]
    assert actions == ["delete", "update", "update", "create"]


def test_list_paginates_by_name_and_filters(alice: MediaUser) -> None:
    names = [f"Person {i:02d}" for i in range(25)]
    for name in reversed(names):
        create(alice, name, status="pending" if name.endswith("7") else "confirmed")
    first = alice.client.get("/api/v1/identities?page=1&page_size=10").json()
    assert (
        first["success"] is True and first["count"] == 25 and first["page"] == 1 and first["page_size"] == 10
    )
    assert [i["name"] for i in first["identities"]] == names[:10]
    third = alice.client.get("/api/v1/identities?page=3&page_size=10").json()
    assert [i["name"] for i in third["identities"]] == names[20:]
    assert alice.client.get("/api/v1/identities?page=4&page_size=10").json()["identities"] == []
    default = alice.client.get("/api/v1/identities").json()
    assert default["page_size"] == 20 and len(default["identities"]) == 20
    pending = alice.client.get("/api/v1/identities?status=pending").json()
    assert [i["name"] for i in pending["identities"]] == ["Person 07", "Person 17"]
    assert alice.client.get("/api/v1/identities?source=auto").json()["count"] == 0


def test_search_is_a_case_insensitive_substring_of_the_name(alice: MediaUser) -> None:
    alice.client.post("/api/v1/identity/upload", json=identity_json(source="tmdb", tmdb_id=112))
    create(alice, "Grace Kelly")
    create(alice, "Oscar Isaac")
    resp = alice.client.get("/api/v1/identities/search?q=cAr")
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True and body["count"] == 2
    hits = {h["name"]: h for h in body["identities"]}
    assert set(hits) == {"Cary Grant", "Oscar Isaac"}
    assert hits["Cary Grant"] == {
        "identity_uuid": CARY,
        "name": "Cary Grant",
        "source": "tmdb",
        "status": "confirmed",
        "tmdb_id": 112,
        "file_uuid": None,
    }
    assert alice.client.get("/api/v1/identities/search?q=zz").json()["count"] == 0
    assert (
        alice.client.get("/api/v1/identities/search?q=%20kelly%20").json()["identities"][0]["name"]
        == "Grace Kelly"
    )


def test_another_accounts_identity_is_invisible(alice: MediaUser, bob: MediaUser) -> None:
    uuid = create(alice, "Private Person")["identity_uuid"]
    alice.client.post(
        f"/api/v1/identity/{uuid}/profile-image", files={"image": ("o.jpg", face_bytes("obama.jpg"))}
    )
    for resp in (
        bob.client.get(f"/api/v1/identity/{uuid}"),
        bob.client.patch(f"/api/v1/identity/{uuid}", json={"name": "Mine now"}),
        bob.client.delete(f"/api/v1/identity/{uuid}"),
        bob.client.get(f"/api/v1/identity/{uuid}/files"),
        bob.client.get(f"/api/v1/identity/{uuid}/faces"),
        bob.client.get(f"/api/v1/identity/{uuid}/chunks"),
        bob.client.get(f"/api/v1/identity/{uuid}/audit"),
        bob.client.get(f"/api/v1/identity/{uuid}/profile-image"),
        bob.client.post(
            f"/api/v1/identity/{uuid}/profile-image", files={"image": ("o.jpg", face_bytes("obama.jpg"))}
        ),
        bob.client.post(f"/api/v1/identity/{uuid}/bind", json={"file_uuid": "0" * 32, "face_id": "1_0"}),
        bob.client.post(
            f"/api/v1/identity/{uuid}/split",
            json={"name": "X", "faces": [{"file_uuid": "0" * 32, "face_id": "1_0"}]},
        ),
    ):
        error(resp, 404, "identity_not_found")
    assert bob.client.get("/api/v1/identities").json()["count"] == 0
    assert bob.client.get("/api/v1/identities/search?q=private").json()["count"] == 0
    assert bob.client.get(f"/api/v1/identities/audit?identity_uuid={uuid}").json()["count"] == 0
    mine = create(bob, "Bob's")["identity_uuid"]
    error(
        bob.client.post(
            "/api/v1/identities/merge", json={"target_identity_uuid": mine, "identity_uuids": [uuid]}
        ),
        404,
        "identity_not_found",
    )
    # the same uuid may exist in both accounts without meeting
    body = identity_json(identity_uuid=uuid, name="Bob's own")
    assert bob.client.post("/api/v1/identity/upload", json=body).status_code == 201
    assert alice.client.get(f"/api/v1/identity/{uuid}").json()["name"] == "Private Person"


# ---------------------------------------------------------------------------- profile image
def test_profile_image_round_trip_and_content_types(alice: MediaUser) -> None:
    from likeness.wiring import media_store

    uuid = create(alice, "Lin-Manuel Miranda")["identity_uuid"]
    png = face_bytes("lin-manuel-miranda.png")
    resp = alice.client.post(
        f"/api/v1/identity/{uuid}/profile-image", files={"image": ("lin.png", png, "image/png")}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["identity_uuid"] == uuid
    assert body["path"].endswith(f"/identities/{uuid}/profile.png")
    assert body["message"] == "Profile image saved: profile.png"
    got = alice.client.get(f"/api/v1/identity/{uuid}/profile-image")
    assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == png
    assert alice.client.get(f"/api/v1/identity/{uuid}").json()["profile_image_url"].endswith("/profile-image")
    enrollment = media_store().get_enrollment(alice.account_id, uuid)
    assert enrollment.profile is not None and len(enrollment.profile) == 128

    # a JPEG replaces it (the content type follows the bytes, not the name)
    jpeg = face_bytes("obama.jpg")
    resp = alice.client.post(
        f"/api/v1/identity/{uuid}/profile-image", files={"image": ("x.png", jpeg, "image/png")}
    )
    assert resp.status_code == 200 and resp.json()["message"] == "Profile image saved: profile.jpg"
    got = alice.client.get(f"/api/v1/identity/{uuid}/profile-image")
    assert got.headers["content-type"] == "image/jpeg" and got.content == jpeg
    keys = media_store().blobs.list_keys(f"media/{alice.account_id}/identities/{uuid}/")
    assert keys == [f"media/{alice.account_id}/identities/{uuid}/profile.jpg"]
    audit = alice.client.get(f"/api/v1/identity/{uuid}/audit").json()
    assert [e["action"] for e in audit["entries"]][:2] == ["profile_image", "profile_image"]


def test_profile_image_errors(alice: MediaUser) -> None:
    uuid = create(alice, "Somebody")["identity_uuid"]
    url = f"/api/v1/identity/{uuid}/profile-image"
    error(alice.client.get(url), 404, "profile_image_not_found")
    # 400: no image field (another field, or no multipart at all), a truncated JPEG
    error(alice.client.post(url, files={"photo": ("o.jpg", face_bytes("obama.jpg"))}), 400, "image_required")
    error(alice.client.post(url, json={"image": "x"}), 400, "image_required")
    error(alice.client.post(url, files={"image": ("o.jpg", truncated_jpeg())}), 400, "invalid_image")
    # 404: unknown identity
    error(
        alice.client.post(
            f"/api/v1/identity/{'f' * 32}/profile-image", files={"image": ("o.jpg", face_bytes("obama.jpg"))}
        ),
        404,
        "identity_not_found",
    )
    # 415: anything but JPEG or PNG, by its bytes
    gif = (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )
    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24
    for name, data in (("a.gif", gif), ("a.webp", webp), ("a.jpg", b"just some text, not a photo")):
        error(
            alice.client.post(url, files={"image": (name, data, "image/jpeg")}), 415, "unsupported_media_type"
        )
    # 422: not exactly one clear face
    detail = error(
        alice.client.post(url, files={"image": ("two.jpg", face_bytes("two_people.jpg"))}),
        422,
        "face_rejected",
    )
    assert "2 faces" in detail["message"]
    error(alice.client.post(url, files={"image": ("grey.png", png_bytes(256, 256))}), 422, "face_rejected")
    error(alice.client.get(url), 404, "profile_image_not_found")


def test_audit_of_a_malformed_identity_uuid_is_422(alice: MediaUser) -> None:
    error(alice.client.get("/api/v1/identities/audit?identity_uuid=nope"), 422, "invalid_request")
    assert json.loads(alice.client.get("/api/v1/identities/audit").text)["entries"] == []
