"""New faces: a weighted morph of two or more reference faces.

All references are aligned into the frame of the most heavily weighted one (the "carrier",
which lends the hair, ears, neck, clothes and background, so the result has no ghosted double
hairline). Their face points are averaged with the weights into a new shape, every reference's
face is warped onto that shape and the textures are averaged with the same weights; the
carrier's head is reshaped to the new outline and the blended face is colour-matched and
cloned in, as face transfer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from likeness.engines.classical.transfer import composite
from likeness.engines.classical.warp import STABLE_POINTS, apply_affine, face_points, similarity_transform

__all__ = ["CANONICAL_EYE_MOUTH_PX", "MorphResult", "carrier_index", "eye_mouth_distance", "morph_faces"]

# the carrier photo is rescaled so its eye-to-mouth distance is this many pixels: a 1024 px
# head-and-shoulders portrait shows the face at about that scale, so no detail is invented
CANONICAL_EYE_MOUTH_PX = 136.0
_MAX_CARRIER_SIDE = 3000


@dataclass(frozen=True)
class MorphResult:
    image: np.ndarray  # HxWx3 uint8 RGB, the carrier photo (rescaled) with the morphed face
    landmarks: np.ndarray  # (68, 2) the morphed face's landmarks in ``image``
    carrier: int  # index of the reference whose hair, body and background were kept


def eye_mouth_distance(landmarks68: np.ndarray) -> float:
    eyes = landmarks68[36:48].mean(axis=0)
    mouth = landmarks68[48:68].mean(axis=0)
    return float(np.linalg.norm(mouth - eyes))


def carrier_index(weights: Sequence[float]) -> int:
    """The most heavily weighted reference (the first one on a tie)."""
    return int(np.argmax(np.asarray(weights, dtype=np.float64)))


def morph_faces(
    references: Sequence[tuple[np.ndarray, np.ndarray]],
    weights: Sequence[float],
    *,
    blend: str = "seamless",
) -> MorphResult:
    """Morph (image, 68 landmarks) references with ``weights`` (non-negative, any scale)."""
    if len(references) < 2 or len(weights) != len(references):
        raise ValueError("morphing needs two or more references and one weight per reference")
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    w = w / w.sum()
    carrier = carrier_index(w)

    carrier_image, carrier_landmarks = references[carrier]
    h, w_px = carrier_image.shape[:2]
    scale = CANONICAL_EYE_MOUTH_PX / max(eye_mouth_distance(carrier_landmarks), 1.0)
    scale = min(scale, _MAX_CARRIER_SIDE / max(h, w_px))
    if abs(scale - 1.0) > 0.02:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        size = (max(1, round(w_px * scale)), max(1, round(h * scale)))
        carrier_image = cv2.resize(carrier_image, size, interpolation=interp)
        carrier_landmarks = carrier_landmarks * np.array([size[0] / w_px, size[1] / h], dtype=np.float32)
    carrier_pts = face_points(carrier_landmarks)

    sources: list[tuple[np.ndarray, np.ndarray]] = []
    shape = np.zeros_like(carrier_pts, dtype=np.float64)
    for (image, landmarks), weight in zip(references, w, strict=True):
        pts = face_points(landmarks)
        matrix = similarity_transform(pts[STABLE_POINTS], carrier_pts[STABLE_POINTS])
        shape += weight * apply_affine(matrix, pts)
        sources.append((image, pts))
    target = shape.astype(np.float32)
    image = composite(carrier_image, carrier_pts, target, sources, weights=[float(v) for v in w], blend=blend)
    return MorphResult(image=image, landmarks=target[:68].copy(), carrier=carrier)
