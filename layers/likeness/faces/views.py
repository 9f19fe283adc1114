"""Derived views of one face: an aligned crop, framing and lighting variants, encoders.

All functions are deterministic (no randomness, fixed interpolation), so the same
photo always produces byte-identical views.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from likeness.faces.types import DetectedFace, check_rgb_image

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "aligned_face_crop",
    "crop_window",
    "derived_views",
    "encode_jpeg",
    "encode_png",
]

# Canonical 5-point positions in a 112x112 crop (the InsightFace/ArcFace template):
# left eye, right eye, nose tip, mouth left, mouth right (image left/right).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)

HEAD_SIZE = 256
HEAD_AND_SHOULDERS_SIZE = (384, 480)  # width, height: a 4:5 portrait


def _square(image: np.ndarray, face: DetectedFace, margin: float) -> np.ndarray:
    cx, cy = face.center
    half = max(face.width, face.height) * margin / 2
    return crop_window(image, cx - half, cy - half, cx + half, cy + half)


def crop_window(image: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """Crop [x1, x2) x [y1, y2), sliding the window back inside the image where it fits and
    padding where it does not. The padding is one flat colour (the mean of the crop's outer
    ring): replicated edges smear into streaks and mirrored edges can duplicate a face."""
    import cv2

    h, w = image.shape[:2]
    cw, ch = max(1, int(round(x2 - x1))), max(1, int(round(y2 - y1)))
    left, top = int(round(x1)), int(round(y1))
    # slide inside when the window is smaller than the image along that axis
    if cw <= w:
        left = min(max(left, 0), w - cw)
    if ch <= h:
        top = min(max(top, 0), h - ch)
    right, bottom = left + cw, top + ch
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, right - w), max(0, bottom - h)
    crop = image[max(0, top) : min(h, bottom), max(0, left) : min(w, right)]
    if pad_l or pad_t or pad_r or pad_b:
        ring = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]]).astype(np.float64)
        fill = tuple(float(round(v)) for v in ring.mean(axis=0))
        crop = cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_CONSTANT, value=fill)
    return np.ascontiguousarray(crop)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    if image.shape[1] == w and image.shape[0] == h:
        return image.copy()
    interp = cv2.INTER_AREA if image.shape[1] > w else cv2.INTER_CUBIC
    return cv2.resize(image, (w, h), interpolation=interp)


def aligned_face_crop(image: np.ndarray, face: DetectedFace, size: int = 256) -> np.ndarray:
    """A size x size crop with the 5 landmarks moved onto the ArcFace template (rotation,
    uniform scale and translation only, so the face is never sheared)."""
    check_rgb_image(image)
    import cv2

    if len(face.landmarks) >= 5:
        src = np.asarray(face.landmarks[:5], dtype=np.float32)
        dst = ARCFACE_TEMPLATE_112 * (size / 112.0)
        matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
        if matrix is not None:
            return cv2.warpAffine(
                image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
    # no usable landmarks: a square crop around the box is the best we can do
    return _resize(_square(image, face, 1.1), (size, size))


def _lut_gamma(gamma: float) -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.round(255.0 * x**gamma), 0, 255).astype(np.uint8)


def _channel_gains(image: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    out = image.astype(np.float32) * np.asarray(gains, dtype=np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def head_crop(image: np.ndarray, face: DetectedFace, size: int = HEAD_SIZE) -> np.ndarray:
    """Tight square around the face with a 30% margin."""
    check_rgb_image(image)
    return _resize(_square(image, face, 1.3), (size, size))


def head_and_shoulders_crop(
    image: np.ndarray, face: DetectedFace, size: tuple[int, int] = HEAD_AND_SHOULDERS_SIZE
) -> np.ndarray:
    """A 4:5 portrait: a little room above the head, extending well below the chin."""
    check_rgb_image(image)
    out_w, out_h = size
    cx, _ = face.center
    face_h = max(face.height, face.width)
    crop_h = face_h * 2.6
    crop_w = crop_h * out_w / out_h
    top = face.box[1] - face_h * 0.45
    return _resize(crop_window(image, cx - crop_w / 2, top, cx + crop_w / 2, top + crop_h), (out_w, out_h))


def derived_views(image: np.ndarray, face: DetectedFace) -> dict[str, np.ndarray]:
    """Named views of one face; lighting variants are applied to the head-and-shoulders framing."""
    check_rgb_image(image)
    hs = head_and_shoulders_crop(image, face)
    return {
        "aligned_face": aligned_face_crop(image, face),
        "head": head_crop(image, face),
        "head_and_shoulders": hs,
        "mirrored": np.ascontiguousarray(hs[:, ::-1]),
        "light_bright": _lut_gamma(0.7)[hs],
        "light_dim": _lut_gamma(1.5)[hs],
        "light_warm": _channel_gains(hs, (1.08, 1.0, 0.88)),
        "light_cool": _channel_gains(hs, (0.9, 1.0, 1.1)),
    }


def _to_pil(arr: np.ndarray) -> Image.Image:
    from PIL import Image

    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError("expected a uint8 HxW or HxWx3 array")
    return Image.fromarray(np.ascontiguousarray(arr))


def encode_jpeg(arr: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    _to_pil(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    _to_pil(arr).save(buf, format="PNG")
    return buf.getvalue()
