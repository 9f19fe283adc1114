"""A fake of OpenAI's Images API: ``POST /v1/images/generations`` (JSON) and ``/v1/images/edits`` (multipart).

Checks: ``Authorization: Bearer KEY`` (401 ``invalid_api_key``), the model (404 ``model_not_found``),
unknown parameters (400 ``unknown_parameter``), missing ones (400 ``missing_required_parameter``) and
the values of ``prompt``, ``n``, ``size``, ``quality``, ``output_format``, ``output_compression``,
``background``, ``moderation`` and ``input_fidelity`` (400 ``invalid_value``); edits need 1-16 image
files (``image[]`` or ``image``) that are PNG/JPEG/WebP under 50 MB. Errors use OpenAI's
``{"error": {"message", "type", "param", "code"}}`` shape.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.fakes.base import (
    NOT_AN_IMAGE,
    Behaviour,
    Call,
    Echo,
    Fail,
    FakeServer,
    HttpError,
    Malformed,
    NotAnImage,
    Refuse,
    Request,
    Response,
    Return,
    b64,
    decode_image,
    encode_image,
    json_response,
    retry_after_headers,
    sniff_image_type,
)
from tests.fakes.media import cap_size, fit_image, size_for_aspect

OPENAI_MODELS = frozenset({"gpt-image-2"})
QUALITIES = ("low", "medium", "high", "auto")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("transparent", "opaque", "auto")
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_IMAGES = 16
COMMON_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "user",
        "stream",
        "partial_images",
        "response_format",
    }
)
EDIT_FIELDS = COMMON_FIELDS | {"input_fidelity"}
SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class _Params:
    """The checked request fields the answer depends on."""

    n: int
    size: str
    dims: tuple[int, int] | None
    quality: str
    output_format: str
    background: str
    prompt: str


def openai_error(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's JSON error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _invalid(param: str, message: str, code: str = "invalid_value") -> HttpError:
    return HttpError(400, openai_error(message, param=param, code=code))


class FakeOpenAI(FakeServer):
    """OpenAI's Images API for gpt-image models; ``url`` ends in ``/v1``."""

    url_prefix = "/v1"
    refuse_kinds = frozenset({"prompt", "image"})

    def __init__(
        self,
        api_key: str = "test-openai-key",
        default_image: bytes | None = None,
        max_side: int = 1024,
        models: Iterable[str] | None = None,
    ) -> None:
        super().__init__(api_key, default_image, max_side)
        self.models = frozenset(models) if models is not None else OPENAI_MODELS

    def internal_error(self, message: str) -> Response:
        return json_response(500, openai_error(message, "server_error"))

    def not_found(self, request: Request) -> Response:
        return json_response(404, openai_error(f"Invalid URL ({request.method} {request.path})"))

    def handle(self, request: Request, call: Call) -> Response:
        if request.method != "POST" or request.path not in ("/v1/images/generations", "/v1/images/edits"):
            return self.not_found(request)
        call.generation = True
        auth = request.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if not auth:
            return json_response(
                401,
                openai_error(
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                ),
            )
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            return json_response(
                401,
                openai_error(
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                ),
            )
        if request.path.endswith("/edits"):
            fields, inputs = self._edit_fields(request)
        else:
            fields, inputs = self._generation_fields(request), []
        params = self._check(fields, EDIT_FIELDS if inputs else COMMON_FIELDS)
        behaviour = self.next_behaviour()
        return self._answer(behaviour, params, inputs)

    # -- request checks

    def _generation_fields(self, request: Request) -> dict[str, Any]:
        if request.content_type == "multipart/form-data":
            raise _invalid("prompt", "images/generations takes a JSON body, not multipart/form-data")
        if request.json_error is not None or not isinstance(request.json, dict):
            raise HttpError(
                400,
                openai_error(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                    "sent was not valid JSON.)"
                ),
            )
        fields: dict[str, Any] = request.json
        return fields

    def _edit_fields(self, request: Request) -> tuple[dict[str, Any], list[Image.Image]]:
        if request.content_type != "multipart/form-data":
            raise _invalid("image", "images/edits expects a multipart/form-data body with image files")
        if request.form_error is not None:
            raise HttpError(400, openai_error(f"Could not parse multipart form: {request.form_error}"))
        fields: dict[str, Any] = {name: values[-1] for name, values in request.form.items()}
        images = [upload for upload in request.files if upload.field in ("image", "image[]")]
        for upload in request.files:
            if upload.field not in ("image", "image[]", "mask"):
                raise _invalid(upload.field, f"Unknown parameter: '{upload.field}'.", "unknown_parameter")
        if not images:
            raise _invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
        if len(images) > MAX_IMAGES:
            raise _invalid("image", f"Too many images: {len(images)}; at most {MAX_IMAGES} are accepted.")
        inputs: list[Image.Image] = []
        for number, upload in enumerate(images, start=1):
            if len(upload.data) >= MAX_IMAGE_BYTES:
                raise _invalid("image", f"Image {number} is larger than 50 MB.")
            if sniff_image_type(upload.data) is None:
                raise _invalid(
                    "image",
                    f"Invalid image file or mode for image {number}, please check your image file. "
                    "Supported file formats are 'image/png', 'image/jpeg' and 'image/webp'.",
                    "invalid_image_format",
                )
            try:
                inputs.append(decode_image(upload.data))
            except ValueError:
                raise _invalid(
                    "image",
                    f"Invalid image file or mode for image {number}, please check your image file.",
                    "invalid_image_format",
                ) from None
        for upload in request.files:
            if upload.field == "mask" and sniff_image_type(upload.data) != "image/png":
                raise _invalid("mask", "Invalid mask image: it must be a PNG file.", "invalid_image_format")
        return fields, inputs

    def _check(self, fields: dict[str, Any], known: frozenset[str]) -> _Params:
        for name in fields:
            if name not in known:
                raise _invalid(name, f"Unknown parameter: '{name}'.", "unknown_parameter")
        model = fields.get("model")
        if model is None:
            raise _invalid("model", "Missing required parameter: 'model'.", "missing_required_parameter")
        if not isinstance(model, str) or model not in self.models:
            raise HttpError(
                404,
                openai_error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                ),
            )
        prompt = fields.get("prompt")
        if prompt is None:
            raise _invalid("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _invalid("prompt", "Invalid 'prompt': expected a non-empty string.")
        n = _as_int(fields.get("n", 1), "n")
        if not 1 <= n <= 10:
            raise _invalid(
                "n",
                f"Invalid 'n': integer above maximum value. Expected a value <= 10, got {n}."
                if n > 10
                else f"Invalid 'n': integer below minimum value. Expected >= 1, got {n}.",
            )
        size = fields.get("size", "auto")
        dims: tuple[int, int] | None = None
        if size != "auto":
            match = SIZE.match(size) if isinstance(size, str) else None
            if match is None:
                raise _invalid(
                    "size", f"Invalid value: {size!r}. Supported values are 'auto' or 'WIDTHxHEIGHT'."
                )
            dims = (int(match[1]), int(match[2]))
            if any(side % 16 or not 256 <= side <= 3840 for side in dims):
                raise _invalid(
                    "size",
                    f"Invalid size {size!r}: both sides must be multiples of 16 between 256 and 3840.",
                )
        quality = _choice(fields, "quality", QUALITIES, "auto")
        output_format = _choice(fields, "output_format", OUTPUT_FORMATS, "png")
        background = _choice(fields, "background", BACKGROUNDS, "auto")
        _choice(fields, "moderation", ("low", "auto"), "auto")
        _choice(fields, "input_fidelity", ("low", "high"), "low")
        if background == "transparent" and output_format == "jpeg":
            raise _invalid("background", "Transparent background requires output_format png or webp.")
        if "output_compression" in fields:
            compression = _as_int(fields["output_compression"], "output_compression")
            if not 0 <= compression <= 100:
                raise _invalid("output_compression", "Invalid 'output_compression': expected 0-100.")
        if "response_format" in fields and fields["response_format"] != "b64_json":
            raise _invalid("response_format", "gpt-image models only return b64_json.")
        if fields.get("stream") not in (None, False, "false"):
            raise _invalid("stream", "This fake does not stream; send stream=false or leave it out.")
        if "partial_images" in fields:
            _as_int(fields["partial_images"], "partial_images")
        return _Params(n, size, dims, quality, output_format, background, prompt)

    # -- answers

    def _answer(self, behaviour: Behaviour, params: _Params, inputs: list[Image.Image]) -> Response:
        if isinstance(behaviour, Fail):
            return self._failure(behaviour)
        if isinstance(behaviour, Refuse):
            return json_response(
                400,
                openai_error(
                    "Your request was rejected by the safety system. If you believe this is an error, "
                    "contact us at help.openai.com and include the request ID req_fake.",
                    "image_generation_user_error",
                    code="moderation_blocked",
                ),
            )
        created = int(time.time())
        if isinstance(behaviour, Malformed):
            return json_response(200, {"created": created, "data": []})
        size_out = params.size
        if isinstance(behaviour, NotAnImage):
            payload = NOT_AN_IMAGE
        elif isinstance(behaviour, Return):
            payload = behaviour.data
        elif isinstance(behaviour, Echo):
            source = self._echo_source(behaviour, inputs)
            if params.dims is not None:
                width, height = cap_size(params.dims[0], params.dims[1], self.max_side)
            else:
                aspect = source.width / source.height if inputs else 1.0
                natural_width, natural_height = size_for_aspect(aspect, 1024)
                width, height = cap_size(natural_width, natural_height, self.max_side)
            payload = encode_image(fit_image(source, width, height), params.output_format)
            size_out = f"{width}x{height}"
        else:
            raise TypeError(f"FakeOpenAI cannot play {behaviour!r}")
        n = params.n
        input_tokens = 10 + len(params.prompt) // 4 + 65 * len(inputs)
        output_tokens = 272 * n
        body = {
            "created": created,
            "background": "opaque" if params.background == "auto" else params.background,
            "data": [{"b64_json": b64(payload)} for _ in range(n)],
            "output_format": params.output_format,
            "quality": "medium" if params.quality == "auto" else params.quality,
            "size": size_out,
            "usage": {
                "total_tokens": input_tokens + output_tokens,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "input_tokens_details": {
                    "text_tokens": input_tokens - 65 * len(inputs),
                    "image_tokens": 65 * len(inputs),
                },
            },
        }
        return json_response(200, body)

    def _echo_source(self, behaviour: Echo, inputs: list[Image.Image]) -> Image.Image:
        if not inputs and behaviour.index == 0:
            return decode_image(self.default_image)
        if behaviour.index >= len(inputs):
            raise _invalid(
                "image", f"fake: Echo(index={behaviour.index}) but the request carries {len(inputs)} image(s)"
            )
        return inputs[behaviour.index]

    @staticmethod
    def _failure(fail: Fail) -> Response:
        headers = retry_after_headers(fail.retry_after)
        status = fail.status
        if status == 429:
            message = fail.message or (
                "Rate limit reached for gpt-image-2 in organization org-fake on images per minute (IPM): "
                "Limit 5, Used 5, Requested 1. Please try again later."
            )
            body = openai_error(message, "requests", code="rate_limit_exceeded")
        elif status >= 500:
            message = fail.message or (
                "The engine is currently overloaded, please try again later."
                if status == 503
                else "The server had an error while processing your request. Sorry about that!"
            )
            body = openai_error(message, "server_error")
        elif status == 401:
            body = openai_error(fail.message or "Incorrect API key provided.", code="invalid_api_key")
        else:
            body = openai_error(fail.message or "Invalid request.")
        return json_response(status, body, headers)


def _as_int(value: Any, name: str) -> int:
    """An integer field, from JSON (int) or a form (decimal string)."""
    if isinstance(value, bool):
        raise _invalid(name, f"Invalid type for '{name}': expected an integer, but got a boolean instead.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise _invalid(name, f"Invalid type for '{name}': expected an integer, but got {type(value).__name__}.")


def _choice(fields: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name, default)
    if value not in allowed:
        raise _invalid(
            name,
            f"Invalid value: {value!r}. Supported values are: {', '.join(repr(a) for a in allowed)}.",
        )
    return str(value)
