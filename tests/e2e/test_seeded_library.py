"""The local stack seeds the default library (infra/local/library), so library-assisted
generation works on a fresh stack without anyone adding faces: the session's stack is started
with seed=True, as `make run` is."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser, bucket_keys
from tests.e2e.polling import wait_for_job

pytestmark = pytest.mark.e2e


def test_the_seeded_library_is_there_preprocessed(make_user: Any, local_stack: Any) -> None:
    from infra.local.stack import PORTRAITS

    dev: ApiUser = make_user()
    dev.client.headers["X-API-Key"] = local_stack.info.api_key  # the seeded developer key
    resp = dev.client.get("/identity", params={"visibility": "default", "page_size": 100})
    assert resp.status_code == 200, resp.text
    seeded = {i["name"]: i for i in resp.json()["data"] if i["name"] in PORTRAITS}
    assert set(seeded) == set(PORTRAITS)
    # the stack waited for their preprocessing before it said it was up
    assert {i["preprocessing_status"] for i in seeded.values()} == {"completed"}


def test_library_assisted_avatar_on_the_classical_engine_with_the_seeded_library(
    make_user: Any, local_stack: Any
) -> None:
    from PIL import Image

    user: ApiUser = make_user(credits=100)
    resp = user.client.post(
        "/api/v1/avatars/generate", json={"prompt": "a calm narrator in their forties", "engine": "classical"}
    )
    assert resp.status_code == 202, resp.text
    job = wait_for_job(user, resp.json()["job_id"])
    assert job["status"] == "completed", job
    avatar = job["data"]["avatar"]
    assert avatar["details"]["operation"] == "new_face"
    sources = avatar["details"]["sources"]
    assert len(sources) == 2 and all(s.startswith("library identity ") for s in sources)

    # the picture is stored: its URL serves it, and the object is in the bucket under the job
    image = httpx.get(avatar["image_url"], timeout=30)
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as im:
        assert im.size[0] > 0 and im.size[1] > 0
    assert any(job["id"] in key for key in bucket_keys())

    # the faces it blended are default identities (the seeded ones, unless a test added more)
    dev: ApiUser = make_user()
    dev.client.headers["X-API-Key"] = local_stack.info.api_key
    listed = dev.client.get("/identity", params={"visibility": "default", "page_size": 100}).json()["data"]
    library = {i["identity_code"]: i["name"] for i in listed}
    used = [s.removeprefix("library identity ") for s in sources]
    assert all(code in library for code in used)
