"""The README's collection workflow script, run against the local stack: a manifest with the
spec's columns, pilot, bulk, downloads, a rerun that resubmits only the rows that did not finish,
a pilot that fails holding the bulk back, and rows wearing a saved avatar."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser
from tests.helpers import GARMENTS, ROOT, face_bytes
from tests.image_server import FileServer, serving_files

pytestmark = pytest.mark.e2e
# the wardrobe spec's manifest columns, and a saved avatar per row
FIELDS = [
    "sku",
    "name",
    "front_image_url",
    "back_image_url",
    "prompt",
    "camera",
    "model_slug",
    "aspect_ratio",
    "resolution",
    "num_images",
    "avatar_id",
]
COMMON = {
    "prompt": "studio, clean light",
    "camera": "photo",
    "aspect_ratio": "3:4",
    "resolution": "1K",
    "num_images": "1",
    "model_slug": "classical",
    "avatar_id": "",
}


def _script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "wardrobe_collection", ROOT / "examples" / "wardrobe_collection.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest(path: Path, rows: list[dict[str, str]], fields: list[str] = FIELDS) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _row(sku: str, front: str, back: str = "", **fields: str) -> dict[str, str]:
    return {"sku": sku, "name": sku, "front_image_url": front, "back_image_url": back, **COMMON, **fields}


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    with serving_files() as server:
        server.serve("/dress.jpg", (GARMENTS / "dress_red.jpg").read_bytes(), "image/jpeg")
        server.serve("/model.jpg", face_bytes("obama.jpg"), "image/jpeg")
        yield server


@pytest.fixture
def user(make_user: Any, local_stack: Any) -> ApiUser:
    from tests.e2e.polling import add_library_faces

    admin: ApiUser = make_user()
    admin.client.headers["X-API-Key"] = local_stack.info.api_key
    add_library_faces(admin, ("alex-lacamoire.png",))  # a library model photo
    made: ApiUser = make_user(credits=100)
    return made


def _batch_total(user: ApiUser, state: dict[str, Any]) -> int:
    resp = user.client.get("/generations", params={"batch_id": state["_batch_id"]})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total_count"])


def test_collection_pilot_bulk_and_retry_of_failed_rows(
    user: ApiUser, api_url: str, tmp_path: Path, files: FileServer
) -> None:
    rows = [
        _row("TEE-1", str(GARMENTS / "tshirt_front.png"), str(GARMENTS / "tshirt_back.png")),
        _row("DRS-1", files.base_url + "/dress.jpg"),  # a URL the API fetches
        # a bad row: a model this deployment does not have
        _row("JNS-1", str(GARMENTS / "jeans_blue.webp"), model_slug="nano-banana-9"),
    ]
    manifest, out = tmp_path / "collection.csv", tmp_path / "out"
    _manifest(manifest, rows)
    script = _script()

    first = script.run(api_url, user.api_key, manifest, out, pilot=1)
    assert first["TEE-1"]["status"] == "Done" and first["DRS-1"]["status"] == "Done"
    assert first["JNS-1"]["status"] == "Rejected" and "no model 'nano-banana-9'" in first["JNS-1"]["error"]
    assert all(Path(f).stat().st_size > 0 for f in first["TEE-1"]["files"] + first["DRS-1"]["files"])
    assert files.count("/dress.jpg") == 1
    done_ids = {sku: first[sku]["generation_id"] for sku in ("TEE-1", "DRS-1")}

    rows[2]["model_slug"] = "classical"
    _manifest(manifest, rows)
    second = script.run(api_url, user.api_key, manifest, out, pilot=1)
    assert {sku: second[sku]["generation_id"] for sku in done_ids} == done_ids  # not resubmitted
    assert second["JNS-1"]["status"] == "Done" and second["JNS-1"]["files"]
    assert _batch_total(user, second) == 3


def test_a_failed_pilot_holds_the_bulk_back(user: ApiUser, api_url: str, tmp_path: Path) -> None:
    rows = [
        _row("JNS-1", str(GARMENTS / "jeans_blue.webp"), model_slug="nano-banana-9"),  # the pilot
        _row("TEE-1", str(GARMENTS / "tshirt_front.png")),
        _row("DRS-1", str(GARMENTS / "dress_red.jpg")),
    ]
    manifest, out = tmp_path / "collection.csv", tmp_path / "out"
    _manifest(manifest, rows)
    script = _script()

    first = script.run(api_url, user.api_key, manifest, out, pilot=1)
    assert first["JNS-1"]["status"] == "Rejected"
    assert "TEE-1" not in first and "DRS-1" not in first  # the bulk never ran
    assert _batch_total(user, first) == 0

    rows[0]["model_slug"] = "classical"
    _manifest(manifest, rows)
    second = script.run(api_url, user.api_key, manifest, out, pilot=1)
    assert [second[sku]["status"] for sku in ("JNS-1", "TEE-1", "DRS-1")] == ["Done"] * 3
    assert _batch_total(user, second) == 3


def test_rows_wear_a_saved_avatar(user: ApiUser, api_url: str, tmp_path: Path, files: FileServer) -> None:
    resp = user.client.post(
        "/avatar", json={"avatar_name": "House model", "avatar_url": files.base_url + "/model.jpg"}
    )
    assert resp.status_code == 201, resp.text
    avatar = int(resp.json()["avatar_id"])
    rows = [
        _row("TEE-1", str(GARMENTS / "tshirt_front.png"), avatar_id=str(avatar)),
        _row("DRS-1", str(GARMENTS / "dress_red.jpg"), avatar_id=f" {avatar} "),
        _row("JNS-1", str(GARMENTS / "jeans_blue.webp"), avatar_id="house model"),  # not an id
        _row("SKT-1", str(GARMENTS / "tshirt_front.png"), avatar_id="987654321"),  # nobody's
        _row("HAT-1", ""),  # no front image
    ]
    manifest, out = tmp_path / "collection.csv", tmp_path / "out"
    _manifest(manifest, rows)

    state = _script().run(api_url, user.api_key, manifest, out, pilot=1)
    for sku in ("TEE-1", "DRS-1"):
        assert state[sku]["status"] == "Done" and state[sku]["avatar_id"] == avatar, state[sku]
        generation = user.client.get(f"/generation/{state[sku]['generation_id']}").json()
        assert generation["avatar_id"] == avatar
    assert user.client.get(f"/avatar/{avatar}").json()["count_generation_results"] == 2
    assert state["JNS-1"]["status"] == "Rejected" and "avatar_id" in state["JNS-1"]["error"]
    assert state["SKT-1"]["status"] == "Rejected" and state["SKT-1"]["error"].startswith("404")
    assert state["HAT-1"]["status"] == "Rejected" and "front image" in state["HAT-1"]["error"]
    assert _batch_total(user, state) == 2


def test_the_short_column_names_work_and_a_manifest_without_a_front_image_is_refused(
    user: ApiUser, api_url: str, tmp_path: Path
) -> None:
    short = ["sku", "name", "front_image", "back_image", *FIELDS[4:-1]]
    row = {"sku": "TEE-1", "name": "Tee", "front_image": str(GARMENTS / "tshirt_front.png"), "back_image": ""}
    row.update({k: v for k, v in COMMON.items() if k != "avatar_id"})
    manifest, out = tmp_path / "short.csv", tmp_path / "out"
    _manifest(manifest, [row], short)
    script = _script()
    assert script.run(api_url, user.api_key, manifest, out)["TEE-1"]["status"] == "Done"

    no_front = [f for f in FIELDS if f != "front_image_url"]
    _manifest(manifest, [], no_front)
    with pytest.raises(ValueError, match="front_image_url"):
        script.run(api_url, user.api_key, manifest, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
