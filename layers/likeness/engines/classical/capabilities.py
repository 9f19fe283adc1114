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
    "MAX_GARMENT_IMAGES",
    "MAX_NEW_FACE_COUNT",
    "MAX_OUTPUT_SIDE",
    "MAX_REFERENCE_IMAGES",
    "MAX_TRY_ON_COUNT",
    "MAX_VIDEO_FPS",
    "MAX_VIDEO_SIDE",
    "MIN_OUTPUT_SIDE",
    "MIN_VIDEO_FPS",
    "OUTPUT_FORMATS",
    "SLUG",
    "STYLES",
    "TRY_ON_CAMERAS",
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

# try_on: photo keeps the photo's own framing (grown where a garment reaches past it); the
# front cameras frame head to hip or head to feet; the back camera shows the garments' back
# images alone (the engine cannot turn the person around)
TRY_ON_CAMERAS = ["photo", "upper_body_front", "full_body_front", "full_body_back"]
MAX_GARMENT_IMAGES = 6  # fronts and backs together
MAX_TRY_ON_COUNT = 5

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
        "Lanczos upscaling, edits from a small instruction set, pan-and-zoom videos and a flat "
        "try-on that lays garment cut-outs on a person from their face's proportions."
    ),
    kind="embedded",
    operations=[
        Operation.FACE_TRANSFER,
        Operation.NEW_FACE,
        Operation.PORTRAIT,
        Operation.UPSCALE,
        Operation.EDIT,
        Operation.VIDEO,
        Operation.TRY_ON,
        Operation.SCENE,
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
    # as the wardrobe lists it (GET /models): only what it can really do is accepted there
    model_kind="image",
    use_cases=["generate", "edit", "upscale", "video"],
    credits="1-3 credits per image; upscale 1-2; video 1 per second",
    resolutions=["720p", "1K", "768X1024", "1024X1280", "2K", "4K"],
    durations=list(range(3, int(VIDEO_MAX_SECONDS) + 1)),
    # deterministic: one upscale, edit or video of one source is one output
    max_outputs={"upscale": 1, "edit": 1, "video": 1},
    cameras=list(TRY_ON_CAMERAS),
    notes=[
        "It cannot follow free-text prompts: edits take a list of instructions "
        "(a prompt may only name one of a few exact keywords).",
        "It cannot change pose, expression or lighting direction, nor invent hair or bodies: "
        "face transfer keeps the base photo's head, hair and body; new faces keep the hair and "
        "body of the most heavily weighted reference; try-on lays garments over the photo.",
        "Face transfer and portraits need exactly one clearly visible, roughly frontal face per image.",
        "Upscaling interpolates (Lanczos plus sharpening); it does not invent detail.",
        f"Videos are a pan and zoom over one still image, H.264 MP4, at most {MAX_VIDEO_SIDE} px "
        f"on the longer side and {MIN_VIDEO_FPS}-{MAX_VIDEO_FPS} fps.",
        "Background removal is a GrabCut segmentation seeded from the detected face; fine hair "
        "and busy backgrounds can leave halos.",
        f"Try-on lays flat garment cut-outs (at most {MAX_GARMENT_IMAGES} garment images, fronts and "
        "backs together) on the person, scaled from the face's proportions: it does not drape or warp "
        "them to the pose, cannot invent the body below a cropped photo (the canvas is padded), and "
        "cannot show the person from behind. Garments must be photographed on a plain background or "
        f"sent as cut-outs with alpha. Cameras: {', '.join(TRY_ON_CAMERAS)}.",
    ],
)
