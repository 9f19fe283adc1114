"""OpenAI Images API (``gpt-image-2-high`` / ``-medium`` / ``-low``: model ``gpt-image-2`` at that quality).

Through the official ``openai`` SDK pointed at ``LIKENESS_OPENAI_BASE_URL`` (its own retries off,
ours apply): ``images/generations`` for a prompt alone, ``images/edits`` (multipart, every
reference image as an ``image[]`` file) when there are images. ``n`` outputs in one call; the size
is the resolution and aspect ratio asked, in multiples of 16. A ``moderation_blocked`` error is a
refusal.
"""

from __future__ import annotations

import base64
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
from likeness.engines.sizes import output_size

REFUSAL_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
MAX_SIDE = 3840
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

_clients = SharedClients()


def _client(base_url: str, api_key: str, timeout: float) -> Any:
    """One SDK client per base URL, key and timeout (its own retries off: ours apply)."""

    def build() -> Any:
        from openai import OpenAI

        return OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    return _clients.get(build, base_url, timeout, api_key=api_key)


def size_for(request: EngineRequest) -> str:
    """``WxH`` in multiples of 16 for the resolution and aspect ratio, or ``auto`` when neither is set."""
    if not request.resolution and (not request.aspect_ratio or request.aspect_ratio == "auto"):
        return "auto"
    width, height = output_size(request.resolution, request.aspect_ratio)
    scale = min(1.0, MAX_SIDE / max(width, height))

    def snap(value: float) -> int:
        return max(256, int(round(value * scale / 16)) * 16)

    return f"{snap(width)}x{snap(height)}"


class OpenAIImageEngine(HostedEngine):
    def generate(self, request: EngineRequest) -> list[EngineOutput]:
        assert self.config.api_key is not None
        client = _client(
            self.config.base_url,
            self.config.api_key.get_secret_value(),
            self.settings.provider_timeout_seconds,
        )
        references = request.references()
        common: dict[str, Any] = {
            "model": self.route.model_id,
            "prompt": full_prompt(request, references),
            "n": max(1, request.count),
            "size": size_for(request),
            "quality": str(self.model.options.get("quality", "auto")),
            "output_format": "png",
        }
        if references:
            files = [
                (f"reference-{i + 1}.{_EXTENSIONS[mime_of(ref.image)]}", ref.image.data, mime_of(ref.image))
                for i, ref in enumerate(references)
            ]
            answer = self.call(
                "images/edits", lambda: client.images.edit(image=files, **common), deadline=request.deadline
            )
        else:
            answer = self.call(
                "images/generations", lambda: client.images.generate(**common), deadline=request.deadline
            )
        data = list(getattr(answer, "data", None) or [])
        if not data:
            raise EngineError("openai answered without an image", code="provider_error")
        outputs = []
        for item in data[: max(1, request.count)]:
            encoded = getattr(item, "b64_json", None)
            if not encoded:
                raise EngineError("openai answered without image data (no b64_json)", code="provider_error")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise EngineError(
                    "openai answered with image data that is not base64", code="provider_error"
                ) from exc
            outputs.append(
                image_output(
                    raw,
                    request,
                    provider="openai",
                    details={
                        "provider": "openai",
                        "provider_model": self.route.model_id,
                        "quality": common["quality"],
                        "size": common["size"],
                    },
                )
            )
        return outputs

    def classify(self, exc: Exception) -> Failure | None:
        import openai

        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else body
            code = str((error or {}).get("code") or "")
            message = str((error or {}).get("message") or exc.message)
            return Failure(
                status=int(exc.status_code),
                message=f"{code}: {message}" if code else message,
                refused=code in REFUSAL_CODES,
                retry_after=retry_after_seconds(exc.response.headers),
            )
        if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
            return Failure(status=None, message=type(exc).__name__)
        return None
