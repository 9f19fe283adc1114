"""Identity records and the shapes the API shows (Create / Public families)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Visibility(StrEnum):
    PRIVATE = "private"
    SHARED = "shared"
    DEFAULT = "default"


class PreprocessingStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class IdentitySource(StrEnum):
    UPLOAD = "upload"
    GENERATED = "generated"


IdentityName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PromoteGenerated(BaseModel):
    """POST /identity/promote-generated: which draft, and the new identity's name."""

    model_config = ConfigDict(extra="forbid")

    image_result_id: str = Field(min_length=1, max_length=100)
    name: IdentityName
    visibility: Visibility = Visibility.PRIVATE


class IdentityCreate(BaseModel):
    """What an upload asks for, besides the image."""

    model_config = ConfigDict(extra="forbid")

    name: IdentityName
    visibility: Visibility = Visibility.PRIVATE


class QualityProblemPublic(BaseModel):
    code: str
    message: str


class FacePublic(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels of the upright image")
    score: float


class IdentityPublic(BaseModel):
    identity_code: str
    name: str
    visibility: Visibility
    owned: bool = Field(description="true when the calling account owns this identity")
    shared_with: list[str] = Field(default_factory=list, description="groups (shown to the owner only)")
    source: IdentitySource
    preprocessing_status: PreprocessingStatus
    preprocessing_time: float | None = None
    quality_score: float | None = None
    quality_problems: list[QualityProblemPublic] = Field(default_factory=list)
    error_message: str | None = None
    width: int | None = None
    height: int | None = None
    face: FacePublic | None = None
    created_at: str
    updated_at: str


class IdentityStatus(BaseModel):
    identity_code: str
    preprocessing_status: PreprocessingStatus
    preprocessing_time: float | None = None
    quality_score: float | None = None
    quality_problems: list[QualityProblemPublic] = Field(default_factory=list)
    error_message: str | None = None
    updated_at: str


class IdentityResultImage(BaseModel):
    kind: str = Field(description="aligned_face, head, head_and_shoulders, mirrored, light_* or source")
    url: str
    content_type: str
    width: int
    height: int


class IdentityResults(BaseModel):
    identity_code: str
    preprocessing_status: PreprocessingStatus
    expires_in: int = Field(description="seconds the signed URLs stay valid")
    results: list[IdentityResultImage]


class IdentityPage(BaseModel):
    data: list[IdentityPublic]
    current_page: int
    page_size: int
    max_page: int
    total_count: int
