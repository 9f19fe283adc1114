"""What the classical engine can do, as plain data (no numpy / OpenCV: the API lists it).

The value lists here are also the single source the engine validates parameters against,
so the catalog and the engine cannot disagree.
"""

from __future__ import annotations

from likeness.engines.base import EngineCapabilities, Operation, VideoLimits

__all__ = [
    "ASPECT_RATIOS",
    "BLEND_MODES",
    "CLASSICAL_CAPABILITIES",
    "DEFAULT_FPS",
    "EDIT_INSTRUCTIONS",
    "FRAMINGS",
    "MAX_NEW_FACE_COUNT",
    "MAX_OUTPUT_SIDE",
    "MAX_REFERENCE_IMAGES",
    "MAX_VIDEO_FPS",
    "MAX_VIDEO_SIDE",
    "MIN_OUTPUT_SIDE",
    "MIN_VIDEO_FPS",
    "OUTPUT_FORMATS",
    "SLUG",
    "STYLES",
    "UPSCALE_FACTORS",
    "VIDEO_MAX_SECONDS",
    "VIDEO_MIN_SECONDS",
]

SLUG = "classical"

ASPECT_RATIOS = ["1:1", "3:4", "4:5", "2:3", "9:16", "16:9", "4:3", "3:2"]
OUTPUT_FORMATS = ["png", "jpeg", "webp"]
STYLES = ["natural", "grayscale", "warm", "cool", "bright", "dim", "high_contrast"]
FRAMINGS = ["head_and_shoulders", "headshot"]
BLEND_MODES = ["seamless", "feather"]
UPSCALE_FACTORS = [2, 4]
EDIT_INSTRUCTIONS = [
    "remove_background",
    "replace_background",
    "crop",
    "brightness",
    "contrast",
    "saturation",
    "grayscale",
    "sharpen",
    "blur",
    "mirror",
    "rotate",
]

MAX_OUTPUT_SIDE = 4096  # an upscaled 1024 px photo at 4x; larger outputs cost more memory than a worker has
MIN_OUTPUT_SIDE = 64
MAX_REFERENCE_IMAGES = 8
MAX_NEW_FACE_COUNT = 8

VIDEO_MIN_SECONDS = 1.0
VIDEO_MAX_SECONDS = 10.0
DEFAULT_FPS = 24
MIN_VIDEO_FPS = 12
MAX_VIDEO_FPS = 30
MAX_VIDEO_SIDE = 1920

CLASSICAL_CAPABILITIES = EngineCapabilities(
    slug=SLUG,
    name="Classical (embedded)",
    description=(
        "Classical computer vision on the CPU, no generative model: landmark-based face transfer "
        "onto a base photo, face morphs of two or more references, aligned avatar portraits, "
        "Lanczos upscaling, edits from a small instruction set and pan-and-zoom videos."
    ),
    kind="embedded",
    operations=[
        Operation.FACE_TRANSFER,
        Operation.NEW_FACE,
        Operation.PORTRAIT,
        Operation.UPSCALE,
        Operation.EDIT,
        Operation.VIDEO,
    ],
    uses_model_weights=False,
    max_reference_images=MAX_REFERENCE_IMAGES,
    min_faces_for_new_face=2,
    max_output_side=MAX_OUTPUT_SIDE,
    aspect_ratios=list(ASPECT_RATIOS),
    output_formats=list(OUTPUT_FORMATS),
    upscale_factors=list(UPSCALE_FACTORS),
    edit_instructions=list(EDIT_INSTRUCTIONS),
    video=VideoLimits(min_seconds=VIDEO_MIN_SECONDS, max_seconds=VIDEO_MAX_SECONDS, fps=DEFAULT_FPS),
    notes=[
        "It cannot follow free-text prompts: edits take a list of instructions "
        "(a prompt may only name one of a few exact keywords).",
        "It cannot change pose, expression, clothing or lighting direction, nor invent hair or "
        "bodies: face transfer keeps the base photo's head, hair and body; new faces keep the "
        "hair and body of the most heavily weighted reference.",
        "Face transfer and portraits need exactly one clearly visible, roughly frontal face per image.",
        "Upscaling interpolates (Lanczos plus sharpening); it does not invent detail.",
        f"Videos are a pan and zoom over one still image, H.264 MP4, at most {MAX_VIDEO_SIDE} px "
        f"on the longer side and {MIN_VIDEO_FPS}-{MAX_VIDEO_FPS} fps.",
        "Background removal is a GrabCut segmentation seeded from the detected face; fine hair "
        "and busy backgrounds can leave halos.",
    ],
)
