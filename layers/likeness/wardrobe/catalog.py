"""The model catalog (GET /models) and camera list (GET /cameras): data, priced per model.

The spec's hosted model slugs are listed as they are published (prices, capabilities), and as
unavailable here: this deployment has no provider configured for them, so a request naming one
is refused with that reason before anything is charged. Our own engines are listed next to
them; ``classical`` runs everything here.

Prices (credits) of the classical engine: per output image 1 at up to 1K, 2 at 2K, 3 at 4K
(edits and try-ons alike); upscale 1 per output at 2x, 2 at 4x; video 1 per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from likeness.engines.classical.capabilities import TRY_ON_CAMERAS

ASPECT_RATIOS = ("auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")
VIDEO_ASPECT_RATIOS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
IMAGE_RESOLUTIONS = ("720p", "1K", "768X1024", "1024X1280", "2K", "4K")
TARGET_RESOLUTIONS = ("720p", "1080p", "1440p", "2160p")
USE_CASES = ("generate", "edit", "upscale", "video")

# resolution -> (long side, exact size or None)
RESOLUTION_SIZES: dict[str, tuple[int, tuple[int, int] | None]] = {
    "720p": (1280, None),
    "1K": (1024, None),
    "768X1024": (1024, (768, 1024)),
    "1024X1280": (1280, (1024, 1280)),
    "2K": (2048, None),
    "4K": (4096, None),
}


@dataclass(frozen=True)
class ModelEntry:
    slug: str
    name: str
    kind: str  # image | upscale | video
    use_cases: tuple[str, ...]
    credits: str  # as published, e.g. "3-7 credits"
    engine: str | None  # our engine that runs it; None: not configured in this deployment
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

    @property
    def available(self) -> bool:
        return self.engine is not None

    @property
    def unavailable_reason(self) -> str | None:
        if self.available:
            return None
        return (
            f"{self.name} ({self.slug}) is a hosted model and this deployment has no provider "
            "configured for it; use model_slug 'classical'"
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


_IMAGE = ("generate", "edit")
_TEN = ASPECT_RATIOS[1:]

MODELS: tuple[ModelEntry, ...] = (
    ModelEntry(
        slug="classical",
        name="Likeness classical engine",
        kind="image",
        use_cases=USE_CASES,
        credits="1-3 credits per image; upscale 1-2; video 1 per second",
        engine="classical",
        resolutions=IMAGE_RESOLUTIONS,
        aspect_ratios=ASPECT_RATIOS,
        durations=tuple(range(3, 11)),
        upscale_factors=(2, 4),
        # deterministic: one upscale, edit or video of one source is one output
        max_outputs={"upscale": 1, "edit": 1, "video": 1},
        cameras=tuple(TRY_ON_CAMERAS),
    ),
    ModelEntry(
        "nano-banana-2", "Gemini Flash 2", "image", _IMAGE, "3-7 credits", None, ("1K", "2K", "4K"), _TEN, 3
    ),
    ModelEntry(
        "nano-banana-pro", "Gemini Pro", "image", _IMAGE, "5-10 credits", None, ("1K", "2K", "4K"), _TEN, 3
    ),
    ModelEntry(
        "gpt-image-2-high", "GPT Image 2 (high)", "image", _IMAGE, "12 credits", None, ("1K", "2K"), _TEN, 3
    ),
    ModelEntry(
        "gpt-image-2-medium",
        "GPT Image 2 (medium)",
        "image",
        _IMAGE,
        "6 credits",
        None,
        ("1K", "2K"),
        _TEN,
        3,
    ),
    ModelEntry(
        "gpt-image-2-low", "GPT Image 2 (low)", "image", _IMAGE, "2 credits", None, ("1K", "2K"), _TEN, 3
    ),
    ModelEntry(
        "seedream-v4-5", "SeedDream 4.5", "image", _IMAGE, "2 credits", None, ("1K", "2K", "4K"), _TEN, 3
    ),
    ModelEntry(
        "qwen-rapid-aio-v23",
        "Qwen Intimate",
        "image",
        _IMAGE,
        "2-3 credits",
        None,
        ("768X1024", "1024X1280"),
        (),
        1,
    ),
    ModelEntry("gemini-flash", "Gemini Flash", "image", _IMAGE, "1 credit", None, (), _TEN, 3),
    ModelEntry(
        "seedvr2",
        "SeedVR2 Upscale",
        "upscale",
        ("upscale",),
        "1 credit",
        None,
        upscale_factors=(2, 4),
        target_resolutions=("2160p",),
    ),
    ModelEntry(
        "aura-sr",
        "Aura SR Upscale",
        "upscale",
        ("upscale",),
        "1 credit",
        None,
        upscale_factors=(4,),
        target_resolutions=("2160p",),
    ),
    ModelEntry(
        "seedance-2",
        "Seedance 2",
        "video",
        ("video",),
        "49-183 credits",
        None,
        ("720p",),
        VIDEO_ASPECT_RATIOS,
        9,
        tuple(range(4, 16)),
        audio=True,
    ),
    ModelEntry(
        "kling-3-pro",
        "Kling 3 Pro",
        "video",
        ("video",),
        "14-101 credits",
        None,
        durations=tuple(range(3, 16)),
        audio=True,
        last_frame=True,
    ),
    ModelEntry(
        "kling-2-5-turbo-pro",
        "Kling 2.5 Turbo Pro",
        "video",
        ("video",),
        "14-26 credits",
        None,
        durations=tuple(range(5, 11)),
        last_frame=True,
    ),
    ModelEntry(
        "seedance-1-5-pro",
        "Seedance 1.5 Pro",
        "video",
        ("video",),
        "6-20 credits",
        None,
        durations=tuple(range(5, 11)),
        audio=True,
        last_frame=True,
    ),
)

_BY_SLUG = {m.slug: m for m in MODELS}


def model(slug: str) -> ModelEntry | None:
    return _BY_SLUG.get(slug)


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
    hosted = "sent to the hosted model; none is configured in this deployment"
    return [
        {
            "camera": camera,
            "description": description,
            "engines": {"classical": CLASSICAL_CAMERA_NOTES[camera], "hosted models": hosted},
        }
        for camera, description in CAMERAS.items()
    ]
