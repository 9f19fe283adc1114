"""Clothing items over HTTP (wardrobe spec): create from files or URLs, enhancement and its credit,
the errors a caller can cause, pagination, update, and the delete cascade."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser, bucket_keys
from tests.e2e.polling import credits_of
from tests.helpers import GARMENTS, error_code, png_bytes, truncated_jpeg
from tests.image_server import FileServer, serving_files

PUBLIC_FIELDS = {
    "clothing_item_id",
    "clothing_item_name",
    "description",
    "description_back",
    "clothing_item_url",
    "clothing_item_back_url",
    "external_clothing_item_url",
    "external_clothing_item_back_url",
    "created_at",
    "updated_at",
}


def garment(name: str) -> bytes:
    return (GARMENTS / name).read_bytes()


def create(
    user: ApiUser,
    *,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST /clothing-item as multipart form data (url-encoded when there are no files)."""
    form = {"clothing_item_name": "Striped tee"}
    form.update({k: str(v).lower() if isinstance(v, bool) else v for k, v in fields.items()})
    return user.client.post("/clothing-item", data=form, files=files)


def upload_plain(user: ApiUser, name: str = "Plain item") -> dict[str, Any]:
    resp = create(
        user,
        clothing_item_name=name,
        use_image_enhancement=False,
        files={"file": ("dress.jpg", garment("dress_red.jpg"), "image/jpeg")},
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def fetch(url: str) -> httpx.Response:
    resp = httpx.get(url, timeout=30)
    assert resp.status_code == 200, url
    return resp


def open_image(data: bytes) -> Any:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def total_items(user: ApiUser) -> int:
    resp = user.client.get("/clothing-items")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total_count"])


@pytest.fixture(scope="module")
def files_server() -> Iterator[FileServer]:
    with serving_files() as server:
        yield server


# ---------------------------------------------------------------------------- create


def test_upload_with_enhancement_stores_cutouts_and_measured_descriptions(alice: ApiUser) -> None:
    before = credits_of(alice)
    resp = create(
        alice,
        files={
            "file": ("front.png", garment("tshirt_front.png"), "image/png"),
            "back_file": ("back.png", garment("tshirt_back.png"), "image/png"),
        },
    )
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert set(item) == PUBLIC_FIELDS
    assert isinstance(item["clothing_item_id"], int)
    assert resp.headers["location"] == f"/clothing-item/{item['clothing_item_id']}"
    assert item["clothing_item_name"] == "Striped tee"
    assert item["external_clothing_item_url"] == "" and item["external_clothing_item_back_url"] == ""
    assert credits_of(alice) == before - 1  # one credit for the item, front and back together

    # the cut-outs: PNGs with alpha, served from our storage, transparent around the garment
    for url in (item["clothing_item_url"], item["clothing_item_back_url"]):
        assert f"clothing-items/{alice.account_id}/{item['clothing_item_id']}/" in url
        served = fetch(url)
        assert served.headers["content-type"] == "image/png"
        image = open_image(served.content)
        assert image.mode == "RGBA"
        w, h = image.size
        corners = [image.getpixel(p)[3] for p in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1))]
        assert max(corners) == 0, corners
        assert image.getpixel((w // 2, h // 2))[3] == 255  # the garment itself is opaque

    # descriptions written from what was measured: a navy tee with white stripes
    for text in (item["description"], item["description_back"]):
        assert text, item
        assert any(word in text.lower() for word in ("navy", "white", "blue", "stripe")), text

    again = alice.client.get(f"/clothing-item/{item['clothing_item_id']}")
    assert again.status_code == 200
    assert {k: v for k, v in again.json().items() if not k.endswith("url")} == {
        k: v for k, v in item.items() if not k.endswith("url")
    }


def test_a_given_description_wins_over_the_measured_one(alice: ApiUser) -> None:
    resp = create(
        alice,
        description="Oversized fit, dropped shoulders",
        files={"file": ("front.png", garment("tshirt_front.png"), "image/png")},
    )
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert item["description"] == "Oversized fit, dropped shoulders"
    # no back image: no back view, and nothing to describe
    assert item["clothing_item_back_url"] == "" and item["description_back"] == ""


def test_url_without_enhancement_is_stored_as_sent_and_free(alice: ApiUser, files_server: FileServer) -> None:
    dress = garment("dress_red.jpg")
    url = files_server.serve("/dress_red.jpg", dress, "image/jpeg")
    before = credits_of(alice)
    resp = create(
        alice,
        clothing_item_name="Red dress",
        clothing_item_url=url,
        description="Red A-line dress, knee length",
        use_image_enhancement=False,
        # what an HTML form sends for a file input left empty: not an upload
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert item["external_clothing_item_url"] == url
    assert item["external_clothing_item_back_url"] == ""
    assert item["description"] == "Red A-line dress, knee length"
    assert item["description_back"] == ""
    assert item["clothing_item_back_url"] == ""
    assert credits_of(alice) == before
    # our copy, not the caller's URL
    assert item["clothing_item_url"] != url
    served = fetch(item["clothing_item_url"])
    assert served.headers["content-type"] == "image/jpeg" and served.content == dress


def test_a_json_body_works_like_the_form(alice: ApiUser, files_server: FileServer) -> None:
    url = files_server.serve("/jeans.webp", garment("jeans_blue.webp"), "image/webp")
    resp = alice.client.post(
        "/clothing-item",
        json={"clothing_item_name": "Jeans", "clothing_item_url": url, "use_image_enhancement": False},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["external_clothing_item_url"] == url
    assert fetch(resp.json()["clothing_item_url"]).headers["content-type"] == "image/webp"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("file_and_url", 400, "image_source_conflict"),
        ("back_file_and_url", 400, "image_source_conflict"),
        ("neither", 422, "image_required"),
        ("no_name", 422, "invalid_request"),
        ("metadata_url", 400, "url_not_allowed"),
        ("url_404", 400, "url_bad_status"),
        ("url_not_an_image", 415, "url_unsupported_content_type"),
        ("url_lies_about_type", 415, "unsupported_media_type"),
        ("truncated_upload", 422, "image_rejected"),
        ("text_upload", 415, "unsupported_media_type"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_write_nothing(
    make_user: Callable[..., ApiUser], files_server: FileServer, case: str, status: int, code: str
) -> None:
    user = make_user()
    good_url = files_server.serve("/ok.jpg", garment("dress_red.jpg"), "image/jpeg")
    front = {"file": ("front.png", garment("tshirt_front.png"), "image/png")}
    requests: dict[str, dict[str, Any]] = {
        "file_and_url": {"files": front, "clothing_item_url": good_url},
        "back_file_and_url": {
            "files": {**front, "back_file": ("b.png", garment("tshirt_back.png"), "image/png")},
            "clothing_item_back_url": good_url,
        },
        "neither": {"description": "no image at all"},
        "no_name": {"files": front, "clothing_item_name": ""},
        "metadata_url": {"clothing_item_url": "http://169.254.169.254/latest/meta-data/x"},
        "url_404": {"clothing_item_url": files_server.serve("/gone.jpg", b"gone", "text/plain", status=404)},
        "url_not_an_image": {
            "clothing_item_url": files_server.serve("/page.html", b"<html></html>", "text/html")
        },
        "url_lies_about_type": {
            "clothing_item_url": files_server.serve("/fake.jpg", b"this is not a jpeg" * 20, "image/jpeg")
        },
        "truncated_upload": {"files": {"file": ("cut.jpg", truncated_jpeg(), "image/jpeg")}},
        "text_upload": {"files": {"file": ("notes.txt", b"just some text" * 50, "text/plain")}},
    }
    before = credits_of(user)
    resp = create(user, **requests[case])
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    assert total_items(user) == 0
    assert credits_of(user) == before
    assert bucket_keys(f"clothing-items/{user.account_id}/") == []


def test_enhancement_without_credits_is_402_and_writes_nothing(make_user: Callable[..., ApiUser]) -> None:
    broke = make_user(credits=0)
    resp = create(broke, files={"file": ("front.png", garment("tshirt_front.png"), "image/png")})
    assert resp.status_code == 402, resp.text
    detail = resp.json()["detail"]
    assert detail["code"] == "insufficient_credits" and "use_image_enhancement" in detail["fix"]
    assert total_items(broke) == 0 and credits_of(broke) == 0
    assert bucket_keys(f"clothing-items/{broke.account_id}/") == []
    # the same photo without enhancement costs nothing
    resp = create(
        broke,
        use_image_enhancement=False,
        files={"file": ("front.png", garment("tshirt_front.png"), "image/png")},
    )
    assert resp.status_code == 201, resp.text


def test_a_photo_without_a_garment_is_422_and_not_charged(alice: ApiUser) -> None:
    before = credits_of(alice)
    count = total_items(alice)
    resp = create(alice, files={"file": ("grey.png", png_bytes(400, 400), "image/png")})
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail["code"] == "garment_not_found" and detail["message"]
    assert credits_of(alice) == before and total_items(alice) == count


# ---------------------------------------------------------------------------- reads and access


def test_another_accounts_item_and_unknown_ids_are_404(alice: ApiUser, bob: ApiUser) -> None:
    item = upload_plain(alice)
    item_id = item["clothing_item_id"]
    for resp in (
        bob.client.get(f"/clothing-item/{item_id}"),
        bob.client.put(f"/clothing-item/{item_id}", json={"clothing_item_name": "mine now"}),
        bob.client.delete(f"/clothing-item/{item_id}"),
        alice.client.get("/clothing-item/999999999"),
        alice.client.put("/clothing-item/999999999", json={"clothing_item_name": "x"}),
        alice.client.delete("/clothing-item/999999999"),
    ):
        assert resp.status_code == 404, resp.text
        assert resp.json()["detail"]["code"] == "clothing_item_not_found"
    assert bob.client.get("/clothing-items").json()["total_count"] == 0
    assert alice.client.get(f"/clothing-item/{item_id}").json()["clothing_item_name"] == "Plain item"


def test_scopes_read_and_write(make_user: Callable[..., ApiUser]) -> None:
    reader = make_user(scopes=("identities:read",))
    assert reader.client.get("/clothing-items").status_code == 200
    resp = create(reader, files={"file": ("d.jpg", garment("dress_red.jpg"), "image/jpeg")})
    assert resp.status_code == 403, resp.text


def test_list_paginates_newest_first(make_user: Callable[..., ApiUser]) -> None:
    user = make_user()
    ids = [upload_plain(user, name=f"item {i}")["clothing_item_id"] for i in range(3)]
    first = user.client.get("/clothing-items", params={"page": 1, "items_per_page": 2}).json()
    assert set(first) == {"current_page", "max_page", "total_count", "data"}
    assert (first["current_page"], first["max_page"], first["total_count"]) == (1, 2, 3)
    assert [i["clothing_item_id"] for i in first["data"]] == [ids[2], ids[1]]
    assert set(first["data"][0]) == PUBLIC_FIELDS
    second = user.client.get("/clothing-items", params={"page": 2, "items_per_page": 2}).json()
    assert [i["clothing_item_id"] for i in second["data"]] == [ids[0]]
    beyond = user.client.get("/clothing-items", params={"page": 5, "items_per_page": 2}).json()
    assert beyond["data"] == [] and beyond["total_count"] == 3
    default = user.client.get("/clothing-items").json()
    assert default["current_page"] == 1 and default["max_page"] == 1 and len(default["data"]) == 3
    assert user.client.get("/clothing-items", params={"items_per_page": 0}).status_code == 422


# ---------------------------------------------------------------------------- update


def test_update_changes_name_and_descriptions(alice: ApiUser, files_server: FileServer) -> None:
    item = upload_plain(alice)
    item_id = item["clothing_item_id"]
    time.sleep(0.01)
    resp = alice.client.put(
        f"/clothing-item/{item_id}",
        json={"clothing_item_id": str(item_id), "clothing_item_name": "Summer dress", "description": "Red"},
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert updated["clothing_item_name"] == "Summer dress" and updated["description"] == "Red"
    assert updated["description_back"] == "" and updated["created_at"] == item["created_at"]
    assert updated["updated_at"] > item["updated_at"]

    # form fields work too, and an image URL replaces the stored image (as sent)
    url = files_server.serve("/new-front.webp", garment("jeans_blue.webp"), "image/webp")
    resp = alice.client.put(
        f"/clothing-item/{item_id}", data={"description_back": "Zip at the back", "clothing_item_url": url}
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert (
        updated["description_back"] == "Zip at the back" and updated["clothing_item_name"] == "Summer dress"
    )
    assert updated["external_clothing_item_url"] == url
    assert fetch(updated["clothing_item_url"]).content == garment("jeans_blue.webp")
    keys = bucket_keys(f"clothing-items/{alice.account_id}/{item_id}/")
    assert len(keys) == 1 and keys[0].endswith(".webp")  # the old image is gone

    bad = alice.client.put(f"/clothing-item/{item_id}", json={"clothing_item_name": ""})
    assert bad.status_code == 422
    hostile = alice.client.put(
        f"/clothing-item/{item_id}", json={"clothing_item_url": "http://169.254.169.254/"}
    )
    assert hostile.status_code == 400 and hostile.json()["detail"]["code"] == "url_not_allowed"
    assert alice.client.get(f"/clothing-item/{item_id}").json()["external_clothing_item_url"] == url


# ---------------------------------------------------------------------------- delete


def _fake_generation(account_id: str, clothing_item_id: int) -> tuple[tuple[str, str], ...]:
    """A generation row, its job and one result row that name the item, as the generation
    surface writes them."""
    from likeness.jobs.models import new_job_item
    from likeness.wardrobe.ids import IdAllocator
    from likeness.wardrobe.store import (
        GENERATION_INDEX_PREFIX,
        GENERATION_JOB_TYPE,
        clothing_links,
        generation_key,
        generation_result_key,
    )
    from likeness.wiring import table

    db = table()
    ids = IdAllocator(table=db)
    generation_id = ids.allocate("generation")
    result_id = ids.allocate("generation_result")
    now = "2024-01-01T00:00:00.000Z"
    generation_pk, generation_sk = generation_key(generation_id)
    db.put(
        {
            "PK": generation_pk,
            "SK": generation_sk,
            "GSI1PK": f"ACCOUNT#{account_id}",
            "GSI1SK": f"WGEN#{now}#{generation_id}",
            "generation_id": generation_id,
            "account_id": account_id,
            "job_id": f"missing-job-{generation_id}",
            "clothing_item_ids": [clothing_item_id],
        }
    )
    db.transact(
        clothing_links(
            account_id=account_id,
            generation_id=generation_id,
            job_id=f"missing-job-{generation_id}",
            clothing_item_ids=[clothing_item_id],
        )
    )
    job = new_job_item(
        job_id=f"missing-job-{generation_id}",
        job_type=GENERATION_JOB_TYPE,
        account_id=account_id,
        inputs={"generation_id": generation_id, "result_ids": [result_id]},
        index_prefix=GENERATION_INDEX_PREFIX,
    )
    db.put(job | {"state": "succeeded"})
    result_pk, result_sk = generation_result_key(result_id)
    db.put(
        {
            "PK": result_pk,
            "SK": result_sk,
            "GSI1PK": f"ACCOUNT#{account_id}",
            "GSI1SK": f"WRES#{now}#{result_id}",
            "generation_result_id": result_id,
            "generation_id": generation_id,
            "account_id": account_id,
            "result_id": f"missing-result-{result_id}",
        }
    )
    return (generation_pk, generation_sk), (result_pk, result_sk)


def test_delete_removes_the_item_its_files_and_its_generations(alice: ApiUser) -> None:
    from likeness.wiring import table

    item = upload_plain(alice)
    item_id = item["clothing_item_id"]
    other = upload_plain(alice)
    doomed = _fake_generation(alice.account_id, item_id)
    kept = _fake_generation(alice.account_id, other["clothing_item_id"])
    assert bucket_keys(f"clothing-items/{alice.account_id}/{item_id}/")

    resp = alice.client.delete(f"/clothing-item/{item_id}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"message": "Clothing item deleted successfully"}
    assert error_code(alice.client.get(f"/clothing-item/{item_id}"), 404) == "clothing_item_not_found"
    assert bucket_keys(f"clothing-items/{alice.account_id}/{item_id}/") == []
    assert all(table().get(*key) is None for key in doomed)
    assert all(table().get(*key) is not None for key in kept)
    assert alice.client.get(f"/clothing-item/{other['clothing_item_id']}").status_code == 200
    assert error_code(alice.client.delete(f"/clothing-item/{item_id}"), 404) == "clothing_item_not_found"
