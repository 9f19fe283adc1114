"""A fake of fal's queue API: submit ``POST /{model_id}``, then status / result / cancel on the *app* id.

Checks: ``Authorization: Key KEY`` on every queue route (401 ``{"detail"}``), the model id (404), and the
model's input by kind (422 ``{"detail": [{"loc", "msg", "type"}]}``): ``prompt`` for image and video
models, ``image_urls`` for edits, ``image_url`` for upscalers, ``image_url`` / ``start_image_url`` for
video; every image URL (a ``data:`` URI or an http(s) URL, fetched at submit) must hold an image;
``num_images``, ``seed``, ``duration``, ``upscale_factor`` / ``upscaling_factor``, ``image_size``,
``aspect_ratio`` and ``output_format`` are sanity-checked when present. Request routes must use the app
id (the first two segments of the model id, e.g. ``fal-ai/kling-video``), as fal's own URLs do.

Choices where fal leaves room: the input is checked and the output made at submit (so a bad image
URL is a 422 on the submit); a cancelled request's status is 200 COMPLETED and its result 400
``{"detail": "Request was cancelled"}``; ``sync_mode: true`` answers data URIs instead of file URLs;
``fal_webhook`` is recorded but never called.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from tests.fakes.base import (
    EXTENSIONS,
    NOT_AN_IMAGE,
    Behaviour,
    Call,
    Echo,
    Fail,
    FakeServer,
    HttpError,
    Malformed,
    NotAnImage,
    Pending,
    Refuse,
    Request,
    Response,
    Return,
    b64,
    b64decode_strict,
    decode_image,
    encode_image,
    image_size,
    json_response,
    retry_after_headers,
    sniff_media_type,
)
from tests.fakes.media import cap_size, fit_image, fit_long_side, mp4_from_image, parse_aspect, scale_image

FAL_MODELS: dict[str, str] = {
    "fal-ai/bytedance/seedream/v4.5/text-to-image": "image",
    "fal-ai/bytedance/seedream/v4.5/edit": "edit",
    "fal-ai/qwen-image-edit-plus": "edit",
    "fal-ai/seedvr/upscale/image": "upscale",
    "fal-ai/aura-sr": "upscale",
    "fal-ai/kling-video/v3/pro/image-to-video": "video",
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": "video",
    "bytedance/seedance-2.0/image-to-video": "video",
    "fal-ai/bytedance/seedance/v1.5/pro/image-to-video": "video",
}
KINDS = frozenset({"image", "edit", "upscale", "video"})
IMAGE_SIZE_PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
    "auto": (1024, 1024),
    "auto_2K": (2048, 2048),
    "auto_4K": (4096, 4096),
}
IMAGE_URL_FIELDS = ("image_url", "start_image_url", "end_image_url", "tail_image_url")
VIDEO_MAX_SIDE = 480
REQUEST_ROUTE = re.compile(r"^/(?P<app>[^/]+/[^/]+)/requests/(?P<id>[^/]+?)(?P<action>/status|/cancel)?/?$")
FILE_ROUTE = re.compile(r"^/files/(?P<name>[A-Za-z0-9_-]+\.[a-z0-9]+)$")
CONTENT_POLICY = "The content could not be processed because it violates the content policy."


@dataclass
class FalRequest:
    """One submitted request: what came in, where it stands, and the answer it will give."""

    request_id: str
    model_id: str
    app_id: str
    input: dict[str, Any]
    behaviour: Behaviour
    pending_polls: int
    webhook: str | None = None
    polls: int = 0
    state: str = "IN_QUEUE"  # IN_QUEUE, IN_PROGRESS, COMPLETED, CANCELLED
    result_status: int = 200
    result: Any = None

    @property
    def done(self) -> bool:
        return self.state in ("COMPLETED", "CANCELLED")


@dataclass
class _Output:
    status: int
    body: Any
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)


def detail(loc: str, msg: str, type_: str = "value_error") -> dict[str, Any]:
    """fal's 422 body for one bad input field."""
    return {"detail": [{"loc": ["body", loc], "msg": msg, "type": type_}]}


def _unprocessable(loc: str, msg: str, type_: str = "value_error") -> HttpError:
    return HttpError(422, detail(loc, msg, type_))


def app_id(model_id: str) -> str:
    """fal's app id: the first two path segments of a model id."""
    return "/".join(model_id.split("/")[:2])


class FakeFal(FakeServer):
    """fal's queue API (queue.fal.run) plus its file CDN at ``{url}/files/...``."""

    supports_pending = True
    refuse_kinds = frozenset({"prompt", "image"})

    def __init__(
        self,
        api_key: str = "test-fal-key",
        default_image: bytes | None = None,
        max_side: int = 1024,
        models: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(api_key, default_image, max_side)
        self.models = dict(models) if models is not None else dict(FAL_MODELS)
        for model_id, kind in self.models.items():
            if kind not in KINDS or len(model_id.strip("/").split("/")) < 2:
                raise ValueError(f"bad fal model {model_id!r} -> {kind!r}")
        self.requests: dict[str, FalRequest] = {}
        self.cancelled: set[str] = set()
        self.files: dict[str, tuple[bytes, str]] = {}

    def reset(self) -> None:
        """Forget the script, calls, requests, cancellations and served files."""
        with self.lock:
            super().reset()
            self.requests.clear()
            self.cancelled.clear()
            self.files.clear()

    def internal_error(self, message: str) -> Response:
        return json_response(500, {"detail": message})

    def not_found(self, request: Request) -> Response:
        message = "Not Found"
        if "/requests/" in request.path:
            message = "Not Found: request routes use the app id (owner/app), not the full model id"
        return json_response(404, {"detail": message})

    # -- routing

    def handle(self, request: Request, call: Call) -> Response:
        file_route = FILE_ROUTE.match(request.path)
        if file_route is not None and request.method in ("GET", "HEAD"):
            return self._file(file_route["name"])
        route = REQUEST_ROUTE.match(request.path)
        model_id = request.path.strip("/")
        if route is None and (request.method != "POST" or model_id not in self.models):
            if request.method == "POST" and "/requests/" not in request.path:
                call.generation = True
                self._authorize(request)
                return json_response(404, {"detail": f"Application '{model_id}' not found"})
            return self.not_found(request)
        if route is None:
            call.generation = True
            self._authorize(request)
            return self._submit(request, model_id)
        self._authorize(request)
        action = route["action"] or ""
        if action == "/status" and request.method == "GET":
            return self._status(route["app"], route["id"])
        if action == "/cancel" and request.method == "PUT":
            return self._cancel(route["app"], route["id"])
        if not action and request.method == "GET":
            return self._result(route["app"], route["id"])
        return json_response(405, {"detail": "Method Not Allowed"})

    def _authorize(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if not scheme:
            raise HttpError(
                401, {"detail": "Missing authorization header: expected 'Authorization: Key <key>'"}
            )
        if scheme != "Key" or key.strip() != self.api_key:
            raise HttpError(401, {"detail": "Invalid key authorization"})

    # -- submit

    def _submit(self, request: Request, model_id: str) -> Response:
        if request.json_error is not None or not isinstance(request.json, dict):
            raise HttpError(
                422,
                {
                    "detail": [
                        {"loc": ["body"], "msg": "Input should be a JSON object", "type": "json_invalid"}
                    ]
                },
            )
        body: dict[str, Any] = request.json
        kind = self.models[model_id]
        inputs = self._check_input(kind, body)
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Fail):
            return self._failure(behaviour)
        pending_polls = 0
        if isinstance(behaviour, Pending):
            pending_polls, behaviour = behaviour.polls, behaviour.then
        request_id = str(uuid.uuid4())
        output = self._output(behaviour, model_id, kind, body, inputs)
        fal_request = FalRequest(
            request_id=request_id,
            model_id=model_id,
            app_id=app_id(model_id),
            input=body,
            behaviour=behaviour,
            pending_polls=pending_polls,
            webhook=request.query.get("fal_webhook"),
            state="IN_QUEUE" if pending_polls else "COMPLETED",
            result_status=output.status,
            result=output.body,
        )
        with self.lock:
            self.files.update(output.files)
            self.requests[request_id] = fal_request
        urls = self._urls(fal_request)
        return json_response(
            200,
            {
                "status": "IN_QUEUE",
                "request_id": request_id,
                "response_url": urls["response_url"],
                "status_url": urls["status_url"],
                "cancel_url": urls["cancel_url"],
                "queue_position": 0,
            },
        )

    def _urls(self, fal_request: FalRequest) -> dict[str, str]:
        base = f"{self.url}/{fal_request.app_id}/requests/{fal_request.request_id}"
        return {"response_url": base, "status_url": base + "/status", "cancel_url": base + "/cancel"}

    def _check_input(self, kind: str, body: dict[str, Any]) -> list[Image.Image]:
        """The model's input checked; its images in order: image_urls, the *_image_url fields, references."""
        prompt = body.get("prompt")
        if kind in ("image", "edit", "video"):
            if prompt is None:
                raise _unprocessable("prompt", "Field required", "missing")
            if not isinstance(prompt, str) or not prompt.strip():
                raise _unprocessable("prompt", "Input should be a non-empty string", "string_type")
        elif prompt is not None and not isinstance(prompt, str):
            raise _unprocessable("prompt", "Input should be a valid string", "string_type")
        images: list[Image.Image] = []
        urls = body.get("image_urls")
        if kind == "edit" and urls is None:
            raise _unprocessable("image_urls", "Field required", "missing")
        if urls is not None:
            if not isinstance(urls, list) or not urls:
                raise _unprocessable(
                    "image_urls", "Input should be a non-empty list of image URLs", "list_type"
                )
            images.extend(self._load_image(url, f"image_urls.{i}") for i, url in enumerate(urls))
        if kind == "upscale" and body.get("image_url") is None:
            raise _unprocessable("image_url", "Field required", "missing")
        if kind == "video" and body.get("image_url") is None and body.get("start_image_url") is None:
            raise _unprocessable("image_url", "Field required: image_url or start_image_url", "missing")
        for name in IMAGE_URL_FIELDS:
            if body.get(name) is not None:
                images.append(self._load_image(body[name], name))
        references = body.get("reference_image_urls")
        if references is not None:
            if not isinstance(references, list):
                raise _unprocessable("reference_image_urls", "Input should be a valid list", "list_type")
            images.extend(
                self._load_image(url, f"reference_image_urls.{i}") for i, url in enumerate(references)
            )
        self._sanity(body)
        return images

    @staticmethod
    def _sanity(body: dict[str, Any]) -> None:
        def integer(name: str, low: int | None = None, high: int | None = None) -> None:
            value = body.get(name)
            if value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int):
                raise _unprocessable(name, "Input should be a valid integer", "int_type")
            if (low is not None and value < low) or (high is not None and value > high):
                raise _unprocessable(name, f"Input should be between {low} and {high}")

        def number(name: str, low: float, high: float) -> None:
            value = body.get(name)
            if value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _unprocessable(name, "Input should be a valid number", "float_type")
            if not low <= value <= high:
                raise _unprocessable(name, f"Input should be between {low:g} and {high:g}")

        integer("num_images", 1, 6)
        integer("seed")
        number("upscale_factor", 1, 10)
        number("upscaling_factor", 1, 10)
        duration = body.get("duration")
        if duration is not None:
            text = str(duration) if isinstance(duration, int) and not isinstance(duration, bool) else duration
            if not isinstance(text, str) or not re.fullmatch(r"\d{1,3}s?", text) or int(text.rstrip("s")) < 1:
                raise _unprocessable("duration", "Input should be a number of seconds, such as '5'")
        size = body.get("image_size")
        if size is not None:
            ok = (
                size in IMAGE_SIZE_PRESETS
                if isinstance(size, str)
                else (
                    isinstance(size, dict)
                    and all(
                        isinstance(size.get(k), int) and 1 <= size[k] <= 14142 for k in ("width", "height")
                    )
                )
            )
            if not ok:
                raise _unprocessable(
                    "image_size", f"Input should be one of {sorted(IMAGE_SIZE_PRESETS)} or {{width, height}}"
                )
        aspect = body.get("aspect_ratio")
        if aspect is not None and aspect != "auto":
            try:
                parse_aspect(aspect if isinstance(aspect, str) else "")
            except ValueError:
                raise _unprocessable(
                    "aspect_ratio", "Input should be an aspect ratio such as '16:9'"
                ) from None
        output_format = body.get("output_format")
        if output_format is not None and output_format not in ("png", "jpeg", "webp"):
            raise _unprocessable("output_format", "Input should be 'png', 'jpeg' or 'webp'", "enum")

    def _load_image(self, url: Any, loc: str) -> Image.Image:
        if not isinstance(url, str) or not url:
            raise _unprocessable(loc, "Input should be a valid URL", "url_type")
        if url.startswith("data:"):
            header, sep, payload = url.partition(",")
            if not sep or not header.endswith(";base64"):
                raise _unprocessable(loc, "Data URI must be base64-encoded", "image_load_error")
            try:
                data = b64decode_strict(payload)
            except ValueError:
                raise _unprocessable(loc, "Invalid base64 in data URI", "image_load_error") from None
        elif url.startswith(("http://", "https://")):
            try:
                response = httpx.get(url, timeout=10.0, follow_redirects=True)
            except httpx.HTTPError:
                raise _unprocessable(
                    loc, f"Failed to download the file from {url}", "file_download_error"
                ) from None
            if response.status_code != 200:
                raise _unprocessable(
                    loc,
                    f"Failed to download the file from {url} (HTTP {response.status_code})",
                    "file_download_error",
                )
            data = response.content
        else:
            raise _unprocessable(loc, "URL must be a data: URI or an http(s) URL", "url_parsing")
        try:
            return decode_image(data)
        except ValueError:
            raise _unprocessable(
                loc, "Failed to load the image; is it a valid image file?", "image_load_error"
            ) from None

    # -- outputs

    def _output(
        self, behaviour: Behaviour, model_id: str, kind: str, body: dict[str, Any], inputs: list[Image.Image]
    ) -> _Output:
        if isinstance(behaviour, Refuse):
            loc = "image_url" if behaviour.kind == "image" and kind != "image" else "prompt"
            if loc == "image_url" and kind == "edit":
                loc = "image_urls"
            return _Output(422, detail(loc, CONTENT_POLICY, "content_policy_violation"))
        if isinstance(behaviour, Malformed):
            return _Output(200, {})
        if isinstance(behaviour, Fail):  # only reachable as Pending(then=Fail(...)): fails in processing
            return _Output(behaviour.status, {"detail": behaviour.message or "Internal server error"})
        sync = body.get("sync_mode") is True
        output = _Output(200, None)
        count = body.get("num_images", 1) if kind in ("image", "edit") else 1

        def serve(data: bytes, content_type: str) -> dict[str, Any]:
            ext = EXTENSIONS.get(content_type, "bin")
            name = f"{uuid.uuid4().hex}.{ext}"
            if sync:
                url = f"data:{content_type};base64,{b64(data)}"
            else:
                url = f"{self.base_url}/files/{name}"
                output.files[name] = (data, content_type)
            entry: dict[str, Any] = {
                "url": url,
                "content_type": content_type,
                "file_name": name,
                "file_size": len(data),
            }
            return entry

        if isinstance(behaviour, NotAnImage):
            data, content_type = NOT_AN_IMAGE, "video/mp4" if kind == "video" else "image/png"
        elif isinstance(behaviour, Return):
            data = behaviour.data
            content_type = sniff_media_type(data)
            if content_type == "application/octet-stream":
                content_type = "video/mp4" if kind == "video" else "image/png"
        elif isinstance(behaviour, Echo):
            data, content_type = self._echo(behaviour, model_id, kind, body, inputs)
        else:
            raise TypeError(f"FakeFal cannot play {behaviour!r}")
        if kind == "video":
            output.body = {"video": serve(data, content_type), "seed": body.get("seed", 42)}
            return output
        size = image_size(data)
        entries = []
        for _ in range(count):
            entry = serve(data, content_type)
            entry["width"], entry["height"] = size if size else (None, None)
            entries.append(entry)
        if kind == "upscale":
            output.body = {"image": entries[0]}
        else:
            output.body = {"images": entries, "seed": body.get("seed", 42)}
        return output

    def _echo(
        self, behaviour: Echo, model_id: str, kind: str, body: dict[str, Any], inputs: list[Image.Image]
    ) -> tuple[bytes, str]:
        if not inputs and behaviour.index == 0:
            source = decode_image(self.default_image)
        elif behaviour.index < len(inputs):
            source = inputs[behaviour.index]
        else:
            raise _unprocessable(
                "image_urls", f"fake: Echo(index={behaviour.index}) but the input has {len(inputs)} image(s)"
            )
        fmt = body.get("output_format", "png")
        content_type = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[fmt]
        if kind == "upscale":
            default_factor = 4 if "aura-sr" in model_id else 2
            factor = body.get("upscale_factor", body.get("upscaling_factor", default_factor))
            return encode_image(scale_image(source, float(factor), self.max_side), fmt), content_type
        aspect = body.get("aspect_ratio")
        ratio = parse_aspect(aspect) if isinstance(aspect, str) and aspect != "auto" else None
        if kind == "video":
            if ratio is not None:
                source = fit_long_side(source, ratio, VIDEO_MAX_SIDE, VIDEO_MAX_SIDE)
            return mp4_from_image(source, max_side=min(VIDEO_MAX_SIDE, self.max_side)), "video/mp4"
        size = body.get("image_size")
        if isinstance(size, dict):
            width, height = cap_size(size["width"], size["height"], self.max_side)
            return encode_image(fit_image(source, width, height), fmt), content_type
        if isinstance(size, str) and not size.startswith("auto"):
            preset_width, preset_height = IMAGE_SIZE_PRESETS[size]
            width, height = cap_size(preset_width, preset_height, self.max_side)
            return encode_image(fit_image(source, width, height), fmt), content_type
        long_side = IMAGE_SIZE_PRESETS[size][0] if isinstance(size, str) else 1024
        if ratio is None and not inputs:
            ratio = 1.0
        return encode_image(fit_long_side(source, ratio, long_side, self.max_side), fmt), content_type

    @staticmethod
    def _failure(fail: Fail) -> Response:
        headers = retry_after_headers(fail.retry_after)
        if fail.status == 429:
            return json_response(429, {"detail": fail.message or "Rate limit exceeded"}, headers)
        if fail.status >= 500:
            return json_response(fail.status, {"detail": fail.message or "Internal server error"}, headers)
        return json_response(fail.status, {"detail": fail.message or "Request failed"}, headers)

    # -- queue routes

    def _find(self, app: str, request_id: str) -> FalRequest:
        fal_request = self.requests.get(request_id)
        if fal_request is None or fal_request.app_id != app:
            raise HttpError(404, {"detail": f"Request {request_id} not found"})
        return fal_request

    def _status(self, app: str, request_id: str) -> Response:
        with self.lock:
            fal_request = self._find(app, request_id)
            response_url = self._urls(fal_request)["response_url"]
            fal_request.polls += 1
            if not fal_request.done and fal_request.polls > fal_request.pending_polls:
                fal_request.state = "COMPLETED"
            if fal_request.done:
                body: dict[str, Any] = {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": 0.1}}
                status = 200
            elif fal_request.polls == 1:
                fal_request.state = "IN_QUEUE"
                body, status = {"status": "IN_QUEUE", "queue_position": 0}, 202
            else:
                fal_request.state = "IN_PROGRESS"
                body, status = {"status": "IN_PROGRESS", "logs": []}, 202
            body.update(request_id=request_id, response_url=response_url)
            return json_response(status, body)

    def _result(self, app: str, request_id: str) -> Response:
        with self.lock:
            fal_request = self._find(app, request_id)
            if fal_request.state == "CANCELLED":
                return json_response(400, {"detail": "Request was cancelled"})
            if not fal_request.done:
                return json_response(400, {"detail": "Request is still in progress"})
            return json_response(fal_request.result_status, fal_request.result)

    def _cancel(self, app: str, request_id: str) -> Response:
        with self.lock:
            fal_request = self._find(app, request_id)
            if fal_request.done:
                return json_response(400, {"status": "ALREADY_COMPLETED"})
            fal_request.state = "CANCELLED"
            self.cancelled.add(request_id)
            return json_response(202, {"status": "CANCELLATION_REQUESTED"})

    def _file(self, name: str) -> Response:
        with self.lock:
            served = self.files.get(name)
        if served is None:
            return json_response(404, {"detail": "File not found"})
        data, content_type = served
        return Response(200, data, content_type)
