"""Generation requests and the shapes the wardrobe spec shows generations and results in."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from likeness.jobs.models import JobState
from likeness.storable import storable

UseCase = Literal["generate", "edit", "upscale", "video"]
AspectRatio = Literal["auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"]
Resolution = Literal["720p", "1K", "768X1024", "1024X1280", "2K", "4K"]
TargetResolution = Literal["720p", "1080p", "1440p", "2160p"]
WebhookEvent = Literal["generation.completed", "generation.failed"]
StatusWord = Literal["Created", "Ongoing", "Done", "Error"]

STATUS_WORDS: dict[JobState, StatusWord] = {
    JobState.QUEUED: "Created",
    JobState.RUNNING: "Ongoing",
    JobState.SUCCEEDED: "Done",
    JobState.FAILED: "Error",
    JobState.CANCELLED: "Error",
}
MAX_CLOTHING_ITEMS = 5


class GenerationCreate(BaseModel):
    """POST /generation: every field of the spec (plus ``batch_id``, to group a collection)."""

    model_config = ConfigDict(extra="forbid")

    clothing_item_id: int | None = None
    clothing_item_ids: list[int] | None = Field(default=None, max_length=MAX_CLOTHING_ITEMS)
    avatar_id: int | None = None
    model_slug: str | None = None
    use_case: UseCase = "generate"
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)] | None = None
    num_images: int = Field(default=1, ge=1, le=5)
    camera: str = "photo"
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    img_ref_urls: list[str] = Field(default_factory=list, max_length=9)
    generation_result_parent_id: int | None = None
    image_url: str | None = None
    last_frame_url: str | None = None
    duration: int | None = Field(default=None, ge=3, le=15)
    generate_audio: bool = False
    upscale_factor: Literal[2, 4] = 2
    target_resolution: TargetResolution | None = None
    feature_setting: Annotated[dict[str, Any], AfterValidator(storable)] | None = None
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=200)
    webhook_events: list[WebhookEvent] | None = None
    enhance_user_prompt: bool = True
    batch_id: int | None = Field(default=None, ge=0)
    # off | report | enforce: whether outputs are judged against the avatar (generate) or the
    # source image's person (edit, upscale, video), and re-generated when they fail (enforce).
    # Default: enforce for a try-on with an avatar, report otherwise.
    identity_check: Literal["off", "report", "enforce"] | None = None

    @model_validator(mode="after")
    def _rules_of_the_use_case(self) -> GenerationCreate:
        has_source = self.generation_result_parent_id is not None or self.image_url is not None
        if self.generation_result_parent_id is not None and self.image_url is not None:
            raise ValueError("send generation_result_parent_id or image_url, not both")
        if self.use_case == "generate":
            if has_source:
                raise ValueError(
                    "generate takes clothing items; generation_result_parent_id and image_url "
                    "are for edit, upscale and video"
                )
            if not self.clothing_item_ids_all:
                raise ValueError("generate needs clothing_item_id or clothing_item_ids")
            if not self.prompt:
                raise ValueError("generate needs a prompt")
        else:
            if not has_source:
                raise ValueError(f"{self.use_case} needs generation_result_parent_id or image_url")
            if self.use_case == "edit" and not self.prompt:
                raise ValueError("edit needs a prompt (the edit instructions)")
            if self.use_case == "video" and self.duration is None:
                raise ValueError("video needs a duration")
        if self.webhook_secret is not None and self.webhook_url is None:
            raise ValueError("webhook_secret needs a webhook_url")
        return self

    @property
    def clothing_item_ids_all(self) -> list[int]:
        ids = ([self.clothing_item_id] if self.clothing_item_id is not None else []) + list(
            self.clothing_item_ids or []
        )
        return list(dict.fromkeys(ids))


class GenerationResultPublic(BaseModel):
    generation_result_id: int
    generation_id: int
    url: str | None
    kind: Literal["Image", "Video"]
    created_at: str
    updated_at: str | None
    clothing_item_id: int | None
    available: bool
    origin: str = "api"
    width: int
    height: int
    content_type: str
    consistency: dict[str, Any] | None = None


class GenerationPublic(BaseModel):
    generation_id: int
    clothing_item_id: int | None
    clothing_item_ids: list[int]
    num_images: int
    payload: str
    status: StatusWord
    feature_name: str
    created_at: str
    updated_at: str
    avatar_id: int | None
    batch_id: int | None = None
    external_id: str
    cost: int
    error_message: str | None = None
    generation_results: list[GenerationResultPublic] = []
