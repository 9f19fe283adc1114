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


@dataclass(frozen=True)
class EngineImage:
    """An encoded input image (JPEG / PNG / WebP bytes) and what it is, for error messages."""

    data: bytes
    label: str  # e.g. "reference image 2", "identity idn_..." - named in failure reasons


@dataclass(frozen=True)
class EngineRequest:
    operation: Operation
    base_image: EngineImage | None = None
    face_images: tuple[EngineImage, ...] = ()
    # garment photos or cut-outs (PNG with alpha), front views, for try_on
    garment_images: tuple[EngineImage, ...] = ()
    # per operation, documented in the engine; unknown keys are ignored, bad values raise
    params: Mapping[str, Any] = field(default_factory=dict)


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
