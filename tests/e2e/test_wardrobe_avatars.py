"""Wardrobe avatars over HTTP (wardrobe spec, /avatar(s)): saved from an image URL, the one-face
rule, the enhancement refusal, list / get / update / delete, and access between accounts."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser, bucket_keys
from tests.helpers import error_code, face_bytes
from tests.image_server import FileServer, serving_files

PUBLIC_FIELDS = {
    "avatar_id",
    "avatar_name",
    "avatar_url",
    "thumbnail_url",
    "avatar_description",
    "count_generation_results",
    "generation_result_id",
    "created_at",
    "updated_at",
}


@pytest.fixture(scope="module")
def files_server() -> Iterator[FileServer]:
    with serving_files() as server:
        server.serve("/obama.jpg", face_bytes("obama.jpg"), "image/jpeg")
        server.serve("/group.jpg", face_bytes("obama_and_biden.jpg"), "image/jpeg")
        server.serve("/page.html", b"<html>hello</html>", "text/html")
        yield server


def save(user: ApiUser, server: FileServer, path: str = "/obama.jpg", **fields: Any) -> httpx.Response:
    body = {"avatar_name": "Summer Model", "avatar_url": server.base_url + path, **fields}
    return user.client.post("/avatar", json=body)


def saved(user: ApiUser, server: FileServer, **fields: Any) -> dict[str, Any]:
    resp = save(user, server, **fields)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def total(user: ApiUser) -> int:
    resp = user.client.get("/avatars")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total_count"])


def test_save_from_a_url_keeps_our_copy_and_a_thumbnail(alice: ApiUser, files_server: FileServer) -> None:
    from PIL import Image

    resp = save(alice, files_server, avatar_description={"body": "athletic male", "age": 47})
    assert resp.status_code == 201, resp.text
    avatar = resp.json()
    assert set(avatar) == PUBLIC_FIELDS
    assert isinstance(avatar["avatar_id"], int)
    assert resp.headers["location"] == f"/avatar/{avatar['avatar_id']}"
    assert avatar["avatar_name"] == "Summer Model"
    assert avatar["avatar_description"] == {"body": "athletic male", "age": 47}
    assert avatar["count_generation_results"] == 0
    assert avatar["generation_result_id"] is None

    image = httpx.get(avatar["avatar_url"], timeout=30)
    assert image.status_code == 200 and image.content == face_bytes("obama.jpg")
    assert f"wardrobe-avatars/{alice.account_id}/{avatar['avatar_id']}/" in avatar["avatar_url"]
    thumb = httpx.get(avatar["thumbnail_url"], timeout=30)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as im:
        assert im.format == "JPEG" and max(im.size) == 256

    got = alice.client.get(f"/avatar/{avatar['avatar_id']}")
    assert got.status_code == 200
    assert {k: v for k, v in got.json().items() if not k.endswith("url")} == {
        k: v for k, v in avatar.items() if not k.endswith("url")
    }


def test_description_defaults_to_nulls(alice: ApiUser, files_server: FileServer) -> None:
    avatar = saved(alice, files_server)
    assert avatar["avatar_description"] == {"body": None, "age": None}


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"path": "/group.jpg"}, 422, "face_rejected"),
        ({"avatar_enhancement": True}, 422, "enhancement_unavailable"),
        ({"avatar_url": "http://169.254.169.254/latest/meta-data/"}, 400, "url_not_allowed"),
        ({"path": "/missing.jpg"}, 400, "url_bad_status"),
        ({"path": "/page.html"}, 415, "url_unsupported_content_type"),
        ({"avatar_url": None}, 422, "image_required"),
        ({"avatar_url": None, "generation_result_id": 987654321}, 404, "generation_result_not_found"),
        ({"avatar_name": ""}, 422, "invalid_request"),
        ({"avatar_description": {"age": -3}}, 422, "invalid_request"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_write_nothing(
    make_user: Callable[..., ApiUser],
    files_server: FileServer,
    fields: dict[str, Any],
    status: int,
    code: str,
) -> None:
    user = make_user()
    fields = dict(fields)
    path = fields.pop("path", "/obama.jpg")
    resp = save(user, files_server, path, **fields)
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    assert total(user) == 0
    assert bucket_keys(f"wardrobe-avatars/{user.account_id}/") == []


def test_enhancement_is_refused_without_inventing_or_fetching(
    alice: ApiUser, files_server: FileServer
) -> None:
    files_server.serve("/enhance-me.jpg", face_bytes("obama.jpg"), "image/jpeg")
    resp = save(alice, files_server, "/enhance-me.jpg", avatar_enhancement=True)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail["code"] == "enhancement_unavailable"
    assert "body type" in detail["message"] and "age" in detail["message"]
    assert "avatar_description" in detail["fix"] and "avatar_enhancement" in detail["fix"]
    assert files_server.count("/enhance-me.jpg") == 0


def test_group_photo_names_the_reason(alice: ApiUser, files_server: FileServer) -> None:
    resp = save(alice, files_server, "/group.jpg")
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail["code"] == "face_rejected" and detail["reason"] == "multiple_faces"


def test_list_get_update_delete(make_user: Callable[..., ApiUser], files_server: FileServer) -> None:
    user = make_user()
    ids = [saved(user, files_server, avatar_name=f"model {i}")["avatar_id"] for i in range(3)]

    first = user.client.get("/avatars", params={"page": 1, "items_per_page": 2}).json()
    assert set(first) == {"current_page", "max_page", "total_count", "data"}
    assert (first["current_page"], first["max_page"], first["total_count"]) == (1, 2, 3)
    assert [a["avatar_id"] for a in first["data"]] == [ids[2], ids[1]]  # newest first
    assert set(first["data"][0]) == PUBLIC_FIELDS
    assert all(a["count_generation_results"] == 0 for a in first["data"])
    second = user.client.get("/avatars", params={"page": 2, "items_per_page": 2}).json()
    assert [a["avatar_id"] for a in second["data"]] == [ids[0]]

    target = ids[0]
    before = user.client.get(f"/avatar/{target}").json()
    time.sleep(0.01)
    resp = user.client.put(
        f"/avatar/{target}",
        json={
            "avatar_id": str(target),
            "avatar_name": "Fashion Model Pro",
            "avatar_description": {"age": 28},
        },
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert updated["avatar_name"] == "Fashion Model Pro"
    assert updated["avatar_description"] == {"body": None, "age": 28}
    assert updated["updated_at"] > before["updated_at"] and updated["created_at"] == before["created_at"]
    resp = user.client.put(f"/avatar/{target}", json={"avatar_description": {"body": "tall", "age": None}})
    assert resp.json()["avatar_description"] == {"body": "tall", "age": None}
    assert resp.json()["avatar_name"] == "Fashion Model Pro"

    prefix = f"wardrobe-avatars/{user.account_id}/{target}/"
    assert len(bucket_keys(prefix)) == 2  # the image and its thumbnail
    resp = user.client.delete(f"/avatar/{target}")
    assert resp.status_code == 200
    assert resp.json() == {"message": "Avatar deleted successfully"}
    assert error_code(user.client.get(f"/avatar/{target}"), 404) == "avatar_not_found"
    assert bucket_keys(prefix) == []
    assert total(user) == 2
    assert error_code(user.client.delete(f"/avatar/{target}"), 404) == "avatar_not_found"


def test_another_accounts_avatar_and_unknown_ids_are_404(
    alice: ApiUser, bob: ApiUser, files_server: FileServer
) -> None:
    avatar_id = saved(alice, files_server)["avatar_id"]
    for resp in (
        bob.client.get(f"/avatar/{avatar_id}"),
        bob.client.put(f"/avatar/{avatar_id}", json={"avatar_name": "mine now"}),
        bob.client.delete(f"/avatar/{avatar_id}"),
        alice.client.get("/avatar/999999999"),
        alice.client.put("/avatar/999999999", json={"avatar_name": "x"}),
        alice.client.delete("/avatar/999999999"),
    ):
        assert resp.status_code == 404, resp.text
        assert resp.json()["detail"]["code"] == "avatar_not_found"
    assert bob.client.get("/avatars").json()["total_count"] == 0
    assert alice.client.get(f"/avatar/{avatar_id}").json()["avatar_name"] == "Summer Model"


def test_image_for_generation_is_the_owners_only(
    alice: ApiUser, bob: ApiUser, files_server: FileServer
) -> None:
    from likeness.errors import NotFound
    from likeness.wiring import wardrobe_avatar_service

    avatar_id = saved(alice, files_server)["avatar_id"]
    service = wardrobe_avatar_service()
    assert service.image_for_generation(account_id=alice.account_id, avatar_id=avatar_id) == face_bytes(
        "obama.jpg"
    )
    with pytest.raises(NotFound) as caught:
        service.image_for_generation(account_id=bob.account_id, avatar_id=avatar_id)
    assert caught.value.error_code == "avatar_not_found"


def _fake_result(account_id: str, data: bytes, *, avatar_id: int | None = None) -> int:
    """A stored generation result, as the generation surface records one (WRES -> RESULT -> file)."""
    import uuid

    from likeness.aws.dynamodb import TransactItem
    from likeness.jobs.models import job_prefix, result_key
    from likeness.wardrobe.ids import IdAllocator
    from likeness.wardrobe.store import generation_result_key, result_counts
    from likeness.wiring import blob_store, table

    db = table()
    generation_result_id = IdAllocator(table=db).allocate("generation_result")
    job_id, result_id = str(uuid.uuid4()), str(uuid.uuid4())
    key = f"{job_prefix(job_id)}result-0.jpg"
    blob_store().put(key, data, content_type="image/jpeg")
    result_pk, result_sk = result_key(result_id)
    db.put({"PK": result_pk, "SK": result_sk, "key": key, "content_type": "image/jpeg", "job_id": job_id})
    row_pk, row_sk = generation_result_key(generation_result_id)
    row: dict[str, Any] = {
        "PK": row_pk,
        "SK": row_sk,
        "GSI1PK": f"ACCOUNT#{account_id}",
        "GSI1SK": f"WRES#2024-01-01T00:00:00.000Z#{generation_result_id}",
        "generation_result_id": generation_result_id,
        "account_id": account_id,
        "result_id": result_id,
    }
    if avatar_id is not None:
        row["avatar_id"] = avatar_id
    # with the counters the surface moves beside each row
    db.transact([TransactItem(kind="Put", item=row), *result_counts([row], 1)])
    return generation_result_id


def test_save_from_a_generation_result_and_count_its_uses(
    alice: ApiUser, bob: ApiUser, files_server: FileServer
) -> None:
    result_id = _fake_result(alice.account_id, face_bytes("obama2.jpg"))
    # the result wins over a URL sent beside it: the URL is not fetched
    files_server.serve("/beside.jpg", face_bytes("obama.jpg"), "image/jpeg")
    resp = save(alice, files_server, "/beside.jpg", generation_result_id=result_id)
    assert resp.status_code == 201, resp.text
    avatar = resp.json()
    assert avatar["generation_result_id"] == result_id
    assert files_server.count("/beside.jpg") == 0
    assert httpx.get(avatar["avatar_url"], timeout=30).content == face_bytes("obama2.jpg")

    # another account cannot save alice's result
    resp = bob.client.post("/avatar", json={"avatar_name": "x", "generation_result_id": result_id})
    assert resp.status_code == 404 and resp.json()["detail"]["code"] == "generation_result_not_found"

    # results made with the avatar are counted, in get and in list
    for _ in range(2):
        _fake_result(alice.account_id, face_bytes("obama2.jpg"), avatar_id=avatar["avatar_id"])
    assert alice.client.get(f"/avatar/{avatar['avatar_id']}").json()["count_generation_results"] == 2
    listed = alice.client.get("/avatars", params={"items_per_page": 100}).json()["data"]
    assert next(a for a in listed if a["avatar_id"] == avatar["avatar_id"])["count_generation_results"] == 2
