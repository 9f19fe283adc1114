"""The edit instruction set, and the few prompt keywords that map onto it.

``params["instructions"]`` is a list applied in order; each item is ``{"op": name, ...}``:

============================  =====================================================================
op                            arguments
============================  =====================================================================
``remove_background``         none; the output gets an alpha channel (PNG or WebP only)
``replace_background``        ``color``: hex colour, e.g. ``"#ffffff"`` (default white)
``crop``                      ``aspect_ratio``: one of the engine's ratios; centred on the face
``brightness``                ``factor``: 0.2-3.0 (1 keeps the image)
``contrast``                  ``factor``: 0.2-3.0
``saturation``                ``factor``: 0.0-3.0 (0 is grey)
``grayscale``                 none
``sharpen``                   ``amount``: 0.1-3.0 (default 1.0), unsharp mask
``blur``                      ``radius``: 0.5-50 px (default 2), Gaussian sigma
``mirror``                    none; flips left-right
``rotate``                    ``degrees``: 90, 180 or 270, clockwise
============================  =====================================================================

Instructions are validated before any pixel is touched, so a bad list fails the job at once.
A free-text ``prompt`` is not an instruction list: only the exact phrases in ``PROMPT_KEYWORDS``
are understood, and a prompt with any other words fails with the words it could not follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from likeness.engines.base import EngineError
from likeness.engines.classical.capabilities import ASPECT_RATIOS, EDIT_INSTRUCTIONS
from likeness.engines.classical.imaging import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    crop_to_aspect,
    grayscale,
    unsharp,
)
from likeness.engines.classical.params import invalid, parse_aspect_ratio, parse_color, parse_float
from likeness.engines.classical.segmentation import composite_on_colour, segment_subject

__all__ = [
    "Canvas",
    "Instruction",
    "PROMPT_KEYWORDS",
    "apply_instructions",
    "instructions_from_prompt",
    "parse_instructions",
]

MAX_INSTRUCTIONS = 20

# exact phrases a prompt may use, and the instruction each one stands for
PROMPT_KEYWORDS: dict[str, dict[str, Any]] = {
    "remove background": {"op": "remove_background"},
    "remove the background": {"op": "remove_background"},
    "transparent background": {"op": "remove_background"},
    "white background": {"op": "replace_background", "color": "#ffffff"},
    "black background": {"op": "replace_background", "color": "#000000"},
    "grayscale": {"op": "grayscale"},
    "greyscale": {"op": "grayscale"},
    "black and white": {"op": "grayscale"},
    "mirror": {"op": "mirror"},
    "flip horizontally": {"op": "mirror"},
    "sharpen": {"op": "sharpen"},
    "blur": {"op": "blur"},
    "brighter": {"op": "brightness", "factor": 1.2},
    "darker": {"op": "brightness", "factor": 0.8},
    "more contrast": {"op": "contrast", "factor": 1.25},
    "less contrast": {"op": "contrast", "factor": 0.8},
    "more saturation": {"op": "saturation", "factor": 1.3},
    "less saturation": {"op": "saturation", "factor": 0.7},
    "rotate 90": {"op": "rotate", "degrees": 90},
    "rotate 180": {"op": "rotate", "degrees": 180},
    "rotate 270": {"op": "rotate", "degrees": 270},
    "square crop": {"op": "crop", "aspect_ratio": "1:1"},
}
# words that carry no instruction of their own ("please make it black and white")
_FILLER = {
    "a",
    "an",
    "and",
    "the",
    "it",
    "its",
    "please",
    "make",
    "then",
    "with",
    "image",
    "photo",
    "picture",
    "of",
    "to",
    "this",
    "me",
    "bit",
    "little",
    "slightly",
    "can",
    "you",
    "also",
    "add",
}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Instruction:
    op: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, **self.args}


@dataclass
class Canvas:
    """The image being edited, its alpha once the background is removed, and where the face is."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    face_box: tuple[float, float, float, float] | None = None

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _parse_one(index: int, raw: Any) -> Instruction:
    where = f"instructions[{index}]"
    if isinstance(raw, str):
        raw = {"op": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("op"), str):
        raise invalid(f"{where} must be an object with an 'op' naming one of: {', '.join(EDIT_INSTRUCTIONS)}")
    op = raw["op"].strip().lower()
    if op not in EDIT_INSTRUCTIONS:
        raise EngineError(
            f"{where}: the edit instruction {raw['op']!r} is not supported; "
            f"supported instructions: {', '.join(EDIT_INSTRUCTIONS)}",
            code="unsupported_instruction",
        )
    named = {k: v for k, v in raw.items() if k != "op"}

    def number(name: str, default: float | None, low: float, high: float) -> float:
        value = parse_float(named, name, default, minimum=low, maximum=high)
        if value is None:
            raise invalid(f"{where}.{name} is required for {op}")
        return value

    try:
        if op in ("brightness", "contrast"):
            return Instruction(op, {"factor": number("factor", None, 0.2, 3.0)})
        if op == "saturation":
            return Instruction(op, {"factor": number("factor", None, 0.0, 3.0)})
        if op == "sharpen":
            return Instruction(op, {"amount": number("amount", 1.0, 0.1, 3.0)})
        if op == "blur":
            return Instruction(op, {"radius": number("radius", 2.0, 0.5, 50.0)})
        if op == "rotate":
            degrees = named.get("degrees")
            if degrees not in (90, 180, 270) or isinstance(degrees, bool):
                raise invalid(f"{where}.degrees must be 90, 180 or 270 (clockwise); got {degrees!r}")
            return Instruction(op, {"degrees": int(degrees)})
        if op == "crop":
            if "aspect_ratio" not in named:
                raise invalid(f"{where}.aspect_ratio is required for crop: one of {', '.join(ASPECT_RATIOS)}")
            parse_aspect_ratio(named["aspect_ratio"], f"{where}.aspect_ratio")
            return Instruction(op, {"aspect_ratio": str(named["aspect_ratio"]).strip()})
        if op == "replace_background":
            colour = named.get("color", named.get("colour", "#ffffff"))
            r, g, b = parse_color(colour, f"{where}.color")
            return Instruction(op, {"color": f"#{r:02x}{g:02x}{b:02x}"})
    except EngineError as exc:
        if exc.reason.startswith(where):
            raise
        # the shared parsers name the bare argument; say which instruction it belongs to
        raise EngineError(f"{where}.{exc.reason}", code=exc.code, missing=exc.missing) from exc
    return Instruction(op)


def parse_instructions(raw: Any) -> list[Instruction]:
    """Validate ``params["instructions"]``; raises EngineError naming the first bad item."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not raw:
        raise invalid(
            'instructions must be a non-empty list of {"op": ...} objects; '
            f"supported ops: {', '.join(EDIT_INSTRUCTIONS)}"
        )
    if len(raw) > MAX_INSTRUCTIONS:
        raise invalid(f"instructions may hold at most {MAX_INSTRUCTIONS} items; got {len(raw)}")
    return [_parse_one(i, item) for i, item in enumerate(raw)]


def instructions_from_prompt(prompt: str) -> tuple[list[Instruction], list[str]]:
    """The instructions a prompt names by exact keyword, in prompt order, and the phrases matched.

    Raises EngineError when the prompt names none, or has words outside the keywords (the
    classical engine cannot follow free text and will not silently drop part of a request).
    """
    text = " ".join(_WORD.findall(prompt.lower()))
    found: list[tuple[int, str]] = []
    remaining = f" {text} "
    # longest phrases first, so "remove the background" wins over a shorter overlap
    for phrase in sorted(PROMPT_KEYWORDS, key=len, reverse=True):
        pattern = f" {phrase} "
        start = remaining.find(pattern)
        while start != -1:
            found.append((start, phrase))
            remaining = (
                remaining[:start] + " " + "\0" * (len(pattern) - 2) + " " + remaining[start + len(pattern) :]
            )
            start = remaining.find(pattern)
    leftover = [w for w in remaining.replace("\0", " ").split() if w not in _FILLER]
    keywords = ", ".join(f"'{k}'" for k in PROMPT_KEYWORDS)
    if not found:
        raise EngineError(
            "the classical engine cannot follow free-text prompts and found none of its edit keywords "
            f"in the prompt; send params.instructions (ops: {', '.join(EDIT_INSTRUCTIONS)}) or a prompt "
            f"made of these keywords: {keywords}",
            code="prompt_not_supported",
        )
    if leftover:
        raise EngineError(
            f"the classical engine cannot follow the words {' '.join(map(repr, leftover))} in the prompt; "
            f"it only understands these keywords: {keywords} (or send params.instructions)",
            code="prompt_not_supported",
        )
    found.sort()
    instructions = [_parse_one(i, PROMPT_KEYWORDS[phrase]) for i, (_, phrase) in enumerate(found)]
    return instructions, [phrase for _, phrase in found]


def _rotate_box(
    box: tuple[float, float, float, float], degrees: int, width: int, height: int
) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    if degrees == 90:
        return height - y2, x1, height - y1, x2
    if degrees == 180:
        return width - x2, height - y2, width - x1, height - y1
    return y1, width - x2, y2, width - x1


_ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def apply_instruction(canvas: Canvas, instruction: Instruction) -> Canvas:
    op, args = instruction.op, instruction.args
    rgb = canvas.rgb
    alpha: np.ndarray | None
    if op == "remove_background":
        alpha = segment_subject(rgb, canvas.face_box)
        if canvas.alpha is not None:
            alpha = np.minimum(alpha, canvas.alpha)
        return Canvas(rgb, alpha, canvas.face_box)
    if op == "replace_background":
        alpha = canvas.alpha if canvas.alpha is not None else segment_subject(rgb, canvas.face_box)
        colour = parse_color(args["color"], "color")
        return Canvas(composite_on_colour(rgb, alpha, colour), None, canvas.face_box)
    if op == "crop":
        aspect = parse_aspect_ratio(args["aspect_ratio"])
        box = canvas.face_box
        centre = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0) if box else None
        cropped, (x, y) = crop_to_aspect(rgb, aspect, centre)
        ch, cw = cropped.shape[:2]
        alpha = canvas.alpha[y : y + ch, x : x + cw].copy() if canvas.alpha is not None else None
        moved = (box[0] - x, box[1] - y, box[2] - x, box[3] - y) if box else None
        return Canvas(cropped, alpha, moved)
    if op == "mirror":
        w = canvas.width
        alpha = np.ascontiguousarray(canvas.alpha[:, ::-1]) if canvas.alpha is not None else None
        box = canvas.face_box
        moved = (w - box[2], box[1], w - box[0], box[3]) if box else None
        return Canvas(np.ascontiguousarray(rgb[:, ::-1]), alpha, moved)
    if op == "rotate":
        degrees = int(args["degrees"])
        code = _ROTATE_CODES[degrees]
        alpha = cv2.rotate(canvas.alpha, code) if canvas.alpha is not None else None
        box = _rotate_box(canvas.face_box, degrees, canvas.width, canvas.height) if canvas.face_box else None
        return Canvas(cv2.rotate(rgb, code), alpha, box)
    if op == "brightness":
        out = adjust_brightness(rgb, float(args["factor"]))
    elif op == "contrast":
        out = adjust_contrast(rgb, float(args["factor"]))
    elif op == "saturation":
        out = adjust_saturation(rgb, float(args["factor"]))
    elif op == "grayscale":
        out = grayscale(rgb)
    elif op == "sharpen":
        sigma = max(1.0, max(canvas.width, canvas.height) / 800.0)
        out = unsharp(rgb, sigma, float(args["amount"]))
    elif op == "blur":
        out = cv2.GaussianBlur(rgb, (0, 0), float(args["radius"]))
    else:  # parse_instructions only lets the ops above through
        raise EngineError(f"edit instruction {op!r} is not supported", code="unsupported_instruction")
    return Canvas(out, canvas.alpha, canvas.face_box)


def apply_instructions(canvas: Canvas, instructions: Sequence[Instruction]) -> Canvas:
    for instruction in instructions:
        canvas = apply_instruction(canvas, instruction)
    return canvas
