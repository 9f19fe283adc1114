"""The provider fakes answer the providers' documented shapes, errors, refusals and auth failures."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import httpx
import pytest
from PIL import Image, ImageDraw

from tests.fakes import (
    Echo,
    Fail,
    FakeFal,
    FakeGemini,
    FakeOpenAI,
    Malformed,
    NotAnImage,
    Pending,
    Refuse,
    Return,
)
from tests.image_server import serving_files

BORDER = (20, 120, 200)
FACE = (220, 30, 30)
OTHER = (30, 200, 60)


def portrait(
    size: tuple[int, int] = (300, 500), face: tuple[int, int, int] = FACE, fmt: str = "PNG"
) -> bytes:
    """A portrait with a plain border and a 'face' disc in the middle."""
    image = Image.new("RGB", size, BORDER)
    w, h = size
    ImageDraw.Draw(image).ellipse((w * 0.25, h * 0.3, w * 0.75, h * 0.7), fill=face)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini(api_key="test-gemini-key", max_side=512) as fake:
        yield fake


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="test-openai-key", max_side=512) as fake:
        yield fake


@pytest.fixture(scope="module")
def fal() -> Iterator[FakeFal]:
    with FakeFal(api_key="test-fal-key", max_side=512) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    for name in ("gemini", "openai", "fal"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


# ---------------------------------------------------------------- Gemini


def gemini_body(*images: bytes, aspect: str | None = None, size: str | None = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": "Put this person on a beach."}]
    parts += [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(i).decode()}} for i in images]
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    image_config = {k: v for k, v in (("aspectRatio", aspect), ("imageSize", size)) if v}
    if image_config:
        config["imageConfig"] = image_config
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


def gemini_post(
    fake: FakeGemini, body: Any, model: str = "gemini-3-pro-image-preview", **kw: Any
) -> httpx.Response:
    headers = kw.pop("headers", {"x-goog-api-key": fake.api_key})
    return httpx.post(f"{fake.url}/v1beta/models/{model}:generateContent", json=body, headers=headers, **kw)


def gemini_image(response: httpx.Response) -> Image.Image:
    parts = response.json()["candidates"][0]["content"]["parts"]
    inline = next(p["inlineData"] for p in parts if "inlineData" in p)
    assert inline["mimeType"] == "image/png"
    return open_image(base64.b64decode(inline["data"]))


def test_gemini_echo_letterboxes_the_input_to_the_requested_aspect(gemini: FakeGemini) -> None:
    response = gemini_post(gemini, gemini_body(portrait(), aspect="16:9", size="2K"))
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["candidates"][0]["finishReason"] == "STOP"
    assert payload["modelVersion"] == "gemini-3-pro-image-preview"
    assert "usageMetadata" in payload
    image = gemini_image(response)
    assert image.size == (512, 288)  # 2K's 2048 long side, capped at max_side
    assert near(image.getpixel((256, 144)), FACE)  # the face, whole, in the middle
    assert near(image.getpixel((5, 144)), BORDER)  # letterboxed with the edge colour
    call = gemini.generation_calls[0]
    assert call.status == 200 and call.json is not None and call.json["contents"][0]["parts"][0]["text"]


def test_gemini_default_image_snake_case_and_second_input(gemini: FakeGemini) -> None:
    body = {
        "contents": [{"parts": [{"text": "draw"}]}],
        "generation_config": {"response_modalities": ["IMAGE"], "image_config": {"aspect_ratio": "1:1"}},
    }
    url = f"{gemini.url}/v1/models/gemini-2.5-flash-image:generateContent"  # the SDK's default version
    response = httpx.post(url, json=body, headers={"x-goog-api-key": gemini.api_key})
    assert response.status_code == 200 and gemini_image(response).size == (512, 512)
    gemini.script(Echo(index=1))
    response = gemini_post(gemini, gemini_body(portrait(), portrait(face=OTHER)))
    image = gemini_image(response)
    assert image.size == (307, 512)  # the input's own aspect
    assert near(image.getpixel((153, 256)), OTHER)


@pytest.mark.parametrize(
    ("headers", "model", "body", "status", "words"),
    [
        ({}, "gemini-3-pro-image-preview", None, 403, "PERMISSION_DENIED"),
        ({"x-goog-api-key": "wrong"}, "gemini-3-pro-image-preview", None, 403, "PERMISSION_DENIED"),
        (None, "imagen-9", None, 404, "NOT_FOUND"),
        (None, "gemini-3-pro-image-preview", {"contents": []}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"aspect": "7:3"}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"size": "8K"}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"modalities": ["TEXT"]}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"b64": "%%%"}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"b64": "bm90IGFuIGltYWdl"}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"no_text": True}, 400, "INVALID_ARGUMENT"),
        (None, "gemini-3-pro-image-preview", {"extra": 1}, 400, "INVALID_ARGUMENT"),
    ],
)
def test_gemini_rejects_bad_requests(
    gemini: FakeGemini, headers: Any, model: str, body: Any, status: int, words: str
) -> None:
    request = gemini_body(portrait((64, 64)))
    tweak = body or {}
    if "contents" in tweak:
        request["contents"] = tweak["contents"]
    if "aspect" in tweak:
        request["generationConfig"]["imageConfig"] = {"aspectRatio": tweak["aspect"]}
    if "size" in tweak:
        request["generationConfig"]["imageConfig"] = {"imageSize": tweak["size"]}
    if "modalities" in tweak:
        request["generationConfig"]["responseModalities"] = tweak["modalities"]
    if "b64" in tweak:
        request["contents"][0]["parts"][1]["inlineData"]["data"] = tweak["b64"]
    if "no_text" in tweak:
        del request["contents"][0]["parts"][0]
    if "extra" in tweak:
        request["prompt"] = "hi"
    kw = {} if headers is None else {"headers": headers}
    gemini.script(Fail(500))  # a rejected request consumes no behaviour
    response = gemini_post(gemini, request, model=model, **kw)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and error["status"] == words and error["message"]
    assert "test-gemini-key" not in response.text
    assert len(gemini.pending_script) == 1


def test_gemini_scripted_errors_refusals_and_junk(gemini: FakeGemini) -> None:
    other = portrait((64, 64), face=OTHER)
    gemini.script(
        Fail(429, retry_after=0),
        Fail(503),
        Refuse(),
        Refuse("image"),
        Malformed(),
        NotAnImage(),
        Return(other),
    )
    body = gemini_body(portrait((64, 64)))
    limited = gemini_post(gemini, body)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "0"
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert gemini_post(gemini, body).json()["error"]["status"] == "UNAVAILABLE"
    blocked = gemini_post(gemini, body).json()
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in blocked
    candidate = gemini_post(gemini, body).json()["candidates"][0]
    assert candidate["finishReason"] == "IMAGE_SAFETY" and "parts" not in candidate["content"]
    parts = gemini_post(gemini, body).json()["candidates"][0]["content"]["parts"]
    assert parts and all("inlineData" not in p for p in parts)
    junk = gemini_post(gemini, body).json()["candidates"][0]["content"]["parts"][1]["inlineData"]["data"]
    assert base64.b64decode(junk) == b"this is not an image"
    returned = gemini_post(gemini, body).json()["candidates"][0]["content"]["parts"][1]["inlineData"]
    assert base64.b64decode(returned["data"]) == other
    assert gemini_post(gemini, body).status_code == 200  # script empty: Echo
    assert [c.status for c in gemini.generation_calls] == [429, 503, 200, 200, 200, 200, 200, 200]


def test_gemini_handles_concurrent_callers(gemini: FakeGemini) -> None:
    gemini.script(*[Fail(500)] * 3)
    body = gemini_body(portrait((64, 64)))
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: gemini_post(gemini, body).status_code, range(8)))
    assert statuses == [200] * 5 + [500] * 3
    assert len(gemini.calls) == 8 and not gemini.errors


# ---------------------------------------------------------------- OpenAI


def openai_headers(fake: FakeOpenAI) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.api_key}"}


def openai_generate(fake: FakeOpenAI, **fields: Any) -> httpx.Response:
    body = {"model": "gpt-image-2", "prompt": "a portrait", **fields}
    return httpx.post(f"{fake.url}/images/generations", json=body, headers=openai_headers(fake))


def openai_edit(
    fake: FakeOpenAI, images: list[bytes], field: str = "image[]", **fields: str
) -> httpx.Response:
    data = {"model": "gpt-image-2", "prompt": "same person, new outfit", **fields}
    files = [(field, (f"in{i}.png", image, "image/png")) for i, image in enumerate(images)]
    return httpx.post(f"{fake.url}/images/edits", data=data, files=files, headers=openai_headers(fake))


def test_openai_generations_shape_and_sizes(openai: FakeOpenAI) -> None:
    assert openai.url.endswith("/v1")
    response = openai_generate(openai, n=2, size="1024x1536", output_format="jpeg", quality="high")
    assert response.status_code == 200, response.text
    payload = response.json()
    assert isinstance(payload["created"], int) and len(payload["data"]) == 2
    assert payload["output_format"] == "jpeg" and payload["quality"] == "high"
    assert {"total_tokens", "input_tokens", "output_tokens"} <= set(payload["usage"])
    image = open_image(base64.b64decode(payload["data"][0]["b64_json"]))
    assert image.format == "JPEG" and image.size == (341, 512)
    assert payload["size"] == "341x512"
    call = openai.generation_calls[0]
    assert call.json is not None and call.json["n"] == 2


def test_openai_edits_multipart_echoes_the_chosen_input(openai: FakeOpenAI) -> None:
    openai.script(Echo(index=1))
    response = openai_edit(openai, [portrait(), portrait(face=OTHER, fmt="JPEG")], n="1", size="auto")
    assert response.status_code == 200, response.text
    image = open_image(base64.b64decode(response.json()["data"][0]["b64_json"]))
    assert image.format == "PNG" and image.size == (307, 512)
    assert near(image.getpixel((153, 256)), OTHER)
    call = openai.generation_calls[0]
    assert call.form["n"] == ["1"] and [f.field for f in call.files] == ["image[]", "image[]"]
    assert call.files[1].content_type == "image/png" and call.files[1].data.startswith(b"\xff\xd8")
    single = openai_edit(openai, [portrait((64, 96))], field="image", size="512x512")
    assert single.status_code == 200
    assert open_image(base64.b64decode(single.json()["data"][0]["b64_json"])).size == (512, 512)


@pytest.mark.parametrize(
    ("fields", "status", "param", "code"),
    [
        ({"model": "dall-e-9"}, 404, None, "model_not_found"),
        ({"prompt": ""}, 400, "prompt", "invalid_value"),
        ({"n": 11}, 400, "n", "invalid_value"),
        ({"size": "1000x1000"}, 400, "size", "invalid_value"),
        ({"size": "4096x1024"}, 400, "size", "invalid_value"),
        ({"quality": "ultra"}, 400, "quality", "invalid_value"),
        ({"output_format": "gif"}, 400, "output_format", "invalid_value"),
        ({"background": "green"}, 400, "background", "invalid_value"),
        ({"colour": "red"}, 400, "colour", "unknown_parameter"),
    ],
)
def test_openai_rejects_bad_fields(
    openai: FakeOpenAI, fields: dict[str, Any], status: int, param: str | None, code: str
) -> None:
    response = openai_generate(openai, **fields)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] == code


def test_openai_auth_edits_and_unknown_routes(openai: FakeOpenAI) -> None:
    url = f"{openai.url}/images/generations"
    body = {"model": "gpt-image-2", "prompt": "x"}
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert httpx.post(url, json=body).status_code == 401
    no_image = httpx.post(
        f"{openai.url}/images/edits",
        data={"model": "gpt-image-2", "prompt": "x"},
        headers=openai_headers(openai),
    )
    assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "image"
    not_image = openai_edit(openai, [b"GIF89a not really"])
    assert not_image.status_code == 400 and not_image.json()["error"]["param"] == "image"
    bad_json = httpx.post(
        url, content=b"{nope", headers={**openai_headers(openai), "content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    missing = httpx.post(f"{openai.url}/images/variations", json=body, headers=openai_headers(openai))
    assert missing.status_code == 404 and "error" in missing.json()


def test_openai_scripted_errors_refusals_and_junk(openai: FakeOpenAI) -> None:
    openai.script(Fail(429, retry_after=2), Fail(500), Refuse(), Malformed(), NotAnImage(), Return(b"other"))
    limited = openai_generate(openai)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert (
        limited.json()["error"]["code"] == "rate_limit_exceeded"
        and limited.json()["error"]["type"] == "requests"
    )
    assert openai_generate(openai).json()["error"]["type"] == "server_error"
    refused = openai_generate(openai)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "moderation_blocked"
    assert refused.json()["error"]["type"] == "image_generation_user_error"
    assert openai_generate(openai).json()["data"] == []
    junk = openai_generate(openai, n=3).json()["data"]
    assert len(junk) == 3 and base64.b64decode(junk[2]["b64_json"]) == b"this is not an image"
    assert base64.b64decode(openai_generate(openai).json()["data"][0]["b64_json"]) == b"other"


# ---------------------------------------------------------------- fal


def fal_headers(fake: FakeFal) -> dict[str, str]:
    return {"Authorization": f"Key {fake.api_key}"}


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def fal_submit(fake: FakeFal, model: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{fake.url}/{model}", json=body, headers=fal_headers(fake))


def fal_get(fake: FakeFal, url: str) -> httpx.Response:
    return httpx.get(url, headers=fal_headers(fake))


def test_fal_text_to_image_queue_round_trip(fal: FakeFal) -> None:
    model = "fal-ai/bytedance/seedream/v4.5/text-to-image"
    submitted = fal_submit(
        fal, model, {"prompt": "a portrait", "num_images": 2, "image_size": "portrait_4_3"}
    )
    assert submitted.status_code == 200, submitted.text
    queued = submitted.json()
    request_id = queued["request_id"]
    base = f"{fal.url}/fal-ai/bytedance/requests/{request_id}"
    assert queued["response_url"] == base and queued["status_url"] == base + "/status"
    assert queued["cancel_url"] == base + "/cancel" and queued["queue_position"] == 0
    status = fal_get(fal, queued["status_url"] + "?logs=1")
    assert status.status_code == 200 and status.json()["status"] == "COMPLETED"
    result = fal_get(fal, queued["response_url"]).json()
    assert len(result["images"]) == 2 and isinstance(result["seed"], int)
    first = result["images"][0]
    assert (first["width"], first["height"]) == (384, 512) and first["content_type"] == "image/png"
    downloaded = httpx.get(first["url"])  # fal's CDN needs no key
    assert downloaded.headers["content-type"] == "image/png"
    assert open_image(downloaded.content).size == (384, 512)
    assert fal.requests[request_id].model_id == model and len(fal.generation_calls) == 1


def test_fal_edit_with_data_uri_and_http_url(fal: FakeFal) -> None:
    with serving_files() as server:
        url = server.serve("/other.jpg", portrait(face=OTHER, fmt="JPEG"), "image/jpeg")
        fal.script(Echo(index=1))
        body = {"prompt": "same person", "image_urls": [data_uri(portrait()), url]}
        queued = fal_submit(fal, "fal-ai/qwen-image-edit-plus", body).json()
    result = fal_get(fal, queued["response_url"]).json()
    image = open_image(httpx.get(result["images"][0]["url"]).content)
    assert image.size == (307, 512) and near(image.getpixel((153, 256)), OTHER)


def test_fal_upscalers(fal: FakeFal) -> None:
    small = data_uri(portrait((60, 100)))
    seedvr = fal_submit(fal, "fal-ai/seedvr/upscale/image", {"image_url": small}).json()
    aura = fal_submit(fal, "fal-ai/aura-sr", {"image_url": small, "upscaling_factor": 4}).json()
    capped = fal_submit(fal, "fal-ai/seedvr/upscale/image", {"image_url": small, "upscale_factor": 10}).json()
    sizes = []
    for queued in (seedvr, aura, capped):
        image = fal_get(fal, queued["response_url"]).json()["image"]
        sizes.append((image["width"], image["height"]))
    assert sizes == [(120, 200), (240, 400), (307, 512)]


def test_fal_video_pending_then_mp4(fal: FakeFal) -> None:
    model = "fal-ai/kling-video/v3/pro/image-to-video"
    fal.script(Pending(2))
    queued = fal_submit(
        fal, model, {"prompt": "she smiles", "start_image_url": data_uri(portrait()), "duration": "5"}
    )
    assert queued.status_code == 200
    urls = queued.json()
    assert urls["status_url"].startswith(f"{fal.url}/fal-ai/kling-video/requests/")
    assert fal_get(fal, urls["response_url"]).json() == {"detail": "Request is still in progress"}
    first, second, third = (fal_get(fal, urls["status_url"]) for _ in range(3))
    assert (first.status_code, first.json()["status"]) == (202, "IN_QUEUE")
    assert (second.status_code, second.json()["status"]) == (202, "IN_PROGRESS")
    assert (third.status_code, third.json()["status"]) == (200, "COMPLETED")
    wrong_route = fal_get(fal, urls["status_url"].replace("/fal-ai/kling-video/", f"/{model}/"))
    assert wrong_route.status_code == 404
    video = fal_get(fal, urls["response_url"]).json()["video"]
    assert video["content_type"] == "video/mp4" and video["file_name"].endswith(".mp4")
    data = httpx.get(video["url"]).content
    assert len(data) == video["file_size"]
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    assert len(frames) == 8 and max(frames[0].width, frames[0].height) <= 480
    pixels = frames[0].to_ndarray(format="rgb24")
    assert near(pixels[pixels.shape[0] // 2, pixels.shape[1] // 2], FACE, tolerance=25)


def test_fal_cancel(fal: FakeFal) -> None:
    model = "bytedance/seedance-2.0/image-to-video"
    fal.script(Pending(5))
    urls = fal_submit(fal, model, {"prompt": "walk", "image_url": data_uri(portrait((64, 64)))}).json()
    cancelled = httpx.put(urls["cancel_url"], headers=fal_headers(fal))
    assert cancelled.status_code == 202 and cancelled.json() == {"status": "CANCELLATION_REQUESTED"}
    assert fal.cancelled == {urls["request_id"]}
    assert fal_get(fal, urls["status_url"]).json()["status"] == "COMPLETED"
    assert fal_get(fal, urls["response_url"]).status_code == 400
    again = httpx.put(urls["cancel_url"], headers=fal_headers(fal))
    assert again.status_code == 400 and again.json() == {"status": "ALREADY_COMPLETED"}


@pytest.mark.parametrize(
    ("model", "body", "status", "loc"),
    [
        ("fal-ai/bytedance/seedream/v4.5/text-to-image", {}, 422, "prompt"),
        ("fal-ai/bytedance/seedream/v4.5/edit", {"prompt": "x"}, 422, "image_urls"),
        ("fal-ai/bytedance/seedream/v4.5/edit", {"prompt": "x", "image_urls": []}, 422, "image_urls"),
        ("fal-ai/aura-sr", {}, 422, "image_url"),
        ("fal-ai/kling-video/v2.5-turbo/pro/image-to-video", {"prompt": "x"}, 422, "image_url"),
        ("fal-ai/aura-sr", {"image_url": "data:image/png;base64,bm90IGFuIGltYWdl"}, 422, "image_url"),
        ("fal-ai/bytedance/seedream/v4.5/text-to-image", {"prompt": "x", "num_images": 7}, 422, "num_images"),
        ("fal-ai/bytedance/seedream/v4.5/text-to-image", {"prompt": "x", "seed": "1"}, 422, "seed"),
        ("fal-ai/nonexistent/model", {"prompt": "x"}, 404, None),
    ],
)
def test_fal_rejects_bad_input(
    fal: FakeFal, model: str, body: dict[str, Any], status: int, loc: str | None
) -> None:
    response = fal_submit(fal, model, body)
    assert response.status_code == status
    detail = response.json()["detail"]
    if loc is None:
        assert isinstance(detail, str)
    else:
        assert detail[0]["loc"] == ["body", loc] and detail[0]["msg"]


def test_fal_auth_and_bad_json(fal: FakeFal) -> None:
    model = "fal-ai/bytedance/seedream/v4.5/text-to-image"
    for headers in ({}, {"Authorization": "Key wrong"}, {"Authorization": f"Bearer {fal.api_key}"}):
        response = httpx.post(f"{fal.url}/{model}", json={"prompt": "x"}, headers=headers)
        assert response.status_code == 401 and isinstance(response.json()["detail"], str)
        assert fal.api_key not in response.text
    bad = httpx.post(
        f"{fal.url}/{model}",
        content=b"{bad",
        headers={**fal_headers(fal), "content-type": "application/json"},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body"]
    assert fal_get(fal, f"{fal.url}/fal-ai/bytedance/requests/nope/status").status_code == 404


def test_fal_scripted_errors_refusals_and_junk(fal: FakeFal) -> None:
    model = "fal-ai/bytedance/seedream/v4.5/edit"
    body = {"prompt": "x", "image_urls": [data_uri(portrait((64, 64)))]}
    fal.script(
        Fail(429, retry_after=1), Fail(502), Refuse(), Malformed(), NotAnImage(), Return(portrait((32, 32)))
    )
    limited = fal_submit(fal, model, body)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert limited.json() == {"detail": "Rate limit exceeded"}
    assert fal_submit(fal, model, body).status_code == 502
    refused = fal_get(fal, fal_submit(fal, model, body).json()["response_url"])
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "content_policy_violation"
    assert refused.json()["detail"][0]["loc"] == ["body", "prompt"]
    assert fal_get(fal, fal_submit(fal, model, body).json()["response_url"]).json() == {}
    junk = fal_get(fal, fal_submit(fal, model, body).json()["response_url"]).json()["images"][0]
    assert httpx.get(junk["url"]).content == b"this is not an image"
    returned = fal_get(fal, fal_submit(fal, model, body).json()["response_url"]).json()["images"][0]
    assert httpx.get(returned["url"]).content == portrait((32, 32)) and returned["width"] == 32
    assert [c.status for c in fal.generation_calls] == [429, 502, 200, 200, 200, 200]
    fal.reset()
    assert not fal.calls and not fal.requests and not fal.pending_script


def test_calls_record_requests(openai: FakeOpenAI) -> None:
    openai_generate(openai, n=1)
    httpx.get(f"{openai.url}/models", headers=openai_headers(openai))
    calls = openai.calls
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("POST", "/v1/images/generations", 200),
        ("GET", "/v1/models", 404),
    ]
    assert calls[0].headers["authorization"] == f"Bearer {openai.api_key}"
    assert json.loads(json.dumps(calls[0].json))["prompt"] == "a portrait"
    assert len(openai.generation_calls) == 1
