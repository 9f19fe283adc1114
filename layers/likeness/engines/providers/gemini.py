"""Gemini API image models (``nano-banana-2``, ``nano-banana-pro``, ``gemini-flash``).

``POST {base}/v1beta/models/{model}:generateContent`` through the official ``google-genai`` SDK
(pointed at ``LIKENESS_GEMINI_BASE_URL``; its own retries off, ours apply): the prompt and every
reference image inline in one user turn, image output asked with ``responseModalities`` and the
aspect ratio and size in ``imageConfig``. One call makes one image, so ``count`` outputs are
``count`` calls, made side by side. A blocked prompt (``promptFeedback.blockReason``) or a
safety ``finishReason`` is a refusal.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from likeness.engines.base import EngineError, EngineOutput, EngineRequest
from likeness.engines.providers.base import (
    Failure,
    HostedEngine,
    SharedClients,
    full_prompt,
    image_output,
    mime_of,
    retry_after_seconds,
)

# finish reasons that mean "no image, by policy" (the rest without an image are errors)
REFUSAL_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_PROHIBITED_CONTENT",
    }
)
_MAX_PARALLEL = 4

_clients = SharedClients()


def _client(base_url: str, api_key: str, timeout: float) -> Any:
    """One SDK client per base URL, key and timeout (its own retries off: ours apply)."""

    def build() -> Any:
        from google import genai
        from google.genai import types

        return genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version="v1beta",  # the documented image-output surface
                timeout=int(timeout * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    return _clients.get(build, base_url, timeout, api_key=api_key)


def _seed_of(request: EngineRequest, index: int) -> int | None:
    if request.seed is None:
        return None
    digest = hashlib.sha256(f"{request.seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class GeminiImageEngine(HostedEngine):
    def generate(self, request: EngineRequest) -> list[EngineOutput]:
        count = max(1, request.count)
        if count == 1:
            return [self._one(request, 0)]
        with ThreadPoolExecutor(max_workers=min(count, _MAX_PARALLEL)) as pool:
            return list(pool.map(lambda i: self._one(request, i), range(count)))

    def _one(self, request: EngineRequest, index: int) -> EngineOutput:
        from google.genai import types

        assert self.config.api_key is not None
        client = _client(
            self.config.base_url,
            self.config.api_key.get_secret_value(),
            self.settings.provider_timeout_seconds,
        )
        references = request.references()
        parts: list[Any] = [types.Part.from_text(text=full_prompt(request, references))]
        parts += [
            types.Part.from_bytes(data=ref.image.data, mime_type=mime_of(ref.image)) for ref in references
        ]
        image_config: dict[str, Any] = {}
        if request.aspect_ratio and request.aspect_ratio != "auto":
            image_config["aspect_ratio"] = request.aspect_ratio
        if request.resolution in self.model.resolutions:
            image_config["image_size"] = request.resolution
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(**image_config) if image_config else None,
            seed=_seed_of(request, index),
        )
        response = self.call(
            "generateContent",
            lambda: client.models.generate_content(
                model=self.route.model_id,
                contents=[types.Content(role="user", parts=parts)],
                config=config,
            ),
            deadline=request.deadline,
        )
        return image_output(
            self._image_bytes(response),
            request,
            provider="gemini",
            details={
                "provider": "gemini",
                "provider_model": self.route.model_id,
                "seed": _seed_of(request, index),
            },
        )

    def _image_bytes(self, response: Any) -> bytes:
        feedback = getattr(response, "prompt_feedback", None)
        block = getattr(feedback, "block_reason", None) if feedback is not None else None
        if block:
            raise EngineError(
                f"gemini refused the prompt (blockReason {_word(block)})", code="provider_refused"
            )
        candidates = getattr(response, "candidates", None) or []
        if not candidates:
            raise EngineError("gemini answered without a candidate image", code="provider_error")
        candidate = candidates[0]
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            inline = getattr(part, "inline_data", None)
            if inline is not None and getattr(inline, "data", None):
                return bytes(inline.data)
        reason = _word(getattr(candidate, "finish_reason", None))
        if reason in REFUSAL_FINISH_REASONS:
            raise EngineError(
                f"gemini refused to make the image (finishReason {reason})", code="provider_refused"
            )
        raise EngineError(
            f"gemini answered without an image (finishReason {reason or 'none'})", code="provider_error"
        )

    def classify(self, exc: Exception) -> Failure | None:
        import httpx
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None)
            message = f"{exc.status or ''} {exc.message or ''}".strip()
            return Failure(status=int(exc.code), message=message, retry_after=retry_after_seconds(headers))
        if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
            return Failure(status=None, message=type(exc).__name__)
        return None


def _word(value: Any) -> str:
    """An SDK enum or a plain string, as the API spells it."""
    if value is None:
        return ""
    return str(getattr(value, "value", value)).rsplit(".", 1)[-1]
