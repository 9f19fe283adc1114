"""The engine interface every generator implements, and the values that cross it.

An engine declares what it can do (``EngineCapabilities``, listed by the API as data) and
turns an ``EngineRequest`` into ``EngineOutput`` bytes. The job runner stores outputs in S3,
judges their consistency and records them; engines never touch AWS. A request an engine
cannot do raises ``EngineError`` naming what is missing: it never returns a placeholder.

This module stays light (no numpy / OpenCV): the API imports it to list the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field


class Operation(StrEnum):
    # a new image from the prompt; identity, style and base references steer it when given
    GENERATE = "generate"
    # put the face of face_images[0] onto the one person of base_image
    FACE_TRANSFER = "face_transfer"
    # a new face morphed from two or more face_images; params["count"] outputs, each its own weights
    NEW_FACE = "new_face"
    # an avatar portrait of the one person in face_images[0] (framing, background, style)
    PORTRAIT = "portrait"
    # base_image enlarged by params["factor"] (2 or 4)
    UPSCALE = "upscale"
    # base_image changed by params["instructions"], a list of {"op": name, ...arguments}
    EDIT = "edit"
    # a pan-and-zoom MP4 of base_image, params["duration"] seconds long
    VIDEO = "video"
    # the garment cut-outs of garment_images dressed onto the one person of base_image; when
    # face_images[0] is given, that person's face is then transferred onto the result
    TRY_ON = "try_on"
    # the setting of the person photo in face_images[0] (or base_image) with the person removed
    SCENE = "scene"


class ReferenceRole(StrEnum):
    """What a reference image is for: providers are told, in the prompt, which image is which."""

    IDENTITY = "identity"  # the person the output must show (face_images)
    BASE = "base"  # the image to edit, dress or animate (base_image)
    PREVIOUS = "previous"  # the previous image of a continuity series
    GARMENT_FRONT = "garment_front"
    GARMENT_BACK = "garment_back"
    STYLE = "style"  # inspiration only: style, lighting, setting; never the identity
    LAST_FRAME = "last_frame"  # a video's final keyframe


class VideoLimits(BaseModel):
    min_seconds: float
    max_seconds: float
    fps: int


class EngineCapabilities(BaseModel):
    """What an engine can do, as the catalog lists it."""

    slug: str
    name: str
    description: str
    kind: str = Field(description="embedded (runs in the worker), gpu (batch container) or hosted (HTTP)")
    available: bool = True
    unavailable_reason: str | None = None
    operations: list[Operation]
    uses_model_weights: bool
    max_reference_images: int = Field(description="face images one request may send")
    min_faces_for_new_face: int = 2
    max_output_side: int = Field(description="longest side of an image output, in pixels")
    aspect_ratios: list[str]
    output_formats: list[str]
    upscale_factors: list[int] = []
    edit_instructions: list[str] = []
    video: VideoLimits | None = None
    notes: list[str] = Field(default=[], description="what the engine cannot do, in plain words")
    # hosted and GPU engines: who runs the model, and under which id
    provider: str | None = Field(default=None, description="gemini, openai, fal, or null for our own")
    provider_model: str | None = Field(default=None, description="the provider's model id(s) it calls")
    follows_prompt: bool = Field(default=False, description="whether free-text prompts steer the output")
    # the wardrobe catalog's view of the same model (GET /models)
    model_kind: str = Field(default="image", description="image, upscale or video")
    use_cases: list[str] = []
    credits: str = ""
    resolutions: list[str] = []
    durations: list[int] = []
    audio: bool = False
    last_frame: bool = False
    target_resolutions: list[str] = []
    max_outputs: dict[str, int] = {}
    cameras: list[str] = []


@dataclass(frozen=True)
class EngineImage:
    """An encoded input image (JPEG / PNG / WebP bytes) and what it is, for error messages."""

    data: bytes
    label: str  # e.g. "reference image 2", "identity idn_..." - named in failure reasons


@dataclass(frozen=True)
class Reference:
    role: ReferenceRole
    image: EngineImage


@dataclass(frozen=True)
class EngineRequest:
    """One generation: what to make (operation, prompt), from which images (each with its role),
    and the output wanted. Engines read the fields they understand and refuse what they cannot do.

    ``params`` holds engine-specific options (the classical engine's instructions, framing, blend
    weights...); the first-class fields win over params of the same name."""

    operation: Operation
    base_image: EngineImage | None = None
    face_images: tuple[EngineImage, ...] = ()
    # garment photos or cut-outs (PNG with alpha), for try_on; ``garment_backs`` maps a front's
    # index to the index of its back view in the same tuple
    garment_images: tuple[EngineImage, ...] = ()
    garment_backs: Mapping[int, int] = field(default_factory=dict)
    previous_image: EngineImage | None = None
    style_images: tuple[EngineImage, ...] = ()
    last_frame: EngineImage | None = None
    prompt: str = ""
    aspect_ratio: str | None = None  # "3:4"; None: the engine's default or the input's own
    resolution: str | None = None  # "1K", "2K", "4K", "720p", "768X1024"...
    count: int = 1
    seed: int | str | None = None
    duration: int | None = None  # video seconds
    audio: bool = False  # video with generated sound
    # unix time by which the job must be done: retries and waits stop there
    deadline: float | None = None
    # per operation, documented in the engine; unknown keys are ignored, bad values raise
    params: Mapping[str, Any] = field(default_factory=dict)

    def references(self) -> list[Reference]:
        """Every input image with its role, in the order providers receive them: who the output
        shows first, then what it starts from, then what it wears, then inspiration."""
        backs = set(self.garment_backs.values())
        refs = [Reference(ReferenceRole.IDENTITY, image) for image in self.face_images]
        if self.base_image is not None:
            refs.append(Reference(ReferenceRole.BASE, self.base_image))
        if self.previous_image is not None:
            refs.append(Reference(ReferenceRole.PREVIOUS, self.previous_image))
        refs += [
            Reference(ReferenceRole.GARMENT_BACK if i in backs else ReferenceRole.GARMENT_FRONT, image)
            for i, image in enumerate(self.garment_images)
        ]
        refs += [Reference(ReferenceRole.STYLE, image) for image in self.style_images]
        if self.last_frame is not None:
            refs.append(Reference(ReferenceRole.LAST_FRAME, self.last_frame))
        return refs


@dataclass(frozen=True)
class EngineOutput:
    data: bytes
    content_type: str  # image/png, image/jpeg, image/webp or video/mp4
    width: int
    height: int
    kind: str = "image"  # "image" | "video"
    duration_seconds: float | None = None
    # True when the output shows a person: the runner then judges its consistency
    shows_person: bool = True
    # indexes into request.face_images whose person the output should look like
    face_sources: tuple[int, ...] = ()
    # how it was made (blend weights, seed, instructions applied...), stored with the result
    details: Mapping[str, Any] = field(default_factory=dict)


class EngineError(Exception):
    """The engine cannot do this request. ``reason`` becomes the job's failure reason."""

    def __init__(self, reason: str, *, code: str = "engine_cannot_do", missing: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.missing = missing


class Engine(Protocol):
    @property
    def capabilities(self) -> EngineCapabilities: ...

    def run(self, request: EngineRequest) -> list[EngineOutput]: ...


class DeferredEngine(Engine, Protocol):
    """An engine whose provider queues work (minutes for a video): the job is parked while it
    runs instead of holding a worker. ``submit`` returns a JSON-serialisable handle (request ids
    and URLs, never a key) that is stored on the job; ``collect`` returns the outputs, or None
    while the provider is still working; ``cancel`` stops work nobody will collect."""

    def submit(self, request: EngineRequest) -> dict[str, Any]: ...

    def collect(self, handle: Mapping[str, Any], request: EngineRequest) -> list[EngineOutput] | None: ...

    def cancel(self, handle: Mapping[str, Any]) -> None: ...


def is_deferred(engine: Engine) -> bool:
    return all(callable(getattr(engine, name, None)) for name in ("submit", "collect", "cancel"))
