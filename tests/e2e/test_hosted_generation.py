"""Hosted models end to end through the local stack, each provider a local fake of its HTTP API:
try-on on Gemini, an edit on OpenAI, an upscale and a parked video on fal, prompt-only avatars and
drafts on the default model, an identity-selfie probe, retries, refusals, enforce re-rolls, and
keys that never leave the process."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Providers
from tests.e2e.conftest import ApiUser
from tests.e2e.polling import credits_of, wait_for_job
from tests.e2e.test_character_probes import make_character, open_session, run_probe
from tests.e2e.test_wardrobe_generations import clothing_item, wait_for_generation, wardrobe_avatar
from tests.fakes import Echo, Fail, Malformed, NotAnImage, Pending, Refuse, Return
from tests.helpers import face_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _fresh_fakes(providers: Providers) -> None:
    providers.reset()


@pytest.fixture
def shopper(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user(credits=500)


@pytest.fixture
def default_model(stack_settings: Callable[..., None]) -> Callable[[str], None]:
    """Switch LIKENESS_DEFAULT_IMAGE_MODEL for one test."""
    return lambda slug: stack_settings(LIKENESS_DEFAULT_IMAGE_MODEL=slug)


def generate(user: ApiUser, **body: Any) -> dict[str, Any]:
    resp = user.client.post("/generation", json={"num_images": 1, **body})
    assert resp.status_code == 200, resp.text
    return wait_for_generation(user, resp.json()["generation_id"])


def garment_and_avatar(user: ApiUser, image_server: str) -> tuple[int, int]:
    """A new clothing item (1 credit) and a new avatar of obama.jpg."""
    return clothing_item(user), wardrobe_avatar(user, f"{image_server}/obama.jpg")


def try_on(user: ApiUser, item: int, avatar: int, **extra: Any) -> dict[str, Any]:
    """A 1K try-on on nano-banana-2 of the item on the avatar, to its end."""
    return generate(
        user,
        clothing_item_id=item,
        avatar_id=avatar,
        model_slug="nano-banana-2",
        prompt="studio",
        resolution="1K",
        **extra,
    )


def job_record(job_id: str) -> dict[str, Any]:
    from likeness.jobs.models import job_key
    from likeness.wiring import table

    job = table().get(*job_key(job_id))
    assert job is not None
    return job


def test_the_catalogs_list_the_same_slugs_and_hosted_ones_are_available(shopper: ApiUser) -> None:
    models = shopper.client.get("/models").json()["data"]
    engines = shopper.client.get("/api/v1/engines").json()["data"]
    assert [m["slug"] for m in models] == [e["slug"] for e in engines]
    by_slug = {m["slug"]: m for m in models}
    assert {"classical", "nano-banana-2", "gpt-image-2-medium", "seedvr2", "kling-3-pro"} <= set(by_slug)
    assert all(m["available"] for m in models), [m["slug"] for m in models if not m["available"]]
    assert by_slug["nano-banana-2"]["provider"] == "gemini"
    assert by_slug["nano-banana-2"]["provider_model"] == "gemini-3.1-flash-image-preview"
    assert by_slug["kling-3-pro"]["capabilities"]["last_frame"] is True
    engine = {e["slug"]: e for e in engines}["gpt-image-2-high"]
    assert engine["kind"] == "hosted" and engine["follows_prompt"] is True
    assert any("leave this deployment" in note for note in engine["notes"])


def test_try_on_on_nano_banana_2_dresses_the_avatar_and_verifies_the_face(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    item = clothing_item(shopper)
    avatar = wardrobe_avatar(shopper, f"{image_server}/obama.jpg")
    before = credits_of(shopper)
    done = generate(
        shopper,
        clothing_item_id=item,
        avatar_id=avatar,
        model_slug="nano-banana-2",
        prompt="standing in a sunlit loft",
        num_images=2,
        camera="full_body_front",
        aspect_ratio="9:16",
        resolution="2K",
    )
    assert done["status"] == "Done", done.get("error_message")
    assert done["cost"] == 10 and credits_of(shopper) == before - 10  # 5 credits per 2K image
    assert len(done["generation_results"]) == 2
    for result in done["generation_results"]:
        assert httpx.get(result["url"], timeout=30).status_code == 200
        assert result["consistency"]["verdict"] == "passed"
    payload = json.loads(done["payload"])
    assert payload["enhance_user_prompt"] is True and "camera guidance" in payload["prompt_enhancements"]

    calls = providers.gemini.generation_calls
    assert len(calls) == 2  # one image per generateContent call
    call = calls[0]
    assert call.path.endswith("/models/gemini-3.1-flash-image-preview:generateContent")
    assert call.headers["x-goog-api-key"] == providers.keys["gemini"]
    parts = call.json["contents"][0]["parts"]
    text = " ".join(p["text"] for p in parts if "text" in p)
    images = [p for p in parts if "inlineData" in p or "inline_data" in p]
    assert "standing in a sunlit loft" in text and "head to feet" in text
    assert "Image 1: the person to show" in text and "garment (front view)" in text
    assert len(images) == 3  # the avatar, the garment's front and back
    config = call.json["generationConfig"]
    image_config = config.get("imageConfig") or config.get("image_config")
    assert "IMAGE" in (config.get("responseModalities") or config.get("response_modalities"))
    assert image_config["aspectRatio" if "aspectRatio" in image_config else "aspect_ratio"] == "9:16"
    assert image_config["imageSize" if "imageSize" in image_config else "image_size"] == "2K"


def test_edit_on_gpt_image_2_medium_sends_the_source_as_a_multipart_image(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    done = generate(
        shopper,
        use_case="edit",
        image_url=f"{image_server}/obama.jpg",
        model_slug="gpt-image-2-medium",
        prompt="change the background to a beach at sunset",
        resolution="1K",
    )
    assert done["status"] == "Done", done.get("error_message")
    assert done["cost"] == 6
    [call] = providers.openai.generation_calls
    assert call.path.endswith("/images/edits")
    assert call.headers["authorization"] == f"Bearer {providers.keys['openai']}"
    assert call.form["model"] == ["gpt-image-2"] and call.form["quality"] == ["medium"]
    assert "beach at sunset" in call.form["prompt"][0]
    assert len(call.files) == 1
    [result] = done["generation_results"]
    # judged against the source's person: the fake kept them
    assert result["consistency"]["verdict"] == "passed"


def test_upscale_on_seedvr2_goes_through_the_fal_queue(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    done = generate(
        shopper, use_case="upscale", image_url=f"{image_server}/obama_small.jpg", model_slug="seedvr2"
    )
    assert done["status"] == "Done", done.get("error_message")
    [result] = done["generation_results"]
    assert (result["width"], result["height"]) == (640, 480)  # 320x240 at 2x
    [submit] = providers.fal.generation_calls
    assert submit.path == "/fal-ai/seedvr/upscale/image"
    assert submit.headers["authorization"] == f"Key {providers.keys['fal']}"
    assert submit.json["upscale_mode"] == "factor" and submit.json["upscale_factor"] == 2
    assert submit.json["image_url"].startswith("data:image/jpeg;base64,")


def test_a_kling_video_parks_the_job_while_fal_renders_and_holds_no_worker(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    providers.fal.script(Pending(polls=3))
    resp = shopper.client.post(
        "/generation",
        json={
            "use_case": "video",
            "image_url": f"{image_server}/obama.jpg",
            "model_slug": "kling-3-pro",
            "num_images": 1,
            "duration": 5,
            "prompt": "turns to the camera and smiles",
            "generate_audio": True,
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["cost"] == 34  # 6.7 credits a second with audio
    done = wait_for_generation(shopper, resp.json()["generation_id"])
    assert done["status"] == "Done", done.get("error_message")
    [result] = done["generation_results"]
    assert result["kind"] == "Video" and result["content_type"] == "video/mp4"
    assert httpx.get(result["url"], timeout=30).status_code == 200

    [submit] = providers.fal.generation_calls
    assert submit.path == "/fal-ai/kling-video/v3/pro/image-to-video"
    assert submit.json["duration"] == "5" and submit.json["generate_audio"] is True
    assert submit.json["start_image_url"].startswith("data:image/")
    job = job_record(done["external_id"])
    [step] = job["engine_state"]["steps"].values()
    # the request id was stored on the job; the status was polled by check-backs, not a waiting worker
    assert step["handle"]["request_id"] in providers.fal.requests
    assert job["engine_state"]["checks"] >= 1 and job["attempts"] == 1
    status_polls = [c for c in providers.fal.calls if c.path.endswith("/status")]
    assert len(status_polls) == 4 and all("/fal-ai/kling-video/requests/" in c.path for c in status_polls)


def test_cancelling_a_parked_job_cancels_the_fal_request_and_refunds(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    providers.fal.script(Pending(polls=1000))
    before = credits_of(shopper)
    resp = shopper.client.post(
        "/generation",
        json={
            "use_case": "video",
            "image_url": f"{image_server}/obama.jpg",
            "model_slug": "kling-2-5-turbo-pro",
            "num_images": 1,
            "duration": 5,
        },
    )
    assert resp.status_code == 200, resp.text
    job_id = resp.json()["external_id"]
    deadline = time.monotonic() + 30
    while not job_record(job_id).get("engine_state"):
        assert time.monotonic() < deadline, "the job never parked"
        time.sleep(0.1)
    cancelled = shopper.client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    [request_id] = providers.fal.requests
    deadline = time.monotonic() + 30
    while request_id not in providers.fal.cancelled:
        assert time.monotonic() < deadline, "the fal request was never cancelled"
        time.sleep(0.1)
    assert credits_of(shopper) == before
    assert wait_for_generation(shopper, resp.json()["generation_id"])["status"] == "Error"


def test_a_prompt_only_avatar_runs_on_the_default_model(
    shopper: ApiUser, providers: Providers, default_model: Callable[[str], None]
) -> None:
    default_model("nano-banana-2")
    resp = shopper.client.post(
        "/api/v1/avatars/generate",
        json={"prompt": "a cheerful baker in her sixties", "hints": {"style": "warm", "setting": "bakery"}},
    )
    assert resp.status_code == 202, resp.text
    job = wait_for_job(shopper, resp.json()["job_id"])
    assert job["status"] == "completed", job["error"]
    assert job["engine"] == "nano-banana-2"
    assert httpx.get(job["data"]["avatar"]["image_url"], timeout=30).status_code == 200
    [call] = providers.gemini.generation_calls
    text = " ".join(p.get("text", "") for p in call.json["contents"][0]["parts"])
    assert "a cheerful baker in her sixties" in text and "setting: bakery" in text


def test_drafts_from_a_brief_alone_on_a_hosted_model(shopper: ApiUser, providers: Providers) -> None:
    resp = shopper.client.post(
        "/identity/create",
        json={
            "instructions": [
                {"attribute": "age", "value": "thirties"},
                {"attribute": "hair", "value": "red"},
            ],
            "num_drafts": 2,
            "engine": "gpt-image-2-low",
        },
    )
    assert resp.status_code == 202, resp.text
    job = wait_for_job(shopper, resp.json()["job_id"])
    assert job["status"] == "completed", job["error"]
    drafts = shopper.client.get(f"/identity/create/{resp.json()['job_id']}").json()["drafts"]
    assert len(drafts) == 2
    [call] = providers.openai.generation_calls
    assert call.path.endswith("/images/generations")
    assert call.json["n"] == 2 and call.json["quality"] == "low"
    assert "age: thirties" in call.json["prompt"] and "hair: red" in call.json["prompt"]


def test_an_identity_selfie_probe_on_a_hosted_model_is_promotable(
    make_user: Callable[..., ApiUser], providers: Providers, default_model: Callable[[str], None]
) -> None:
    default_model("nano-banana-pro")
    author = make_user(credits=200)
    slug = make_character(author)
    session_id = open_session(author, slug)
    providers.gemini.script(Return(face_bytes("obama2.jpg")))  # the same man, another photo
    report = run_probe(author, slug, session_id, "identity_selfie")
    assert report["state"] == "ready", report["failure_reason"]
    assert report["consistency"]["status"] == "passed" and report["consistency"]["near_copy"] is False
    assert report["promotion_eligible"] is True
    [call] = providers.gemini.generation_calls
    assert call.path.endswith("/models/gemini-3-pro-image-preview:generateContent")
    text = " ".join(p.get("text", "") for p in call.json["contents"][0]["parts"])
    assert "selfie" in text and "short, dark, greying at the temples" in text
    assert "Never change: no drastic hair color changes" in text


def test_429_twice_then_success_is_retried_within_the_job(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    providers.gemini.script(Fail(429, retry_after=0), Fail(429, retry_after=0), Echo())
    done = generate(
        shopper,
        use_case="edit",
        image_url=f"{image_server}/obama.jpg",
        model_slug="gemini-flash",
        prompt="smile",
    )
    assert done["status"] == "Done", done.get("error_message")
    assert [c.status for c in providers.gemini.generation_calls] == [429, 429, 200]


def test_a_refusal_fails_at_once_and_is_refunded(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    providers.gemini.script(Refuse())
    before = credits_of(shopper)
    done = generate(
        shopper,
        use_case="edit",
        image_url=f"{image_server}/obama.jpg",
        model_slug="nano-banana-2",
        prompt="something the policy blocks",
    )
    assert done["status"] == "Error"
    assert "gemini refused the prompt" in done["error_message"]
    assert credits_of(shopper) == before
    assert len(providers.gemini.generation_calls) == 1  # a refusal is never retried
    job = job_record(done["external_id"])
    assert job["error"]["code"] == "provider_refused" and job["refunded"] is True


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (Malformed(), "without an image"),
        (NotAnImage(), "not a PNG, JPEG or WebP"),
        (Fail(400, message="imageConfig.aspectRatio is not valid"), "rejected the request (HTTP 400)"),
    ],
)
def test_bad_answers_fail_the_job_with_the_reason(
    shopper: ApiUser, providers: Providers, image_server: str, behaviour: Any, reason: str
) -> None:
    providers.gemini.script(behaviour)
    done = generate(
        shopper, use_case="edit", image_url=f"{image_server}/obama.jpg", model_slug="gemini-flash", prompt="p"
    )
    assert done["status"] == "Error" and reason in done["error_message"], done["error_message"]


def test_enforce_regenerates_when_the_provider_returns_someone_else(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    item, avatar = garment_and_avatar(shopper, image_server)
    providers.gemini.script(Return(face_bytes("biden.jpg")), Echo())
    done = try_on(shopper, item, avatar)
    assert done["status"] == "Done", done.get("error_message")
    assert done["cost"] == 3  # the re-roll is not charged
    [result] = done["generation_results"]
    assert result["consistency"]["verdict"] == "passed"
    job = job_record(done["external_id"])
    attempts = job["outputs"]["results"][0]["details"]["identity_check"]["attempts"]
    assert [a["verdict"] for a in attempts] == ["failed", "passed"]
    seeds = [json.dumps(c.json["generationConfig"].get("seed")) for c in providers.gemini.generation_calls]
    assert len(set(seeds)) == 2  # the re-roll asked with a new seed


def test_enforce_fails_and_refunds_when_no_attempt_shows_the_person(
    shopper: ApiUser, providers: Providers, image_server: str
) -> None:
    item, avatar = garment_and_avatar(shopper, image_server)
    someone_else = face_bytes("biden.jpg")
    providers.gemini.script(*(Return(someone_else) for _ in range(3)))
    before = credits_of(shopper)
    done = try_on(shopper, item, avatar)
    assert done["status"] == "Error" and "did not show the identity in 3 attempts" in done["error_message"]
    assert credits_of(shopper) == before
    assert len(providers.gemini.generation_calls) == 3
    assert job_record(done["external_id"])["error"]["code"] == "identity_not_preserved"

    # report keeps the image and says it failed
    providers.gemini.script(Return(someone_else))
    reported = try_on(shopper, item, avatar, identity_check="report")
    assert reported["status"] == "Done"
    assert reported["generation_results"][0]["consistency"]["verdict"] == "failed"


def test_provider_keys_never_reach_logs_records_or_events(
    shopper: ApiUser, providers: Providers, image_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from likeness.settings import get_settings
    from likeness.wiring import table

    providers.gemini.script(Fail(503, retry_after=0), Refuse())
    providers.fal.script(Fail(429, retry_after=0), Echo())
    generate(
        shopper,
        use_case="edit",
        image_url=f"{image_server}/obama.jpg",
        model_slug="nano-banana-2",
        prompt="p",
    )
    generate(shopper, use_case="upscale", image_url=f"{image_server}/obama_small.jpg", model_slug="seedvr2")
    from tests.e2e.conftest import bus_events

    events = json.dumps(bus_events(shopper.account_id))
    # every log record with all its fields, as the JSON log lines carry them
    logs = "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)
    rows = json.dumps(
        table()._client.scan(TableName=get_settings().table_name)["Items"],
        default=str,  # noqa: SLF001
    )
    for key in providers.keys.values():
        for where, text in (("logs", logs), ("records", rows), ("events", events)):
            assert key not in text, f"a provider key leaked into {where}"
            assert base64.b64encode(key.encode()).decode() not in text
    assert "provider call failed; retrying" in logs  # the logs were captured


def test_a_model_that_cannot_do_the_request_is_refused_before_charging(shopper: ApiUser) -> None:
    before = credits_of(shopper)
    prompt_only = shopper.client.post(
        "/api/v1/avatars/generate", json={"prompt": "a new face", "engine": "qwen-rapid-aio-v23"}
    )
    assert prompt_only.status_code == 422 and prompt_only.json()["detail"]["code"] == "engine_cannot_do"
    video = {
        "use_case": "video",
        "image_url": "https://example.com/x.jpg",
        "model_slug": "kling-2-5-turbo-pro",
        "num_images": 1,
    }
    too_long = shopper.client.post("/generation", json={**video, "duration": 12})
    assert too_long.status_code == 422 and too_long.json()["detail"]["code"] == "not_supported_by_model"
    no_audio = shopper.client.post("/generation", json={**video, "duration": 5, "generate_audio": True})
    assert no_audio.status_code == 422
    assert credits_of(shopper) == before
