"""The hosted models of the catalog: slug -> provider model, what each can do, what it costs.

One table for every surface: the engine catalog (``GET /api/v1/engines``) and the wardrobe's
model list (``GET /models``) are both made from it, next to our own engines. A slug is available
exactly when its provider has a key in this deployment; ``LIKENESS_MODEL_ROUTES`` can send a
slug to another model id or provider (``{"nano-banana-2": "gemini:gemini-3.1-flash-image"}``).

Light to import (no HTTP client, no numpy): the API lists the catalog from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from likeness.engines.base import EngineCapabilities, Operation, VideoLimits
from likeness.engines.providers.config import PROVIDERS, provider_config
from likeness.settings import Settings, get_settings

IMAGE_ASPECT_RATIOS = ("auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")
VIDEO_ASPECT_RATIOS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
_TEN = IMAGE_ASPECT_RATIOS[1:]
_IMAGE_USES = ("generate", "edit")
# what a prompt-following image model does with the images it is given
IMAGE_OPERATIONS = (
    Operation.GENERATE,
    Operation.PORTRAIT,
    Operation.NEW_FACE,
    Operation.FACE_TRANSFER,
    Operation.EDIT,
    Operation.TRY_ON,
    Operation.SCENE,
)


@dataclass(frozen=True)
class Price:
    """Credits per output: by resolution (``per_image``), or per second of video."""

    per_image: int = 0
    by_resolution: Mapping[str, int] = field(default_factory=dict)
    per_second: float = 0.0
    per_second_with_audio: float | None = None
    base: int = 0

    def credits(self, *, resolution: str | None, duration: int | None, audio: bool) -> int:
        if self.per_second:
            rate = self.per_second_with_audio if audio and self.per_second_with_audio else self.per_second
            return self.base + math.ceil(round(rate * (duration or 0), 6))
        return self.by_resolution.get(resolution or "", self.per_image)


@dataclass(frozen=True)
class HostedModel:
    slug: str
    name: str
    provider: str
    kind: str  # image | upscale | video
    model_id: str  # the provider's model id (for fal image models: the edit endpoint)
    credits: str  # as the spec publishes it
    price: Price
    use_cases: tuple[str, ...] = _IMAGE_USES
    text_model_id: str | None = None  # fal: the text-to-image endpoint, when it differs
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"quality": "high"}
    resolutions: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    max_reference_images: int = 0  # the user's own references (img_ref_urls, avatar references)
    max_input_images: int = 0  # every image one provider call may carry
    durations: tuple[int, ...] = ()
    audio: bool = False
    last_frame: bool = False
    upscale_factors: tuple[int, ...] = ()
    target_resolutions: tuple[str, ...] = ()
    max_outputs: Mapping[str, int] = field(default_factory=dict)
    text_only: bool = True  # can make an image from a prompt alone
    max_output_side: int = 4096

    @property
    def operations(self) -> list[Operation]:
        if self.kind == "upscale":
            return [Operation.UPSCALE]
        if self.kind == "video":
            return [Operation.VIDEO]
        return [op for op in IMAGE_OPERATIONS if self.text_only or op is not Operation.GENERATE]


def _image(
    slug: str,
    name: str,
    provider: str,
    model_id: str,
    credits: str,
    price: Price,
    resolutions: tuple[str, ...],
    aspect_ratios: tuple[str, ...] = _TEN,
    refs: int = 3,
    **extra: Any,
) -> HostedModel:
    return HostedModel(
        slug=slug,
        name=name,
        provider=provider,
        kind="image",
        model_id=model_id,
        credits=credits,
        price=price,
        resolutions=resolutions,
        aspect_ratios=aspect_ratios,
        max_reference_images=refs,
        **extra,
    )


HOSTED_MODELS: tuple[HostedModel, ...] = (
    _image(
        "nano-banana-2",
        "Gemini Flash 2",
        "gemini",
        "gemini-3.1-flash-image-preview",
        "3-7 credits",
        Price(by_resolution={"1K": 3, "2K": 5, "4K": 7}, per_image=5),
        ("1K", "2K", "4K"),
        max_input_images=14,
    ),
    _image(
        "nano-banana-pro",
        "Gemini Pro",
        "gemini",
        "gemini-3-pro-image-preview",
        "5-10 credits",
        Price(by_resolution={"1K": 5, "2K": 7, "4K": 10}, per_image=7),
        ("1K", "2K", "4K"),
        max_input_images=14,
    ),
    *(
        _image(
            f"gpt-image-2-{quality}",
            f"GPT Image 2 ({quality})",
            "openai",
            "gpt-image-2",
            f"{credits} credits",
            Price(per_image=credits),
            ("1K", "2K"),
            options={"quality": quality},
            max_input_images=16,
            max_output_side=2048,
        )
        for quality, credits in (("high", 12), ("medium", 6), ("low", 2))
    ),
    _image(
        "seedream-v4-5",
        "SeedDream 4.5",
        "fal",
        "fal-ai/bytedance/seedream/v4.5/edit",
        "2 credits",
        Price(per_image=2),
        ("1K", "2K", "4K"),
        text_model_id="fal-ai/bytedance/seedream/v4.5/text-to-image",
        max_input_images=10,
    ),
    _image(
        "qwen-rapid-aio-v23",
        "Qwen Intimate",
        "fal",
        "fal-ai/qwen-image-edit-plus",
        "2-3 credits",
        Price(by_resolution={"768X1024": 2, "1024X1280": 3}, per_image=3),
        ("768X1024", "1024X1280"),
        aspect_ratios=(),
        refs=1,
        max_input_images=3,
        text_only=False,
        max_output_side=1280,
    ),
    _image(
        "gemini-flash",
        "Gemini Flash",
        "gemini",
        "gemini-2.5-flash-image",
        "1 credit",
        Price(per_image=1),
        (),
        max_input_images=3,
        max_output_side=1024,
    ),
    HostedModel(
        slug="seedvr2",
        name="SeedVR2 Upscale",
        provider="fal",
        kind="upscale",
        model_id="fal-ai/seedvr/upscale/image",
        credits="1 credit",
        price=Price(per_image=1),
        use_cases=("upscale",),
        upscale_factors=(2, 4),
        target_resolutions=("720p", "1080p", "1440p", "2160p"),
        max_input_images=1,
        max_output_side=8192,
    ),
    HostedModel(
        slug="aura-sr",
        name="Aura SR Upscale",
        provider="fal",
        kind="upscale",
        model_id="fal-ai/aura-sr",
        credits="1 credit",
        price=Price(per_image=1),
        use_cases=("upscale",),
        upscale_factors=(4,),
        target_resolutions=("2160p",),
        max_input_images=1,
        max_output_side=8192,
    ),
    HostedModel(
        slug="seedance-2",
        name="Seedance 2",
        provider="fal",
        kind="video",
        model_id="bytedance/seedance-2.0/image-to-video",
        credits="49-183 credits",
        price=Price(per_second=12.2),
        use_cases=("video",),
        resolutions=("720p",),
        aspect_ratios=VIDEO_ASPECT_RATIOS,
        max_reference_images=9,
        max_input_images=10,
        durations=tuple(range(4, 16)),
        audio=True,
        max_output_side=1280,
    ),
    HostedModel(
        slug="kling-3-pro",
        name="Kling 3 Pro",
        provider="fal",
        kind="video",
        model_id="fal-ai/kling-video/v3/pro/image-to-video",
        credits="14-101 credits",
        price=Price(per_second=4.5, per_second_with_audio=6.7),
        use_cases=("video",),
        durations=tuple(range(3, 16)),
        audio=True,
        last_frame=True,
        max_input_images=2,
        max_output_side=1920,
    ),
    HostedModel(
        slug="kling-2-5-turbo-pro",
        name="Kling 2.5 Turbo Pro",
        provider="fal",
        kind="video",
        model_id="fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
        credits="14-26 credits",
        price=Price(per_second=2.4, base=2),
        use_cases=("video",),
        durations=tuple(range(5, 11)),
        last_frame=True,
        max_input_images=2,
        max_output_side=1920,
    ),
    HostedModel(
        slug="seedance-1-5-pro",
        name="Seedance 1.5 Pro",
        provider="fal",
        kind="video",
        model_id="fal-ai/bytedance/seedance/v1.5/pro/image-to-video",
        credits="6-20 credits",
        price=Price(per_second=1.2, per_second_with_audio=2.0),
        use_cases=("video",),
        durations=tuple(range(5, 11)),
        audio=True,
        last_frame=True,
        max_input_images=2,
        max_output_side=1920,
    ),
)

_BY_SLUG = {m.slug: m for m in HOSTED_MODELS}


def hosted_model(slug: str) -> HostedModel | None:
    return _BY_SLUG.get(slug)


@dataclass(frozen=True)
class Route:
    provider: str
    model_id: str
    text_model_id: str | None
    overridden: bool


def route_of(model: HostedModel, settings: Settings | None = None) -> Route:
    """Where the slug's requests go: the table's provider model, or LIKENESS_MODEL_ROUTES'."""
    settings = settings or get_settings()
    override = settings.model_routes.get(model.slug)
    if override:
        provider, _, model_id = override.partition(":")
        if provider not in PROVIDERS or not model_id:
            raise ValueError(
                f"LIKENESS_MODEL_ROUTES[{model.slug!r}] must be 'provider:model-id' with a provider "
                f"among {', '.join(PROVIDERS)}; got {override!r}"
            )
        return Route(provider=provider, model_id=model_id, text_model_id=None, overridden=True)
    return Route(model.provider, model.model_id, model.text_model_id, overridden=False)


def unavailable_reason(model: HostedModel, settings: Settings | None = None) -> str | None:
    """None when the slug's provider is configured here; otherwise which setting to set."""
    settings = settings or get_settings()
    try:
        route = route_of(model, settings)
    except ValueError as exc:
        return str(exc)
    config = provider_config(route.provider, settings)
    if config.configured:
        return None
    return (
        f"{model.name} ({model.slug}) runs on {route.provider}, and this deployment has no {route.provider} "
        f"key: set {config.key_setting} (or that field of the provider keys secret)"
    )


def hosted_capabilities(model: HostedModel, settings: Settings | None = None) -> EngineCapabilities:
    settings = settings or get_settings()
    reason = unavailable_reason(model, settings)
    try:
        route = route_of(model, settings)
        provider, provider_model = route.provider, route.model_id
        if route.text_model_id:
            provider_model = f"{route.model_id} (text only: {route.text_model_id})"
    except ValueError:
        provider, provider_model = model.provider, model.model_id
    notes = [
        f"Runs on {provider}: the prompt and every input image (faces included) are sent to "
        f"{provider} and leave this deployment.",
    ]
    if not model.text_only:
        notes.append("It edits images: a request needs at least one input image.")
    video = None
    if model.kind == "video":
        video = VideoLimits(min_seconds=min(model.durations), max_seconds=max(model.durations), fps=24)
    return EngineCapabilities(
        slug=model.slug,
        name=model.name,
        description=f"{model.name} on {provider} ({provider_model}).",
        kind="hosted",
        available=reason is None,
        unavailable_reason=reason,
        operations=model.operations,
        uses_model_weights=True,
        max_reference_images=model.max_reference_images or model.max_input_images,
        min_faces_for_new_face=1,
        max_output_side=model.max_output_side,
        aspect_ratios=[a for a in model.aspect_ratios if a != "auto"],
        output_formats=["png", "jpeg", "webp"] if model.kind != "video" else ["mp4"],
        upscale_factors=list(model.upscale_factors),
        video=video,
        notes=notes,
        provider=provider,
        provider_model=provider_model,
        follows_prompt=model.kind != "upscale",
        model_kind=model.kind,
        use_cases=list(model.use_cases),
        credits=model.credits,
        resolutions=list(model.resolutions),
        durations=list(model.durations),
        audio=model.audio,
        last_frame=model.last_frame,
        target_resolutions=list(model.target_resolutions),
        max_outputs=dict(model.max_outputs),
    )
