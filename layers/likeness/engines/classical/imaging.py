"""Pixel operations shared by the operations: framing, crops, resizing, styles, encoding.

Everything here is deterministic (fixed interpolation, no randomness), so one request gives
byte-identical outputs.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np

from likeness.engines.classical.warp import apply_affine

__all__ = [
    "Framed",
    "apply_style",
    "crop_to_aspect",
    "encode_image",
    "frame_face",
    "output_dimensions",
    "resize_longest",
]

# Framing, in units of the eye-to-mouth distance (em) against the output height: the output is
# HEIGHT_IN_EM em tall and the eye line sits EYE_LINE of the way down. Head and shoulders shows
# the face over ~40% of the height with ~15% above the head; a headshot fills ~75%.
_FRAMINGS = {
    "head_and_shoulders": {"height_in_em": 7.5, "eye_line": 0.36, "max_zoom": 1.7},
    "headshot": {"height_in_em": 4.8, "eye_line": 0.43, "max_zoom": 1.2},
}
_MAX_SLIDE = 0.12  # how far off centre (fraction of the frame) the face may move to avoid padding


@dataclass(frozen=True)
class Framed:
    image: np.ndarray  # HxWx3 uint8 RGB
    landmarks: np.ndarray  # (68, 2) in the framed image
    padded: bool  # the frame reached past the photo and was filled with its edge colour


def output_dimensions(aspect: tuple[int, int], longest: int) -> tuple[int, int]:
    """(width, height) with the given aspect whose longer side is ``longest``."""
    aw, ah = aspect
    if aw >= ah:
        return longest, max(1, round(longest * ah / aw))
    return max(1, round(longest * aw / ah)), longest


def _even(value: int) -> int:
    return max(2, value - value % 2)


def even_dimensions(width: int, height: int) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides."""
    return _even(width), _even(height)


def edge_colour(image: np.ndarray) -> tuple[float, ...]:
    """Mean colour of the outer ring: a flat pad that reads as the photo's own backdrop (replicated
    edges smear into streaks and mirrored edges can duplicate a face)."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float64)
    return tuple(float(round(v)) for v in ring.mean(axis=0))


def _frame_matrix(
    landmarks: np.ndarray, out_w: int, out_h: int, height_in_em: float, eye_line: float, zoom: float
) -> np.ndarray:
    left_eye = landmarks[36:42].mean(axis=0)
    right_eye = landmarks[42:48].mean(axis=0)
    eyes = (left_eye + right_eye) / 2.0
    mouth = landmarks[48:68].mean(axis=0)
    em = max(float(np.linalg.norm(mouth - eyes)), 1.0)
    roll = math.atan2(float(right_eye[1] - left_eye[1]), float(right_eye[0] - left_eye[0]))
    scale = out_h / (height_in_em * em) * zoom
    cos, sin = math.cos(-roll) * scale, math.sin(-roll) * scale
    rotation = np.array([[cos, -sin], [sin, cos]])
    anchor = (eyes + mouth) / 2.0
    # the face's midpoint lands on the vertical centre line, em/2 below the eye line
    target = np.array([out_w / 2.0, out_h * eye_line + em * scale / 2.0])
    translation = target - rotation @ anchor
    return np.hstack([rotation, translation[:, None]])


def _source_box(matrix: np.ndarray, out_w: int, out_h: int) -> tuple[float, float, float, float]:
    """The source-image bounding box (x1, y1, x2, y2) of the output frame under ``matrix``."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float64)
    src = apply_affine(inverse, corners)
    return float(src[:, 0].min()), float(src[:, 1].min()), float(src[:, 0].max()), float(src[:, 1].max())


def _slide(low: float, high: float, limit: float, size: int) -> float:
    """How far to move the window [low, high] (source px) to fit inside [0, size], at most ``limit``."""
    if high - low >= size:
        shift = (size - low - high) / 2.0  # cannot fit: centre it, pad both sides evenly
    elif low < 0:
        shift = -low
    elif high > size:
        shift = size - high
    else:
        shift = 0.0
    return float(np.clip(shift, -limit, limit))


def _overflow(box: tuple[float, float, float, float], width: int, height: int) -> float:
    x1, y1, x2, y2 = box
    return max(0.0, -x1) + max(0.0, x2 - width) + max(0.0, -y1) + max(0.0, y2 - height)


def frame_face(image: np.ndarray, landmarks: np.ndarray, *, framing: str, size: tuple[int, int]) -> Framed:
    """A portrait of the face with the given 68 landmarks: eyes level, face centred, ``size``
    (width, height). When the framing reaches past the photo the frame first slides (the face
    moves at most ``_MAX_SLIDE`` of the frame off centre), then zooms in (up to a limit per
    framing); whatever still falls outside is padded with the photo's edge colour."""
    spec = _FRAMINGS[framing]
    out_w, out_h = size
    h, w = image.shape[:2]

    best: tuple[float, np.ndarray] | None = None
    for zoom in np.linspace(1.0, spec["max_zoom"], 8):
        matrix = _frame_matrix(landmarks, out_w, out_h, spec["height_in_em"], spec["eye_line"], float(zoom))
        scale = math.hypot(matrix[0, 0], matrix[0, 1])
        x1, y1, x2, y2 = _source_box(matrix, out_w, out_h)
        shift = np.array(
            [
                _slide(x1, x2, _MAX_SLIDE * out_w / scale, w),
                _slide(y1, y2, _MAX_SLIDE * out_h / scale, h),
            ]
        )
        # moving the window by ``shift`` in the source moves the content by -A @ shift
        matrix[:, 2] -= matrix[:, :2] @ shift
        overflow = _overflow(_source_box(matrix, out_w, out_h), w, h) * scale  # in output px
        if best is None or overflow < best[0] - 0.5:
            best = (overflow, matrix)
        if overflow <= 0.5:
            break
    assert best is not None
    matrix = best[1]
    padded = best[0] > 0.5
    interp = cv2.INTER_AREA if matrix[0, 0] ** 2 + matrix[0, 1] ** 2 < 1.0 else cv2.INTER_CUBIC
    if interp == cv2.INTER_AREA:
        # warpAffine has no area filter: pre-shrink so the warp itself scales by about 1
        scale = math.sqrt(matrix[0, 0] ** 2 + matrix[0, 1] ** 2)
        shrunk = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        pre = np.array([[shrunk.shape[1] / w, 0, 0], [0, shrunk.shape[0] / h, 0]])
        post = matrix.copy()
        post[:, :2] = matrix[:, :2] / np.array([[pre[0, 0], pre[1, 1]]])
        framed = cv2.warpAffine(
            shrunk,
            post,
            (out_w, out_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=edge_colour(image),
        )
    else:
        framed = cv2.warpAffine(
            image,
            matrix,
            (out_w, out_h),
            flags=interp,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=edge_colour(image),
        )
    return Framed(image=framed, landmarks=apply_affine(matrix, landmarks), padded=padded)


def crop_to_aspect(
    image: np.ndarray, aspect: tuple[int, int], centre: tuple[float, float] | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """The largest window of ``aspect`` inside ``image``, centred on ``centre`` (the image centre
    when None) and slid back inside the image. Returns the crop and its (x, y) offset."""
    h, w = image.shape[:2]
    aw, ah = aspect
    if w * ah >= h * aw:
        cw, ch = max(1, round(h * aw / ah)), h
    else:
        cw, ch = w, max(1, round(w * ah / aw))
    cx, cy = centre if centre is not None else (w / 2.0, h / 2.0)
    x = int(round(min(max(cx - cw / 2.0, 0), w - cw)))
    y = int(round(min(max(cy - ch / 2.0, 0), h - ch)))
    return np.ascontiguousarray(image[y : y + ch, x : x + cw]), (x, y)


def resize_longest(image: np.ndarray, longest: int, exact: tuple[int, int] | None = None) -> np.ndarray:
    """``image`` scaled so its longer side is ``longest`` (area filter down, Lanczos up), or to
    ``exact`` (width, height) when given (for rounding an aspect crop onto exact dimensions)."""
    h, w = image.shape[:2]
    scale = longest / max(h, w)
    size = exact or (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return image
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4
    return cv2.resize(image, size, interpolation=interp)


def _gamma_lut(gamma: float) -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.round(255.0 * x**gamma), 0, 255).astype(np.uint8)


def _gains(image: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    out = image.astype(np.float32) * np.asarray(gains, dtype=np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma as uint8 (what cv2's RGB2GRAY computes)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def grayscale(image: np.ndarray) -> np.ndarray:
    gray = luma(image)
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Pillow's ImageEnhance.Contrast: spread around the mean grey level."""
    mean = float(luma(image).mean())
    out = (image.astype(np.float32) - mean) * factor + mean
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def adjust_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    out = image.astype(np.float32) * factor
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def adjust_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    """Pillow's ImageEnhance.Color: move away from (or towards) the pixel's grey."""
    gray = luma(image).astype(np.float32)[..., None]
    out = gray + (image.astype(np.float32) - gray) * factor
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def unsharp(image: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0)


def apply_style(image: np.ndarray, style: str) -> np.ndarray:
    if style == "natural":
        return image
    if style == "grayscale":
        return grayscale(image)
    if style == "warm":
        return _gains(image, (1.08, 1.0, 0.88))
    if style == "cool":
        return _gains(image, (0.9, 1.0, 1.1))
    if style == "bright":
        return _gamma_lut(0.7)[image]
    if style == "dim":
        return _gamma_lut(1.5)[image]
    if style == "high_contrast":
        return adjust_contrast(image, 1.35)
    raise ValueError(f"unknown style {style!r}")


def encode_image(rgb: np.ndarray, fmt: str, alpha: np.ndarray | None = None) -> bytes:
    """PNG / JPEG / WebP bytes; ``alpha`` (HxW uint8) is kept for PNG and WebP."""
    from PIL import Image

    if alpha is not None and fmt == "jpeg":
        raise ValueError("JPEG has no alpha channel")
    pixels = np.ascontiguousarray(rgb)
    im = Image.fromarray(pixels, "RGB")
    if alpha is not None:
        im.putalpha(Image.fromarray(np.ascontiguousarray(alpha), "L"))
    buf = io.BytesIO()
    if fmt == "png":
        im.save(buf, format="PNG", compress_level=4)  # ~level 6's size at about half the time
    elif fmt == "jpeg":
        im.save(buf, format="JPEG", quality=92, subsampling=0)
    elif fmt == "webp":
        im.save(buf, format="WEBP", quality=90, method=4)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buf.getvalue()
