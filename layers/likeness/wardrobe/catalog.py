"""The model catalog (GET /models) and camera list (GET /cameras), as the wardrobe spec shows them.

One catalog: every entry is an engine of ``likeness.engines.catalog`` (the spec's hosted slugs
and our own ``classical``), shown in the wardrobe's shape. A hosted slug is available exactly
when its provider has a key here; otherwise the reason names the setting to set. Prices follow
the spec's catalog (``likeness.engines.models``); the classical engine's are below.

Prices (credits) of the classical engine: per output image 1 at up to 1K, 2 at 2K, 3 at 4K
(edits and try-ons alike); upscale 1 per output at 2x, 2 at 4x; video 1 per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from likeness.engines.base import EngineCapabilities
from likeness.engines.sizes import RESOLUTION_SIZES

ASPECT_RATIOS = ("auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")
VIDEO_ASPECT_RATIOS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
IMAGE_RESOLUTIONS = ("720p", "1K", "768X1024", "1024X1280", "2K", "4K")
TARGET_RESOLUTIONS = ("720p", "1080p", "1440p", "2160p")
USE_CASES = ("generate", "edit", "upscale", "video")

__all__ = [
    "ASPECT_RATIOS",
    "CAMERAS",
    "RESOLUTION_SIZES",
    "ModelEntry",
    "cameras",
    "classical_price",
    "model",
    "models",
    "price",
]


@dataclass(frozen=True)
class ModelEntry:
    slug: str
    name: str
    kind: str  # image | upscale | video
    use_cases: tuple[str, ...]
    credits: str  # as published, e.g. "3-7 credits"
    engine: str  # the engine that runs it (the slug itself)
    available: bool
    unavailable_reason: str | None
    provider: str | None = None
    provider_model: str | None = None
    resolutions: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    max_reference_images: int = 0
    durations: tuple[int, ...] = ()
    audio: bool = False
    last_frame: bool = False
    upscale_factors: tuple[int, ...] = ()
    target_resolutions: tuple[str, ...] = ()
    max_outputs: dict[str, int] = field(default_factory=dict)  # per use case, when below 5
    cameras: tuple[str, ...] = ()  # empty: every camera value
    max_output_side: int = 4096

    @classmethod
    def of(cls, caps: EngineCapabilities) -> ModelEntry:
        images = caps.model_kind == "image"
        return cls(
            slug=caps.slug,
            name=caps.name,
            kind=caps.model_kind,
            use_cases=tuple(caps.use_cases),
            credits=caps.credits,
            engine=caps.slug,
            available=caps.available,
            unavailable_reason=caps.unavailable_reason,
            provider=caps.provider,
            provider_model=caps.provider_model,
            resolutions=tuple(caps.resolutions),
            # "auto" (the model's own framing) is always there where a ratio can be chosen
            aspect_ratios=(("auto", *caps.aspect_ratios) if caps.aspect_ratios else ()),
            # the caller's own references (img_ref_urls): only prompt-following models use them
            max_reference_images=caps.max_reference_images
            if caps.follows_prompt and (images or caps.model_kind == "video")
            else 0,
            durations=tuple(caps.durations),
            audio=caps.audio,
            last_frame=caps.last_frame,
            upscale_factors=tuple(caps.upscale_factors),
            target_resolutions=tuple(caps.target_resolutions),
            max_outputs=dict(caps.max_outputs),
            cameras=tuple(caps.cameras),
            max_output_side=caps.max_output_side,
        )

    def public(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "use_cases": list(self.use_cases),
            "credits": self.credits,
            "available": self.available,
            "unavailable_reason": self.unavailable_reason,
            "engine": self.engine,
            "provider": self.provider,
            "provider_model": self.provider_model,
            "capabilities": {
                "resolutions": list(self.resolutions),
                "aspect_ratios": list(self.aspect_ratios),
                "max_reference_images": self.max_reference_images,
                "durations": list(self.durations),
                "audio": self.audio,
                "last_frame": self.last_frame,
                "upscale_factors": list(self.upscale_factors),
                "target_resolutions": list(self.target_resolutions),
                "max_outputs": {u: self.max_outputs.get(u, 5) for u in self.use_cases},
                "cameras": list(self.cameras or CAMERAS),
            },
        }


def models() -> list[ModelEntry]:
    """Every engine that serves a wardrobe use case, in the engine catalog's order."""
    from likeness.engines.catalog import engine_catalog

    return [ModelEntry.of(caps) for caps in engine_catalog() if caps.use_cases]


def model(slug: str) -> ModelEntry | None:
    from likeness.engines.catalog import get_capabilities
    from likeness.errors import LikenessError

    try:
        caps = get_capabilities(slug)
    except LikenessError:
        return None
    return ModelEntry.of(caps) if caps.use_cases else None


def classical_price(
    *, use_case: str, num_images: int, resolution: str, upscale_factor: int, duration: int
) -> int:
    """Credits for a classical-engine generation, as the catalog states them."""
    if use_case == "video":
        return duration * num_images
    if use_case == "upscale":
        return (2 if upscale_factor == 4 else 1) * num_images
    per_image = {"2K": 2, "4K": 3}.get(resolution, 1)
    return per_image * num_images


def price(
    slug: str,
    *,
    use_case: str,
    num_images: int,
    resolution: str,
    upscale_factor: int,
    duration: int,
    audio: bool,
) -> int:
    """Credits for a generation on ``slug``: the spec's catalog prices for hosted models."""
    from likeness.engines.models import hosted_model

    hosted = hosted_model(slug)
    if hosted is None:
        return classical_price(
            use_case=use_case,
            num_images=num_images,
            resolution=resolution,
            upscale_factor=upscale_factor,
            duration=duration,
        )
    return hosted.price.credits(resolution=resolution, duration=duration, audio=audio) * num_images


# camera values: what each asks for, and what the classical engine does with it
CAMERAS: dict[str, str] = {
    "photo": "auto framing (recommended): the engine frames the person and garment itself",
    "full_body_front": "a front view of the whole person",
    "full_body_back": "a back view of the whole person",
    "upper_body_front": "a front view from the head to the hips",
    "side": "a side (profile) view",
}

# what the classical engine's try_on does with each camera (see the engine's README section)
CLASSICAL_CAMERA_NOTES: dict[str, str] = {
    "photo": "keeps the person photo's own framing and dresses the person in it",
    "upper_body_front": "frames from above the head to the hips (4:5 unless aspect_ratio says otherwise)",
    "full_body_front": "frames head to feet (9:16 by default), growing the canvas below a cropped photo",
    "full_body_back": "the clothing items' back images alone, at the person's scale: the classical engine "
    "cannot show a person from behind, so no person is in the picture",
    "side": "not supported (the classical engine cannot turn a person); refused before anything is charged",
}


def cameras() -> list[dict[str, Any]]:
    """GET /cameras: every camera value, and what each engine (or hosted model) does with it."""
    from likeness.engines.prompts import CAMERA_GUIDANCE

    return [
        {
            "camera": camera,
            "description": description,
            "engines": {
                "classical": CLASSICAL_CAMERA_NOTES[camera],
                "hosted models": f"asked in the prompt: {CAMERA_GUIDANCE[camera]}",
            },
        }
        for camera, description in CAMERAS.items()
    ]
