"""Character records and the shapes the API shows (character-visual-identity spec).

Every response of this surface is an envelope: ``{"schema_version": "v0", "data": ...,
"next_actions": [{"command", "description"}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from likeness.storable import check_storable, storable

SCHEMA_VERSION: Literal["v0"] = "v0"
# the spec's "up to ~8 MB per file"
MAX_ASSET_BYTES = 8 * 1024 * 1024
# a version item holds one profile; DynamoDB items stop at 400 KB, and profiles are text
MAX_PROFILE_BYTES = 64 * 1024
MAX_PROFILE_DEPTH = 16

T = TypeVar("T")

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,64}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AssetText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]


# ---------------------------------------------------------------------------- envelope
class NextAction(BaseModel):
    command: str
    description: str


class Envelope(BaseModel, Generic[T]):
    schema_version: Literal["v0"] = SCHEMA_VERSION
    data: T
    next_actions: list[NextAction] = Field(default_factory=list)


def envelope(data: T, actions: Iterable[tuple[str, str]] = ()) -> Envelope[T]:
    return Envelope(data=data, next_actions=[NextAction(command=c, description=d) for c, d in actions])


# ---------------------------------------------------------------------------- statuses
class AssetCategory(StrEnum):
    IDENTITY = "identity"
    WARDROBE = "wardrobe"
    ACCESSORY = "accessory"
    PROP = "prop"
    PLACE = "place"
    SCENE = "scene"
    STYLE = "style"
    KEYFRAME = "keyframe"


# what the inventory_coverage check counts: every category but identity
INVENTORY_CATEGORIES: tuple[AssetCategory, ...] = tuple(
    c for c in AssetCategory if c is not AssetCategory.IDENTITY
)


class AssetStatus(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


class PromotionStatus(StrEnum):
    CANDIDATE = "candidate"
    APPROVED_ANCHOR = "approved_anchor"
    APPROVED_KEYFRAME = "approved_keyframe"


class QaStatus(StrEnum):
    UNREVIEWED = "unreviewed"
    PASSED = "passed"
    FAILED = "failed"
    MANUAL_REQUIRED = "manual_required"


class AssetSource(StrEnum):
    UPLOAD = "upload"
    PROBE = "probe"
    INVENTORY = "inventory"


class SessionState(StrEnum):
    OPEN = "open"
    EXITED = "exited"


class CheckStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    WEAK = "weak"
    DISABLED = "disabled"


class ReadinessStatus(StrEnum):
    NEEDS_ATTENTION = "needs_attention"
    READY_WITH_WARNINGS = "ready_with_warnings"
    READY = "ready"


# ---------------------------------------------------------------------------- characters
class CharacterProfile(BaseModel):
    """Free-form authoring profile. ``identity_anchors`` is ``list[str] | dict``: both are valid
    here; only the image pipeline (and the visual-readiness check) needs the dict form."""

    model_config = ConfigDict(extra="allow")

    identity_anchors: list[str] | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _storable(self) -> CharacterProfile:
        dumped = self.as_dict()
        check_storable(dumped, max_depth=MAX_PROFILE_DEPTH)
        if len(json.dumps(dumped)) > MAX_PROFILE_BYTES:
            raise ValueError(f"the profile is larger than {MAX_PROFILE_BYTES // 1024} KB")
        return self

    def as_dict(self) -> dict[str, Any]:
        # an unset identity_anchors is absent, not null: the PATCH warning is about exactly that
        return self.model_dump(exclude_unset=True)


# a probability DynamoDB can store (1e-320 is between 0 and 1, and not a storable number)
Share = Annotated[float, AfterValidator(storable)]


class BehavioralThresholds(BaseModel):
    # unknown keys are refused: a misspelt knob would otherwise leave images silently off
    model_config = ConfigDict(extra="forbid")

    image_proactivity: Share = Field(default=0.0, ge=0, le=1)
    selfie_comfort: Share = Field(default=0.0, ge=0, le=1)
    daily_image_cap: int = Field(default=0, ge=0, le=1_000_000)


class BehavioralThresholdsPatch(BaseModel):
    """Only the fields sent change; the others keep the active version's values."""

    model_config = ConfigDict(extra="forbid")

    image_proactivity: Share | None = Field(default=None, ge=0, le=1)
    selfie_comfort: Share | None = Field(default=None, ge=0, le=1)
    daily_image_cap: int | None = Field(default=None, ge=0, le=1_000_000)


class CharacterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug = Field(description="lowercase letters, digits and '-', 2-64 characters; unique per account")
    name: Name
    profile: CharacterProfile = Field(default_factory=CharacterProfile)
    behavioral_thresholds: BehavioralThresholds = Field(default_factory=BehavioralThresholds)


class CharacterPatch(BaseModel):
    """``profile`` REPLACES the active profile wholesale (a new version); ``behavioral_thresholds``
    changes only the fields sent (also a new version); ``name`` is not versioned."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    profile: CharacterProfile | None = None
    behavioral_thresholds: BehavioralThresholdsPatch | None = None


class CharacterPublic(BaseModel):
    slug: str
    name: str
    active_version_id: str
    version: int = Field(description="the active version's number (1, 2, ...)")
    version_count: int
    profile: dict[str, Any]
    behavioral_thresholds: BehavioralThresholds
    created_at: str
    updated_at: str


class CharacterVersionPublic(BaseModel):
    version_id: str
    version: int
    active: bool
    profile: dict[str, Any]
    behavioral_thresholds: BehavioralThresholds
    created_at: str


class CharacterList(BaseModel):
    characters: list[CharacterPublic]
    # pass it back as ``cursor`` for the next page; null on the last page
    next_cursor: str | None = None


class CharacterVersions(BaseModel):
    slug: str
    active_version_id: str
    versions: list[CharacterVersionPublic]


# ---------------------------------------------------------------------------- sessions
class SessionPublic(BaseModel):
    session_id: str
    slug: str
    state: SessionState
    version_id: str = Field(description="the character's active version when the session opened")
    last_seq: int = Field(description="the sequence number of the newest event")
    created_at: str
    updated_at: str
    exited_at: str | None = None


class SessionList(BaseModel):
    slug: str
    sessions: list[SessionPublic]


class SessionEvent(BaseModel):
    seq: int
    type: str
    data: dict[str, Any]
    created_at: str


class SessionEvents(BaseModel):
    session_id: str
    state: SessionState
    since: int
    events: list[SessionEvent]
    next_since: int = Field(description="pass as ?since= to get only newer events")
    has_more: bool


# ---------------------------------------------------------------------------- visual assets
class AssetUpload(BaseModel):
    """The form fields of an upload besides the file (category is checked separately, so an
    unknown one gets the spec's invalid_category)."""

    asset_key: AssetText
    label: AssetText
    visual_summary: Description | None = None
    visual_description: Description | None = None


class AssetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    promotion_status: PromotionStatus | None = None
    qa_status: QaStatus | None = None
    asset_status: AssetStatus | None = None


class VisualAssetPublic(BaseModel):
    asset_id: str
    slug: str
    category: AssetCategory
    asset_key: str
    label: str
    visual_summary: str | None
    visual_description: str
    asset_status: AssetStatus
    promotion_status: PromotionStatus
    qa_status: QaStatus
    image_url: str = Field(description="a signed URL, valid for a limited time")
    content_type: str
    width: int | None = None
    height: int | None = None
    source: AssetSource
    source_probe_id: str | None = None
    created_at: str
    updated_at: str


class VisualAssetList(BaseModel):
    slug: str
    assets: list[VisualAssetPublic]


class DeletedAsset(BaseModel):
    asset_id: str
    deleted: bool = True


class InventoryGroup(BaseModel):
    count: int
    counts: dict[str, int] = Field(description="assets of this category by asset_status")
    assets: list[VisualAssetPublic]


class VisualInventory(BaseModel):
    slug: str
    total: int
    counts: dict[str, int] = Field(description="all assets by asset_status")
    categories: dict[str, InventoryGroup]


# ---------------------------------------------------------------------------- readiness
class ReadinessCheck(BaseModel):
    id: str
    status: CheckStatus
    summary: str
    fix: str | None = None


class VisualReadiness(BaseModel):
    slug: str
    status: ReadinessStatus
    checks: list[ReadinessCheck]
    active_version_id: str
    scope_note: str

    def check(self, check_id: str) -> ReadinessCheck:
        return next(c for c in self.checks if c.id == check_id)


class CharacterReadiness(VisualReadiness):
    """The character-wide launch readiness: persona, voice, budget, delivery + the visual checks."""
