"""Media identities: the request and response shapes (media-identities spec).

Every answer carries ``"success": true``; errors keep the service-wide shape
``{"detail": {"code", "message", "fix"?}}``.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

# an identity's and a file's id: 32 lowercase hex digits (a UUID without dashes)
UUID_HEX = re.compile(r"^[0-9a-f]{32}$")
# metadata and reference data are free-form JSON kept on the identity's item (DynamoDB: 400 KB)
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 16
MAX_HINTS = 100

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class IdentitySource(StrEnum):
    JSON = ".json"
    AUTO = "auto"
    TMDB = "tmdb"
    USER_DEFINED = "user_defined"
    MERGED = "merged"


class IdentityStatus(StrEnum):
    CONFIRMED = "confirmed"
    PENDING = "pending"
    INACTIVE = "inactive"


class FileStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class MediaType(StrEnum):
    VIDEO = "video"
    IMAGE = "image"


class Assignment(StrEnum):
    """How a trace came to belong to its identity."""

    MATCHED = "matched"  # the indexer matched it to an enrolled face
    AUTO = "auto"  # part of a recurring unknown person: an auto identity
    BOUND = "bound"  # a person said so (bind, split)


# ---------------------------------------------------------------------------- helpers
def normalize_uuid(value: str) -> str:
    """``a9a9…f4`` or ``A9A90105-6D6B-…`` -> 32 lowercase hex digits; ValueError otherwise."""
    text = value.strip().lower()
    if UUID_HEX.match(text):
        return text
    try:
        return uuid.UUID(text).hex
    except ValueError:
        raise ValueError(f"{value!r} is not an identity uuid (32 hexadecimal digits)") from None


def check_storable(value: Any, depth: int = 0) -> None:
    """What a DynamoDB item cannot hold, refused as a 422 rather than a 500 at write time."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nested more than {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, dict):
        for inner in value.values():
            check_storable(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            check_storable(inner, depth + 1)


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    check_storable(value)
    if len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES // 1024} KB")
    return value


def parse_hints(value: Any) -> list[str]:
    """Identity hints as sent: a JSON list, a JSON-encoded list in a form field, or a comma list."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError("identity_hints is not a valid JSON list") from None
        else:
            value = [part for part in (p.strip() for p in text.split(",")) if part]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("identity_hints must be a list of identity uuids")
    if len(value) > MAX_HINTS:
        raise ValueError(f"at most {MAX_HINTS} identity_hints")
    return list(dict.fromkeys(normalize_uuid(v) for v in value))


# ---------------------------------------------------------------------------- identities
class IdentityCreate(BaseModel):
    """POST /api/v1/identities: a user-defined identity."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    identity_type: Literal["people"] | None = "people"
    status: IdentityStatus = IdentityStatus.CONFIRMED
    tmdb_id: int | None = Field(default=None, ge=0)
    tmdb_profile: Text | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _metadata(value)


class IdentityUpdate(BaseModel):
    """PATCH /api/v1/identity/{uuid}: only the fields sent change (``null`` clears optional ones)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    identity_type: Literal["people"] | None = None
    status: IdentityStatus | None = None
    tmdb_id: int | None = Field(default=None, ge=0)
    tmdb_profile: Text | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _metadata(value)

    @model_validator(mode="after")
    def _not_null(self) -> IdentityUpdate:
        for required in ("name", "status"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent, as JSON values."""
        return self.model_dump(mode="json", exclude_unset=True)


class FileBinding(BaseModel):
    """Informational in an identity.json: stored as given."""

    model_config = ConfigDict(extra="allow")

    file_uuid: str
    trace_ids: list[int] = Field(default_factory=list)
    face_count: int = Field(default=0, ge=0)


class IdentityFile(BaseModel):
    """POST /api/v1/identity/upload: an identity.json as stored on disk."""

    # the files on disk may carry more than these fields; they are not refused
    model_config = ConfigDict(extra="ignore")

    version: int = 1
    identity_uuid: str
    name: Name
    identity_type: Literal["people"] | None = None
    source: IdentitySource = IdentitySource.JSON
    status: IdentityStatus = IdentityStatus.CONFIRMED
    tmdb_id: int | None = Field(default=None, ge=0)
    tmdb_profile: Text | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    file_bindings: list[FileBinding] = Field(default_factory=list, max_length=10_000)

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _metadata(value)

    @field_validator("identity_uuid")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return normalize_uuid(value)


class IdentityPublic(BaseModel):
    identity_uuid: str
    name: str
    identity_type: str | None
    source: IdentitySource
    status: IdentityStatus
    tmdb_id: int | None
    tmdb_profile: str | None
    metadata: dict[str, Any]
    reference_data: dict[str, Any]
    created_at: str
    updated_at: str | None
    # beyond the spec: where its profile image is served (null: none uploaded)
    profile_image_url: str | None = None


class IdentityResponse(IdentityPublic):
    success: Literal[True] = True


class IdentityList(BaseModel):
    success: Literal[True] = True
    count: int = Field(description="identities in all pages")
    page: int
    page_size: int
    identities: list[IdentityPublic]


class IdentitySearchHit(BaseModel):
    identity_uuid: str
    name: str
    source: IdentitySource
    status: IdentityStatus
    tmdb_id: int | None
    file_uuid: str | None = Field(description="a file this identity appears in, or null")


class IdentitySearch(BaseModel):
    success: Literal[True] = True
    query: str
    count: int
    page: int
    page_size: int
    identities: list[IdentitySearchHit]


class IdentityUploaded(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    name: str
    created: bool
    message: str = "Identity uploaded successfully"


class IdentityDeleted(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    unassigned_traces: int
    message: str = "Identity deleted"


class ProfileImageSaved(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    path: str
    message: str


class Appearance(BaseModel):
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float


class IdentityFileSummary(BaseModel):
    file_uuid: str
    filename: str
    face_count: int
    confidence: float
    first_seen: float = Field(description="seconds")
    last_seen: float = Field(description="seconds")
    appearances: list[Appearance]


class IdentityFiles(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    count: int
    data: list[IdentityFileSummary]


class IdentityFace(BaseModel):
    file_uuid: str
    frame_number: int
    face_id: str
    confidence: float
    trace_id: int
    box: list[float]


class IdentityFaces(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    count: int
    page: int
    page_size: int
    data: list[IdentityFace]


class ChunkPublic(BaseModel):
    id: int
    file_uuid: str
    chunk_id: str
    chunk_type: Literal["sentence"] = "sentence"
    start_frame: int
    end_frame: int
    fps: float
    start_time: float
    end_time: float
    text_content: str


class IdentityChunks(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    count: int
    data: list[ChunkPublic]


class BindRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_uuid: str = Field(min_length=1, max_length=64)
    face_id: str = Field(min_length=1, max_length=64, description="{frame}_{idx}, e.g. 1_5")


class BindResult(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    file_uuid: str
    face_id: str
    trace_id: int
    face_count: int
    message: str


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_identity_uuid: str
    identity_uuids: list[str] = Field(min_length=1, max_length=100)


class MergeResult(BaseModel):
    success: Literal[True] = True
    identity_uuid: str
    merged_identity_uuids: list[str]
    moved_traces: int
    identity: IdentityPublic
    message: str = "Identities merged"


class SplitFace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_uuid: str = Field(min_length=1, max_length=64)
    face_id: str = Field(min_length=1, max_length=64)


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    faces: list[SplitFace] = Field(min_length=1, max_length=1000)


class SplitResult(BaseModel):
    success: Literal[True] = True
    identity_uuid: str = Field(description="the identity the faces were split from")
    new_identity: IdentityPublic
    moved_traces: int
    message: str = "Faces split into a new identity"


class AuditEntry(BaseModel):
    audit_id: str
    action: str
    identity_uuid: str | None
    identity_uuids: list[str]
    details: dict[str, Any]
    key_id: str | None
    created_at: str


class AuditList(BaseModel):
    success: Literal[True] = True
    count: int
    page: int
    page_size: int
    entries: list[AuditEntry]


# ---------------------------------------------------------------------------- files
class FileIdentity(BaseModel):
    identity_uuid: str
    name: str
    face_count: int


class FilePublic(BaseModel):
    file_uuid: str
    filename: str
    content_type: str
    media_type: MediaType
    size_bytes: int
    status: FileStatus
    duration: float | None = None
    fps: float | None = None
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    faces_found: int = 0
    traces: int = 0
    identities: list[FileIdentity] = Field(default_factory=list)
    subtitles: bool = False
    chunk_count: int = 0
    identity_hints: list[str] = Field(default_factory=list)
    error: str | None = None
    created_at: str
    updated_at: str | None = None
    indexed_at: str | None = None


class FileResponse(FilePublic):
    success: Literal[True] = True


class FileList(BaseModel):
    success: Literal[True] = True
    count: int
    page: int
    page_size: int
    files: list[FilePublic]


class FileFromS3(BaseModel):
    """POST /api/v1/files as JSON: a file already uploaded with a presigned URL."""

    model_config = ConfigDict(extra="forbid")

    s3_key: str = Field(min_length=1, max_length=1024)
    subtitles_s3_key: str | None = Field(default=None, min_length=1, max_length=1024)
    filename: str | None = Field(default=None, max_length=255)
    identity_hints: list[str] | str | None = None


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str | None = Field(default=None, max_length=255)


class UploadTicket(BaseModel):
    success: Literal[True] = True
    s3_key: str
    upload_url: str
    method: Literal["PUT"] = "PUT"
    expires_in: int
    max_bytes: int


class ReindexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity_hints: list[str] | str | None = Field(
        default=None, description="replace the file's hints; [] clears them; absent keeps them"
    )


class FileDeleted(BaseModel):
    success: Literal[True] = True
    file_uuid: str
    deleted_identities: list[str]
    message: str = "File deleted"


class FaceDetection(BaseModel):
    face_id: str
    frame_number: int
    box: list[float]
    confidence: float


class FileTrace(BaseModel):
    trace_id: int
    identity_uuid: str | None
    name: str | None
    assignment: Assignment | None
    distance: float | None
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    face_count: int
    confidence: float
    faces: list[FaceDetection]


class FileFaces(BaseModel):
    success: Literal[True] = True
    file_uuid: str
    count: int
    traces: list[FileTrace]


class FileChunk(ChunkPublic):
    identity_uuids: list[str] = Field(description="identities on screen during the chunk")


class FileChunks(BaseModel):
    success: Literal[True] = True
    file_uuid: str
    count: int
    data: list[FileChunk]
