"""Wardrobe generations over HTTP: every use case to Done on the classical engine, the model
catalog and cameras, errors, credits and refunds, result availability, webhooks, cascades."""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.conftest import ApiUser, bucket_keys
from tests.e2e.polling import add_library_faces, credits_of
from tests.helpers import GARMENTS, error_code, wait_until
from tests.webhook_receiver import running_receiver

pytestmark = pytest.mark.e2e


def wait_for_generation(user: ApiUser, generation_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = user.client.get(f"/generation/{generation_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in ("Done", "Error"):
            return body
        assert time.monotonic() < deadline, f"generation {generation_id} still {body['status']}"
        time.sleep(0.2)


def clothing_item(
    user: ApiUser, fixture: str = "tshirt_front.png", back: str | None = "tshirt_back.png"
) -> int:
    files = {"file": (fixture, (GARMENTS / fixture).read_bytes())}
    if back:
        files["back_file"] = (back, (GARMENTS / back).read_bytes())
    resp = user.client.post("/clothing-item", data={"clothing_item_name": fixture}, files=files)
    assert resp.status_code in (200, 201), resp.text
    return int(resp.json()["clothing_item_id"])


def wardrobe_avatar(user: ApiUser, image_url: str) -> int:
    resp = user.client.post("/avatar", json={"avatar_name": "House model", "avatar_url": image_url})
    assert resp.status_code in (200, 201), resp.text
    return int(resp.json()["avatar_id"])


@pytest.fixture(scope="module")
def stylist(make_user: Callable[..., ApiUser], local_stack: Any) -> ApiUser:
    admin = make_user()
    admin.client.headers["X-API-Key"] = local_stack.info.api_key
    add_library_faces(admin, ("biden.jpg",))  # a library model photo for generate without avatar
    return make_user(credits=500)


def _png_size(url: str) -> tuple[int, int]:
    from PIL import Image

    resp = httpx.get(url, timeout=30)
    assert resp.status_code == 200
    with Image.open(io.BytesIO(resp.content)) as im:
        return im.size


def test_models_and_cameras_are_listed(stylist: ApiUser, stack_settings: Callable[..., None]) -> None:
    # this session's stack has a key for each provider (local fakes); take gemini's away
    stack_settings(LIKENESS_GEMINI_API_KEY="")
    models = {m["slug"]: m for m in stylist.client.get("/models").json()["data"]}
    assert models["classical"]["available"] is True
    for slug in ("nano-banana-2", "nano-banana-pro", "gemini-flash"):
        assert models[slug]["available"] is False
        assert "set LIKENESS_GEMINI_API_KEY" in models[slug]["unavailable_reason"]
    for slug in ("gpt-image-2-high", "seedvr2", "kling-3-pro", "seedance-2"):
        assert models[slug]["available"] is True and models[slug]["unavailable_reason"] is None
    refused = stylist.client.post(
        "/generation",
        json={"clothing_item_id": 1, "prompt": "p", "model_slug": "nano-banana-2", "num_images": 1},
    )
    assert refused.status_code == 422 and refused.json()["detail"]["code"] == "model_unavailable"
    assert "LIKENESS_GEMINI_API_KEY" in refused.json()["detail"]["message"]
    assert models["seedance-2"]["capabilities"]["audio"] is True
    # the classical engine lists only what it can do: no 21:9, no 5:4, no side view
    classical = models["classical"]["capabilities"]
    assert "21:9" not in classical["aspect_ratios"] and "5:4" not in classical["aspect_ratios"]
    assert "side" not in classical["cameras"] and "768X1024" in classical["resolutions"]
    cameras = {c["camera"]: c for c in stylist.client.get("/cameras").json()["data"]}
    assert {"photo", "full_body_front", "full_body_back"} <= set(cameras)
    assert "classical" in cameras["photo"]["engines"]


def test_generate_with_an_avatar_is_done_judged_and_charged(stylist: ApiUser, image_server: str) -> None:
    item = clothing_item(stylist)
    avatar = wardrobe_avatar(stylist, f"{image_server}/obama.jpg")
    before = credits_of(stylist)
    resp = stylist.client.post(
        "/generation",
        json={
            "clothing_item_id": item,
            "avatar_id": avatar,
            "model_slug": "classical",
            "use_case": "generate",
            "prompt": "model wearing the clothing, studio photography",
            "num_images": 2,
            "camera": "photo",
            "aspect_ratio": "3:4",
            "resolution": "1K",
        },
    )
    assert resp.status_code == 200, resp.text
    created = resp.json()
    assert created["status"] == "Created" and created["feature_name"] == "model:classical"
    assert (
        created["clothing_item_id"] == item and created["avatar_id"] == avatar and created["num_images"] == 2
    )
    assert json.loads(created["payload"])["camera"] == "photo"
    assert credits_of(stylist) == before - 2  # 1 credit per 1K image

    done = wait_for_generation(stylist, created["generation_id"])
    assert done["status"] == "Done", done
    results = done["generation_results"]
    assert len(results) == 2 and len({r["generation_result_id"] for r in results}) == 2
    for result in results:
        assert result["kind"] == "Image" and result["available"] is True and result["origin"] == "api"
        assert result["clothing_item_id"] == item and result["generation_id"] == created["generation_id"]
        # the avatar's face survives the try-on
        assert result["consistency"]["mode"] == "same_person"
        assert result["consistency"]["verdict"] == "passed", result["consistency"]
        width, height = _png_size(result["url"])
        assert max(width, height) == 1024

    one = stylist.client.get(f"/generation-result/{results[0]['generation_result_id']}").json()
    assert one["generation_id"] == created["generation_id"]
    listed = stylist.client.get(
        "/generation-results", params=[("generation_ids", created["generation_id"]), ("items_per_page", 1)]
    ).json()
    assert listed["total_count"] == 2 and listed["max_page"] == 2 and len(listed["data"]) == 1
    by_item = stylist.client.get("/generation-results", params={"clothing_item_ids": item}).json()
    assert by_item["total_count"] == 2
    # the avatar now counts its results
    assert stylist.client.get(f"/avatar/{avatar}").json()["count_generation_results"] == 2


def test_generate_without_avatar_uses_a_library_model(stylist: ApiUser) -> None:
    dress = clothing_item(stylist, "dress_red.jpg", back=None)
    resp = stylist.client.post(
        "/generation",
        json={
            "clothing_item_ids": [dress],
            "prompt": "red dress, garden",
            "num_images": 1,
            "resolution": "1K",
        },
    )
    assert resp.status_code == 200, resp.text
    done = wait_for_generation(stylist, resp.json()["generation_id"])
    assert done["status"] == "Done", done
    assert done["generation_results"][0]["available"] is True


def test_edit_upscale_and_video_chain_from_a_result_or_url(stylist: ApiUser, image_server: str) -> None:
    item = clothing_item(stylist)
    first = stylist.client.post(
        "/generation", json={"clothing_item_id": item, "prompt": "p", "num_images": 1, "resolution": "1K"}
    ).json()
    parent = wait_for_generation(stylist, first["generation_id"])["generation_results"][0][
        "generation_result_id"
    ]

    before = credits_of(stylist)
    edit = stylist.client.post(
        "/generation",
        json={
            "use_case": "edit",
            "generation_result_parent_id": parent,
            "prompt": "black and white",
            "num_images": 1,
            "resolution": "1K",
        },
    )
    assert edit.status_code == 200, edit.text
    edited = wait_for_generation(stylist, edit.json()["generation_id"])
    assert edited["status"] == "Done", edited

    upscale = stylist.client.post(
        "/generation",
        json={"use_case": "upscale", "image_url": f"{image_server}/obama_small.jpg", "upscale_factor": 2},
    )
    assert upscale.status_code == 200, upscale.text
    upscaled = wait_for_generation(stylist, upscale.json()["generation_id"])
    assert upscaled["status"] == "Done", upscaled
    assert _png_size(upscaled["generation_results"][0]["url"]) == (640, 480)

    video = stylist.client.post(
        "/generation",
        json={
            "use_case": "video",
            "generation_result_parent_id": parent,
            "duration": 3,
            "prompt": "slow zoom",
            "resolution": "720p",
        },
    )
    assert video.status_code == 200, video.text
    made = wait_for_generation(stylist, video.json()["generation_id"])
    assert made["status"] == "Done", made
    clip = made["generation_results"][0]
    assert clip["kind"] == "Video" and clip["content_type"] == "video/mp4"
    assert httpx.get(clip["url"], timeout=30).content[4:8] == b"ftyp"
    # edit 1 + upscale 1 + video 3 s x 1
    assert credits_of(stylist) == before - 1 - 1 - 3


def test_an_edit_the_engine_cannot_do_ends_in_error_and_is_refunded(
    stylist: ApiUser, image_server: str
) -> None:
    before = credits_of(stylist)
    resp = stylist.client.post(
        "/generation",
        json={
            "use_case": "edit",
            "image_url": f"{image_server}/obama.jpg",
            "prompt": "add a red hat",
            "resolution": "1K",
        },
    )
    assert resp.status_code == 200, resp.text
    failed = wait_for_generation(stylist, resp.json()["generation_id"])
    assert failed["status"] == "Error" and "cannot follow free-text prompts" in failed["error_message"]
    assert failed["generation_results"] == [] and credits_of(stylist) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {
                "use_case": "edit",
                "prompt": "grayscale",
                "generation_result_parent_id": 1,
                "image_url": "http://x/y.png",
            },
            422,
            "invalid_request",
        ),
        ({"use_case": "upscale"}, 422, "invalid_request"),
        ({"prompt": "p", "num_images": 1}, 422, "invalid_request"),
        ({"clothing_item_id": 1, "prompt": "p", "use_case": "paint"}, 422, "invalid_request"),
        ({"clothing_item_id": 1, "prompt": "p", "aspect_ratio": "7:1"}, 422, "invalid_request"),
        ({"clothing_item_id": 1, "prompt": "p", "num_images": 0}, 422, "invalid_request"),
        ({"clothing_item_id": 1, "prompt": "p", "num_images": 6}, 422, "invalid_request"),
        ({"clothing_item_id": 1, "prompt": "p", "model_slug": "no-such-model"}, 422, "unknown_model"),
        ({"clothing_item_id": 1, "prompt": "p", "camera": "drone"}, 422, "unknown_camera"),
        (
            {"use_case": "video", "image_url": "http://127.0.0.1:9/x.png", "duration": 12},
            422,
            "not_supported_by_model",
        ),
        (
            {
                "use_case": "video",
                "image_url": "http://127.0.0.1:9/x.png",
                "duration": 5,
                "generate_audio": True,
            },
            422,
            "not_supported_by_model",
        ),
        (
            {"use_case": "upscale", "image_url": "http://127.0.0.1:9/x.png", "num_images": 2},
            422,
            "not_supported_by_model",
        ),
        (
            {"clothing_item_id": 1, "prompt": "p", "img_ref_urls": ["http://127.0.0.1:9/a.png"]},
            422,
            "not_supported_by_model",
        ),
        ({"clothing_item_id": 999999, "prompt": "p"}, 404, "clothing_item_not_found"),
        ({"use_case": "upscale", "generation_result_parent_id": 999999}, 404, "generation_result_not_found"),
        (
            {"use_case": "upscale", "image_url": "http://169.254.169.254/latest/meta-data"},
            400,
            "url_not_allowed",
        ),
    ],
)
def test_bad_requests_are_refused_before_anything_is_charged(
    stylist: ApiUser, body: dict[str, Any], status: int, code: str
) -> None:
    before = credits_of(stylist), stylist.client.get("/generations").json()["total_count"]
    resp = stylist.client.post("/generation", json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]["code"] == code
    assert (credits_of(stylist), stylist.client.get("/generations").json()["total_count"]) == before


def test_another_accounts_ids_are_not_found(stylist: ApiUser, bob: ApiUser, image_server: str) -> None:
    item = clothing_item(stylist, "jeans_blue.webp", back=None)
    avatar = wardrobe_avatar(stylist, f"{image_server}/obama2.jpg")
    gen = stylist.client.post(
        "/generation", json={"clothing_item_id": item, "prompt": "p", "resolution": "1K"}
    ).json()
    result = wait_for_generation(stylist, gen["generation_id"])["generation_results"][0][
        "generation_result_id"
    ]
    assert error_code(bob.client.get(f"/generation/{gen['generation_id']}"), 404) == "generation_not_found"
    assert error_code(bob.client.get(f"/generation-result/{result}"), 404) == "generation_result_not_found"
    assert (
        bob.client.get("/generation-results", params={"generation_ids": gen["generation_id"]}).json()[
            "total_count"
        ]
        == 0
    )
    own = clothing_item(bob)
    before = credits_of(bob)
    theirs = bob.client.post("/generation", json={"clothing_item_id": item, "prompt": "p"})
    assert error_code(theirs, 404) == "clothing_item_not_found"
    their_avatar = bob.client.post(
        "/generation", json={"clothing_item_id": own, "avatar_id": avatar, "prompt": "p"}
    )
    assert error_code(their_avatar, 404) == "avatar_not_found"
    their_result = bob.client.post(
        "/generation", json={"use_case": "upscale", "generation_result_parent_id": result}
    )
    assert error_code(their_result, 404) == "generation_result_not_found"
    assert credits_of(bob) == before


def test_filters_sort_and_pagination(stylist: ApiUser) -> None:
    item = clothing_item(stylist, "dress_red.jpg", back=None)
    batch = secrets.randbelow(10**9)
    ids = []
    for _ in range(3):
        resp = stylist.client.post(
            "/generation",
            json={"clothing_item_id": item, "prompt": "p", "resolution": "1K", "batch_id": batch},
        )
        ids.append(resp.json()["generation_id"])
    for generation_id in ids:
        wait_for_generation(stylist, generation_id)
    page = stylist.client.get(
        "/generations", params={"batch_id": batch, "items_per_page": 2, "sort": "created_at:asc"}
    ).json()
    assert page["total_count"] == 3 and page["max_page"] == 2 and page["current_page"] == 1
    assert [g["generation_id"] for g in page["data"]] == ids[:2]
    newest = stylist.client.get("/generations", params={"batch_id": batch, "sort": "created_at:desc"}).json()
    assert [g["generation_id"] for g in newest["data"]] == ids[::-1]
    done = stylist.client.get("/generations", params={"batch_id": batch, "status": "Done"}).json()
    assert done["total_count"] == 3
    assert (
        stylist.client.get("/generations", params={"batch_id": batch, "status": "Error"}).json()[
            "total_count"
        ]
        == 0
    )
    external = newest["data"][0]["external_id"]
    assert [
        g["generation_id"]
        for g in stylist.client.get("/generations", params={"external_id": external}).json()["data"]
    ] == [ids[-1]]
    assert (
        stylist.client.get(
            "/generations", params={"feature_name": "model:classical", "batch_id": batch}
        ).json()["total_count"]
        == 3
    )
    assert stylist.client.get("/generations", params={"status": "Finished"}).status_code == 422
    assert stylist.client.get("/generations", params={"sort": "name:up"}).status_code == 422


def test_results_stop_being_served_after_their_window(
    stylist: ApiUser, monkeypatch: pytest.MonkeyPatch, local_stack: Any
) -> None:
    from datetime import datetime, timedelta

    from likeness.clock import isoformat
    from likeness.settings import get_settings
    from likeness.wiring import job_service

    item = clothing_item(stylist, "jeans_blue.webp", back=None)
    gen = stylist.client.post(
        "/generation", json={"clothing_item_id": item, "prompt": "p", "resolution": "1K"}
    ).json()
    result = wait_for_generation(stylist, gen["generation_id"])["generation_results"][0]
    assert result["available"] is True
    url = result["url"]
    stored = [key for key in bucket_keys() if urlparse(url).path.endswith("/" + key)]
    assert len(stored) == 1
    # the window closes one second after the result was made: wait for the route to say so
    monkeypatch.setattr(get_settings(), "result_retention_seconds", 1)
    made = datetime.fromisoformat(result["created_at"].replace("Z", "+00:00"))

    def closed() -> dict[str, Any] | None:
        resp = stylist.client.get(f"/generation-result/{result['generation_result_id']}")
        shown: dict[str, Any] = resp.json()
        return shown if shown["available"] is False else None

    later = wait_until(closed, what="the result's window closed")
    assert later["url"] is None
    # the sweeper deletes the file once its stored expiry (made at the default window) has passed
    job_service().expire_results(now=isoformat(made + timedelta(hours=5)))
    assert bucket_keys(stored[0]) == []
    assert httpx.get(url, timeout=30).status_code in (403, 404)


def test_request_level_webhook_carries_results_in_data_results(stylist: ApiUser, local_stack: Any) -> None:
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    item = clothing_item(stylist, "dress_red.jpg", back=None)
    with running_receiver() as receiver:
        resp = stylist.client.post(
            "/generation",
            json={
                "clothing_item_id": item,
                "prompt": "p",
                "resolution": "1K",
                "webhook_url": receiver.url("/wardrobe"),
                "webhook_secret": secret,
                "webhook_events": ["generation.completed"],
            },
        )
        assert resp.status_code == 200, resp.text
        generation_id = resp.json()["generation_id"]
        assert wait_for_generation(stylist, generation_id)["status"] == "Done"
        local_stack.consumers.drain(timeout=60)
        [delivery] = receiver.to("/wardrobe")
        event = Webhook(secret).verify(delivery.body, delivery.headers)
    assert event["type"] == "generation.completed"
    assert event["data"]["generation_id"] == generation_id and event["data"]["status"] == "Done"
    [result] = event["data"]["results"]
    assert result["available"] is True and httpx.get(result["url"], timeout=30).status_code == 200


def test_deleting_a_clothing_item_deletes_its_generations_and_results(stylist: ApiUser) -> None:
    item = clothing_item(stylist, "jeans_blue.webp", back=None)
    gen = stylist.client.post(
        "/generation", json={"clothing_item_id": item, "prompt": "p", "resolution": "1K"}
    ).json()
    result = wait_for_generation(stylist, gen["generation_id"])["generation_results"][0]
    assert stylist.client.delete(f"/clothing-item/{item}").status_code == 200
    generation = stylist.client.get(f"/generation/{gen['generation_id']}")
    assert error_code(generation, 404) == "generation_not_found"
    gone = stylist.client.get(f"/generation-result/{result['generation_result_id']}")
    assert error_code(gone, 404) == "generation_result_not_found"
    assert httpx.get(result["url"], timeout=30).status_code in (403, 404)


def test_what_the_classical_engine_cannot_make_is_refused_up_front(
    stylist: ApiUser, image_server: str
) -> None:
    item = clothing_item(stylist)
    before = credits_of(stylist)
    for aspect in ("21:9", "5:4"):
        resp = stylist.client.post(
            "/generation",
            json={"clothing_item_id": item, "prompt": "p", "model_slug": "classical", "aspect_ratio": aspect},
        )
        assert resp.status_code == 422 and resp.json()["detail"]["code"] == "not_supported_by_model", (
            resp.text
        )
    # a 4x upscale past the engine's 4096 px: biden.jpg is 970x2204
    upscale = stylist.client.post(
        "/generation",
        json={
            "use_case": "upscale",
            "image_url": f"{image_server}/biden.jpg",
            "model_slug": "classical",
            "upscale_factor": 4,
        },
    )
    assert upscale.status_code == 422 and upscale.json()["detail"]["code"] == "output_too_large"
    assert credits_of(stylist) == before

    # the exact resolutions are made exactly
    avatar = wardrobe_avatar(stylist, f"{image_server}/obama.jpg")
    resp = stylist.client.post(
        "/generation",
        json={
            "clothing_item_id": item,
            "avatar_id": avatar,
            "prompt": "p",
            "model_slug": "classical",
            "resolution": "768X1024",
        },
    )
    assert resp.status_code == 200, resp.text
    done = wait_for_generation(stylist, resp.json()["generation_id"])
    assert done["status"] == "Done", done["error_message"]
    assert (done["generation_results"][0]["width"], done["generation_results"][0]["height"]) == (768, 1024)
