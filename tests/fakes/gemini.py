"""A fake of the Gemini API's generateContent with image output (``POST /v1beta/models/M:generateContent``).

``/v1/models/M:generateContent`` is served the same way (the google-genai SDK defaults to v1).

Checks: the ``x-goog-api-key`` header (or ``?key=``, which the API also takes; 403 PERMISSION_DENIED),
the model (404 NOT_FOUND), and the body (400 INVALID_ARGUMENT): unknown top-level fields, ``contents``
as user turns of ``text`` / ``inlineData`` parts (camelCase or snake_case) with at least one text part
and decodable PNG/JPEG/WebP images, ``generationConfig.responseModalities`` containing IMAGE, and
``imageConfig.aspectRatio`` / ``imageSize`` from the documented sets. Errors use Google's
``{"error": {"code", "message", "status"}}`` shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    b64decode_strict,
    decode_image,
    encode_image,
    json_response,
    retry_after_headers,
    sniff_image_type,
)
from tests.fakes.media import fit_long_side, parse_aspect

GEMINI_MODELS = frozenset(
    {"gemini-3.1-flash-image-preview", "gemini-3-pro-image-preview", "gemini-2.5-flash-image"}
)
ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
IMAGE_SIZES = {"1K": 1024, "2K": 2048, "4K": 4096}
INLINE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
TOP_LEVEL_FIELDS = frozenset(
    {
        "contents",
        "generationConfig",
        "generation_config",
        "safetySettings",
        "safety_settings",
        "systemInstruction",
        "system_instruction",
        "tools",
        "toolConfig",
        "tool_config",
        "cachedContent",
        "cached_content",
        "labels",
    }
)
IMAGE_CONFIG_FIELDS = frozenset({"aspectRatio", "aspect_ratio", "imageSize", "image_size"})

STATUS_WORDS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}
SAFETY_CATEGORIES = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
# the API serves both versions; google-genai >= 2 defaults to v1 for the Gemini API
ROUTE = re.compile(r"^/(?P<version>v1|v1beta)/models/(?P<model>[^/:]+):generateContent$")


def google_error(code: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Google's JSON error body for this HTTP status."""
    words = STATUS_WORDS.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION")
    error: dict[str, Any] = {"code": code, "message": message, "status": words}
    if details:
        error["details"] = details
    return {"error": error}


def _invalid(message: str) -> HttpError:
    return HttpError(400, google_error(400, message))


def _pick(mapping: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in mapping:
            return mapping[name]
    return None


class FakeGemini(FakeServer):
    """The Gemini API's generateContent for image models; one image per call."""

    refuse_kinds = frozenset({"prompt", "image", "prohibited"})

    def __init__(
        self,
        api_key: str = "test-gemini-key",
        default_image: bytes | None = None,
        max_side: int = 1024,
        models: Iterable[str] | None = None,
    ) -> None:
        super().__init__(api_key, default_image, max_side)
        self.models = frozenset(models) if models is not None else GEMINI_MODELS

    def internal_error(self, message: str) -> Response:
        return json_response(500, google_error(500, message))

    def not_found(self, request: Request) -> Response:
        return json_response(404, google_error(404, f"Requested entity was not found: {request.path}"))

    def handle(self, request: Request, call: Call) -> Response:
        route = ROUTE.match(request.path)
        if route is None or request.method != "POST":
            return self.not_found(request)
        call.generation = True
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key != self.api_key:
            message = (
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."
                if not key
                else "API key not valid. Please pass a valid API key."
            )
            return json_response(403, google_error(403, message))
        model = route["model"]
        if model not in self.models:
            return json_response(
                404,
                google_error(
                    404,
                    f"models/{model} is not found for API version {route['version']}, or is not supported "
                    "for generateContent. Call ListModels to see the list of available models and their "
                    "supported methods.",
                ),
            )
        inputs, aspect, size_name = self._parse(request)
        behaviour = self.next_behaviour()
        return self._answer(behaviour, model, inputs, aspect, size_name)

    # -- request checks

    def _parse(self, request: Request) -> tuple[list[Image.Image], str | None, str]:
        if request.json_error is not None or not isinstance(request.json, dict):
            raise _invalid("Invalid JSON payload received. Expected a JSON object body.")
        body: dict[str, Any] = request.json
        for name in body:
            if name not in TOP_LEVEL_FIELDS:
                raise _invalid(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise _invalid("* GenerateContentRequest.contents: contents is not specified")
        inputs: list[Image.Image] = []
        has_text = False
        for i, content in enumerate(contents):
            if not isinstance(content, dict):
                raise _invalid(f"Invalid value at 'contents[{i}]': expected a Content object")
            role = content.get("role", "user")
            if role != "user":
                raise _invalid(f"* GenerateContentRequest.contents[{i}].role: must be 'user', got {role!r}")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                raise _invalid(
                    f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
                )
            for j, part in enumerate(parts):
                where = f"contents[{i}].parts[{j}]"
                if not isinstance(part, dict):
                    raise _invalid(f"Invalid value at '{where}': expected a Part object")
                inline = _pick(part, "inlineData", "inline_data")
                if "text" in part:
                    if not isinstance(part["text"], str):
                        raise _invalid(f"Invalid value at '{where}.text': expected a string")
                    has_text = has_text or bool(part["text"].strip())
                elif inline is not None:
                    inputs.append(self._inline_image(inline, where))
                else:
                    raise _invalid(
                        f"* GenerateContentRequest.{where}.data: required oneof field 'data' must "
                        "have one initialized field"
                    )
        if not has_text:
            raise _invalid("* GenerateContentRequest.contents: a text part with the prompt is required")
        config = _pick(body, "generationConfig", "generation_config")
        if not isinstance(config, dict):
            raise _invalid("generationConfig.responseModalities must include IMAGE for an image model")
        modalities = _pick(config, "responseModalities", "response_modalities")
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
            raise _invalid("generationConfig.responseModalities must be a list including IMAGE")
        for modality in modalities:
            if modality.upper() not in ("TEXT", "IMAGE", "AUDIO"):
                raise _invalid(
                    f"Invalid value at 'generation_config.response_modalities' ({modality!r}): "
                    "expected TEXT or IMAGE"
                )
        if "IMAGE" not in (m.upper() for m in modalities):
            raise _invalid("generationConfig.responseModalities must include IMAGE for an image model")
        image_config = _pick(config, "imageConfig", "image_config")
        aspect: str | None = None
        size_name = "1K"
        if image_config is not None:
            if not isinstance(image_config, dict):
                raise _invalid("Invalid value at 'generation_config.image_config': expected an object")
            for name in image_config:
                if name not in IMAGE_CONFIG_FIELDS:
                    raise _invalid(
                        f'Invalid JSON payload received. Unknown name "{name}" at '
                        "'generation_config.image_config': Cannot find field."
                    )
            aspect = _pick(image_config, "aspectRatio", "aspect_ratio")
            if aspect is not None and aspect not in ASPECT_RATIOS:
                raise _invalid(f"Unsupported aspect ratio {aspect!r}; use one of {sorted(ASPECT_RATIOS)}")
            requested_size = _pick(image_config, "imageSize", "image_size")
            if requested_size is not None:
                if requested_size not in IMAGE_SIZES:
                    raise _invalid(f"Unsupported image size {requested_size!r}; use 1K, 2K or 4K")
                size_name = requested_size
        return inputs, aspect, size_name

    def _inline_image(self, inline: Any, where: str) -> Image.Image:
        if not isinstance(inline, dict):
            raise _invalid(f"Invalid value at '{where}.inline_data': expected a Blob object")
        mime = _pick(inline, "mimeType", "mime_type")
        if mime not in INLINE_MIME_TYPES:
            raise _invalid(f"Unsupported MIME type: {mime} at '{where}.inline_data.mime_type'")
        try:
            data = b64decode_strict(inline.get("data"))
        except ValueError:
            raise _invalid(
                f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
            ) from None
        try:
            return decode_image(data)
        except ValueError:
            raise _invalid(
                "Unable to process input image. Please retry or report in "
                "https://developers.generativeai.google/guide/troubleshooting"
            ) from None

    # -- answers

    def _answer(
        self, behaviour: Behaviour, model: str, inputs: list[Image.Image], aspect: str | None, size_name: str
    ) -> Response:
        usage = {
            "promptTokenCount": 12 + 258 * len(inputs),
            "candidatesTokenCount": 1290,
            "totalTokenCount": 12 + 258 * len(inputs) + 1290,
        }
        if isinstance(behaviour, Fail):
            message = behaviour.message or DEFAULT_MESSAGES.get(behaviour.status, "Request failed.")
            details = None
            if behaviour.status == 429 and behaviour.retry_after is not None:
                details = [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{behaviour.retry_after:g}s",
                    }
                ]
            return json_response(
                behaviour.status,
                google_error(behaviour.status, message, details),
                retry_after_headers(behaviour.retry_after),
            )
        if isinstance(behaviour, Refuse):
            return self._refusal(behaviour.kind, model, usage)
        if isinstance(behaviour, Malformed):
            parts: list[dict[str, Any]] = [{"text": "Here is the image you asked for."}]
            return json_response(200, self._success(parts, model, usage))
        if isinstance(behaviour, NotAnImage):
            inline = {"mimeType": "image/png", "data": b64(NOT_AN_IMAGE)}
        elif isinstance(behaviour, Return):
            inline = {
                "mimeType": sniff_image_type(behaviour.data) or "image/png",
                "data": b64(behaviour.data),
            }
        elif isinstance(behaviour, Echo):
            source = self._echo_source(behaviour, inputs)
            ratio = parse_aspect(aspect) if aspect else (source.width / source.height if inputs else 1.0)
            fitted = fit_long_side(source, ratio, IMAGE_SIZES[size_name], self.max_side)
            inline = {"mimeType": "image/png", "data": b64(encode_image(fitted, "png"))}
        else:
            raise TypeError(f"FakeGemini cannot play {behaviour!r}")
        parts = [{"text": "Here is the image."}, {"inlineData": inline}]
        return json_response(200, self._success(parts, model, usage))

    def _echo_source(self, behaviour: Echo, inputs: list[Image.Image]) -> Image.Image:
        if not inputs and behaviour.index == 0:
            return decode_image(self.default_image)
        if behaviour.index >= len(inputs):
            raise _invalid(
                f"fake: Echo(index={behaviour.index}) but the request carries {len(inputs)} input image(s)"
            )
        return inputs[behaviour.index]

    @staticmethod
    def _success(parts: list[dict[str, Any]], model: str, usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage,
            "modelVersion": model,
        }

    @staticmethod
    def _refusal(kind: str, model: str, usage: dict[str, Any]) -> Response:
        ratings: list[dict[str, Any]] = [
            {"category": category, "probability": "NEGLIGIBLE"} for category in SAFETY_CATEGORIES
        ]
        ratings[0] = {"category": SAFETY_CATEGORIES[0], "probability": "HIGH", "blocked": True}
        if kind == "prompt":
            usage = {
                "promptTokenCount": usage["promptTokenCount"],
                "totalTokenCount": usage["promptTokenCount"],
            }
            body = {
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings},
                "usageMetadata": usage,
                "modelVersion": model,
            }
            return json_response(200, body)
        reason = "IMAGE_SAFETY" if kind == "image" else "IMAGE_PROHIBITED_CONTENT"
        candidate = {
            "content": {"role": "model"},
            "finishReason": reason,
            "finishMessage": "Unable to show the generated image. The image was filtered out because it "
            "violated Google's Generative AI Prohibited Use policy.",
            "index": 0,
        }
        return json_response(200, {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model})
