"""Avatar jobs (avatar-jobs spec): the generate request, the 202 answer, saved avatars."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from likeness.storable import storable
from likeness.uploads.service import UploadRef

AVATAR_JOB_TYPE = "avatar_generation"
MAX_REFERENCE_IMAGES = 6
MAX_METADATA_KEYS = 16
MAX_METADATA_VALUE = 500

AspectRatio = Literal["1:1", "3:4", "4:3", "4:5", "5:4", "2:3", "3:2", "9:16", "16:9"]
Style = Literal["natural", "grayscale", "warm", "cool", "bright", "dim", "high_contrast"]
HexColour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
HintValue = str | int | float | bool


class AvatarOutput(BaseModel):
    """Output controls. Every field is optional."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["png", "jpeg", "webp"] = "png"
    size: int = Field(default=1024, ge=256, le=2048, description="longest side in pixels")
    aspect_ratio: AspectRatio = "1:1"
    framing: Literal["headshot", "head_and_shoulders"] = "head_and_shoulders"
    background: HexColour | None = Field(default=None, description="replace the background with this colour")
    style: Style | None = None


class AvatarGenerate(BaseModel):
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    # flat: steers composition, style and context; unknown keys are kept and ignored downstream
    hints: Annotated[dict[str, HintValue], AfterValidator(storable)] = Field(default_factory=dict)
    # each a data URL or raw base64, or {"upload_id"} for an image uploaded with POST /uploads
    reference_images: list[str | UploadRef] | None = Field(
        default=None, min_length=1, max_length=MAX_REFERENCE_IMAGES
    )
    output: AvatarOutput = Field(default_factory=AvatarOutput)
    client_reference_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    metadata: dict[str, Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE)]] | None = None
    # the engine or hosted model (GET /api/v1/engines); none: the deployment's default model
    engine: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    # off | report | enforce (the default with one reference image or face_in_scene): whether
    # the avatar is judged against the reference's person, and re-generated when it fails
    identity_check: Literal["off", "report", "enforce"] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"metadata has {len(value)} keys; at most {MAX_METADATA_KEYS} are allowed")
        return value


class JobAccepted(BaseModel):
    """The 202 answer: poll GET /api/v1/jobs/{job_id} until ``status`` is ``completed``."""

    request_id: str
    object: Literal["job"] = "job"
    status: Literal["queued"] = "queued"
    created: int
    job_id: str


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class AvatarSave(BaseModel):
    """The spec calls it a label; ``name`` is accepted too (the same value)."""

    job_id: str = Field(min_length=1, max_length=100)
    label: Label | None = None
    name: Label | None = None

    @model_validator(mode="after")
    def _one_label(self) -> AvatarSave:
        if self.label is None and self.name is None:
            raise ValueError("send a label for the saved avatar")
        if self.label is not None and self.name is not None and self.label != self.name:
            raise ValueError("label and name are the same field; send one (or the same value twice)")
        return self

    @property
    def text(self) -> str:
        return str(self.label or self.name)


class AvatarPublic(BaseModel):
    id: str
    object: Literal["avatar"] = "avatar"
    label: str  # the label you assigned when saving
    name: str  # the same, under its older name
    image_url: str
    job_id: str
    created: int
    width: int
    height: int
    content_type: str


class AvatarList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AvatarPublic]
    total: int
    limit: int
    offset: int
    has_more: bool
