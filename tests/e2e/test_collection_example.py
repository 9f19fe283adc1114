"""The README's collection workflow script, run against the local stack: pilot, bulk, downloads,
and a rerun that resubmits only the rows that did not finish."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser
from tests.helpers import GARMENTS, ROOT

pytestmark = pytest.mark.e2e
FIELDS = [
    "sku",
    "name",
    "front_image",
    "back_image",
    "prompt",
    "camera",
    "model_slug",
    "aspect_ratio",
    "resolution",
    "num_images",
]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "wardrobe_collection", ROOT / "examples" / "wardrobe_collection.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def test_collection_pilot_bulk_and_retry_of_failed_rows(
    make_user: Any, api_url: str, tmp_path: Path, local_stack: Any
) -> None:
    from tests.e2e.polling import add_library_faces

    admin: ApiUser = make_user()
    admin.client.headers["X-API-Key"] = local_stack.info.api_key
    add_library_faces(admin, ("alex-lacamoire.png",))
    user: ApiUser = make_user(credits=100)
    common = {
        "prompt": "studio, clean light",
        "camera": "photo",
        "aspect_ratio": "3:4",
        "resolution": "1K",
        "num_images": "1",
    }
    rows = [
        {
            "sku": "TEE-1",
            "name": "Striped tee",
            "front_image": str(GARMENTS / "tshirt_front.png"),
            "back_image": str(GARMENTS / "tshirt_back.png"),
            "model_slug": "classical",
            **common,
        },
        {
            "sku": "DRS-1",
            "name": "Red dress",
            "front_image": str(GARMENTS / "dress_red.jpg"),
            "back_image": "",
            "model_slug": "classical",
            **common,
        },
        # a bad row: a model this deployment does not have
        {
            "sku": "JNS-1",
            "name": "Jeans",
            "front_image": str(GARMENTS / "jeans_blue.webp"),
            "back_image": "",
            "model_slug": "nano-banana-9",
            **common,
        },
    ]
    manifest, out = tmp_path / "collection.csv", tmp_path / "out"
    _manifest(manifest, rows)
    script = _script()

    first = script.run(api_url, user.api_key, manifest, out, pilot=1)
    assert first["TEE-1"]["status"] == "Done" and first["DRS-1"]["status"] == "Done"
    assert first["JNS-1"]["status"] == "Rejected" and "no model 'nano-banana-9'" in first["JNS-1"]["error"]
    assert all(Path(f).stat().st_size > 0 for f in first["TEE-1"]["files"] + first["DRS-1"]["files"])
    done_ids = {sku: first[sku]["generation_id"] for sku in ("TEE-1", "DRS-1")}

    rows[2]["model_slug"] = "classical"
    _manifest(manifest, rows)
    second = script.run(api_url, user.api_key, manifest, out, pilot=1)
    assert {sku: second[sku]["generation_id"] for sku in done_ids} == done_ids  # not resubmitted
    assert second["JNS-1"]["status"] == "Done" and second["JNS-1"]["files"]
    total = user.client.get("/generations", params={"batch_id": second["_batch_id"]}).json()["total_count"]
    assert total == 3
