"""What every hosted engine shares: calls retried within the job's deadline, refusals told apart
from errors, outputs downloaded and checked, and prompts that say which image is which.

Faults, the same for every provider:

- 429, 5xx, 408 and timeouts are retried with exponential backoff (or the ``Retry-After`` the
  provider sent), up to ``provider_max_attempts`` calls and never past the job's deadline; when
  they run out the call raises ``ProviderUnavailable`` (transient: the job system tries the job
  again later, and the last try fails it with that reason, refunded);
- a content-policy refusal raises ``EngineError(code="provider_refused")`` and any other 4xx
  ``EngineError(code="provider_error")``: the job fails at once and is refunded;
- an answer without an image, or bytes that are not an image or video, is ``provider_error``.

Reasons never carry a key: they are built from status codes and the provider's own message,
and scrubbed of every configured key before they leave (``redact``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from likeness.engines.base import (
    EngineCapabilities,
    EngineError,
    EngineImage,
    EngineOutput,
    EngineRequest,
    Reference,
    ReferenceRole,
)
from likeness.engines.models import HostedModel, Route, hosted_capabilities
from likeness.engines.providers.config import ProviderConfig, redact
from likeness.inline_images import CONTENT_TYPES, sniff_format
from likeness.observability import logger
from likeness.settings import Settings

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
_MAX_BACKOFF = 30.0
_DEADLINE_MARGIN = 5.0  # seconds kept for storing and judging outputs after the last call


class SharedClients:
    """Provider SDK / HTTP clients, made on first use under a lock and shared afterwards (they
    are thread-safe and pool their connections). Keyed by what makes them differ; a key is
    hashed, never kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], Any] = {}

    def get(self, build: Callable[[], T], *parts: Any, api_key: str = "") -> T:
        key = (*parts, hashlib.sha256(api_key.encode()).hexdigest())
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = build()
        return client  # type: ignore[no-any-return]


class ProviderUnavailable(EngineError):
    """The provider kept answering 429 / 5xx / timing out: worth another try later."""

    transient = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="provider_unavailable")


@dataclass(frozen=True)
class Failure:
    """One failed provider call, classified."""

    status: int | None  # None: no answer (timeout, connection)
    message: str
    refused: bool = False
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUSES


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def backoff_seconds(attempt: int) -> float:
    """1, 2, 4, 8... s with +-20% jitter, at most 30 s."""
    return min(_MAX_BACKOFF, 2.0 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def data_uri(image: EngineImage) -> str:
    mime = CONTENT_TYPES.get(sniff_format(image.data) or "", "image/png")
    return f"data:{mime};base64,{base64.b64encode(image.data).decode()}"


def mime_of(image: EngineImage) -> str:
    return CONTENT_TYPES.get(sniff_format(image.data) or "", "image/png")


_ROLE_WORDS: dict[ReferenceRole, str] = {
    ReferenceRole.IDENTITY: "the person to show; keep their face, features and identity exactly",
    ReferenceRole.BASE: "the image to work from",
    ReferenceRole.PREVIOUS: "the previous image of this series; keep continuity with it",
    ReferenceRole.GARMENT_FRONT: "a garment (front view) the person wears",
    ReferenceRole.GARMENT_BACK: "the back view of a garment the person wears",
    ReferenceRole.STYLE: "inspiration for style, lighting and setting only; do not copy this person",
    ReferenceRole.LAST_FRAME: "the final frame the video ends on",
}


def reference_guide(references: Sequence[Reference]) -> str:
    """ "Image 1 is ...; image 2 is ..." in the order the images are sent."""
    if not references:
        return ""
    lines = [f"Image {i + 1}: {_ROLE_WORDS[ref.role]}." for i, ref in enumerate(references)]
    return "Reference images, in order:\n" + "\n".join(lines)


def full_prompt(request: EngineRequest, references: Sequence[Reference]) -> str:
    guide = reference_guide(references)
    prompt = request.prompt.strip() or "Make the image described by the references."
    return f"{prompt}\n\n{guide}" if guide else prompt


def image_output(
    data: bytes, request: EngineRequest, *, provider: str, details: Mapping[str, Any]
) -> EngineOutput:
    """An image the provider made, checked: it must decode; it shows the request's person."""
    image_format = sniff_format(data)
    if image_format is None:
        raise EngineError(
            f"{provider} answered with {len(data)} bytes that are not a PNG, JPEG or WebP image",
            code="provider_error",
        )
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            im.load()
    except Exception as exc:
        raise EngineError(
            f"{provider} answered with an image that does not decode: {exc}", code="provider_error"
        ) from exc
    return EngineOutput(
        data=data,
        content_type=CONTENT_TYPES[image_format],
        width=width,
        height=height,
        shows_person=bool(request.face_images) or request.base_image is not None,
        face_sources=tuple(range(len(request.face_images))),
        details=dict(details),
    )


def video_output(
    data: bytes, request: EngineRequest, *, provider: str, details: Mapping[str, Any]
) -> EngineOutput:
    """A video the provider made, checked: an MP4 with at least one decodable frame."""
    if data[4:8] != b"ftyp":
        raise EngineError(
            f"{provider} answered with {len(data)} bytes that are not an MP4 video", code="provider_error"
        )
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            duration = float(container.duration / 1_000_000) if container.duration else None
            next(container.decode(video=0))
    except Exception as exc:
        raise EngineError(
            f"{provider} answered with a video that does not decode: {exc}", code="provider_error"
        ) from exc
    return EngineOutput(
        data=data,
        content_type="video/mp4",
        width=width,
        height=height,
        kind="video",
        duration_seconds=duration,
        shows_person=bool(request.face_images) or request.base_image is not None,
        face_sources=tuple(range(len(request.face_images))),
        details=dict(details),
    )


class HostedEngine:
    """One catalog slug bound to its provider: checks what it can do, then ``call``s with retries.

    Subclasses implement ``generate(request) -> list[EngineOutput]`` (and, for queued providers,
    the deferred methods) and ``classify(exc) -> Failure | None`` for their client's errors."""

    def __init__(
        self,
        *,
        model: HostedModel,
        route: Route,
        config: ProviderConfig,
        settings: Settings,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.route = route
        self.config = config
        self.settings = settings
        self._sleep = sleep

    @property
    def capabilities(self) -> EngineCapabilities:
        return hosted_capabilities(self.model, self.settings)

    @property
    def provider(self) -> str:
        return self.route.provider

    def run(self, request: EngineRequest) -> list[EngineOutput]:
        self.check(request)
        return self.generate(request)

    def generate(self, request: EngineRequest) -> list[EngineOutput]:  # pragma: no cover - abstract
        raise NotImplementedError

    def classify(self, exc: Exception) -> Failure | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, request: EngineRequest) -> None:
        """Refuse (EngineError) what this model cannot do; the API refuses it earlier, from the same data."""
        if request.operation not in self.model.operations:
            raise EngineError(
                f"{self.model.slug} cannot do {request.operation.value}", code="unsupported_operation"
            )
        images = len(request.references())
        if self.model.max_input_images and images > self.model.max_input_images:
            raise EngineError(
                f"{self.model.slug} takes at most {self.model.max_input_images} input images per call; "
                f"this request has {images}",
                code="too_many_reference_images",
            )
        if not self.model.text_only and images == 0:
            raise EngineError(
                f"{self.model.slug} edits images and this request has none", code="missing_input"
            )

    def call(self, what: str, call: Callable[[], T], *, deadline: float | None) -> T:
        """``call()`` with retries on 429 / 5xx / timeouts, within ``deadline`` (unix time)."""
        attempts = self.settings.provider_max_attempts
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except EngineError:
                raise
            except Exception as exc:
                failure = self.classify(exc)
                if failure is None:
                    raise
                message = redact(failure.message, self.settings)[:500]
                said = f"HTTP {failure.status}" if failure.status else "no answer"
                if failure.refused:
                    raise EngineError(
                        f"{self.provider} refused the request ({said}): {message}", code="provider_refused"
                    ) from None
                if not failure.retryable:
                    raise EngineError(
                        f"{self.provider} rejected the request ({said}): {message}", code="provider_error"
                    ) from None
                wait = failure.retry_after if failure.retry_after is not None else backoff_seconds(attempt)
                left = (deadline - time.time() - _DEADLINE_MARGIN) if deadline is not None else float("inf")
                logger.warning(
                    "provider call failed; retrying",
                    provider=self.provider,
                    call=what,
                    status=failure.status,
                    attempt=attempt,
                    wait_seconds=round(wait, 2),
                )
                if attempt >= attempts or wait >= left:
                    why = "its attempts ran out" if attempt >= attempts else "the job's deadline is near"
                    raise ProviderUnavailable(
                        f"{self.provider} did not answer {what} ({said} on the last of {attempt} tries; "
                        f"{why}): {message}"
                    ) from None
                self._sleep(wait)
