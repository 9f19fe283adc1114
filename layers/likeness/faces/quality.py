"""Explainable quality checks for the primary face of a photo.

Every threshold below was calibrated on the fixture photos (see tests/unit/faces):
clean portraits sit well inside the limits, synthetic degradations of obama.jpg
(Gaussian blur, darkening, brightening, downscaling, rotation) cross them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from likeness.faces.types import DetectedFace, QualityProblem, QualityReport

__all__ = ["QualityThresholds", "assess_quality", "DEFAULT_THRESHOLDS"]


class QualityThresholds:
    """Limits, in the units of the measurements they apply to."""

    def __init__(
        self,
        *,
        min_face_px: float = 80.0,  # box short side; fixtures' clean portraits are 114-289 px
        severe_face_px: float = 40.0,  # below this identity features are mostly gone
        min_sharpness: float = 200.0,  # clean fixtures >= ~800; obama.jpg blurred sigma 4 -> ~170
        severe_sharpness: float = 60.0,  # sigma 8 -> ~35
        min_luminance: float = 60.0,  # clean fixtures 105-155; obama.jpg x0.3 -> 44
        severe_dark_luminance: float = 35.0,
        max_luminance: float = 205.0,  # obama.jpg x1.6 -> 215
        severe_bright_luminance: float = 230.0,
        max_yaw_ratio: float = 0.35,  # ~30 degrees of head turn; clean fixtures <= 0.19
        max_roll_degrees: float = 20.0,  # clean fixtures <= 9.2; landmarks under-read roll (35 deg reads ~25)
        min_face_score: float = 0.5,  # faces counted towards "more than one face"
    ) -> None:
        self.min_face_px = min_face_px
        self.severe_face_px = severe_face_px
        self.min_sharpness = min_sharpness
        self.severe_sharpness = severe_sharpness
        self.min_luminance = min_luminance
        self.severe_dark_luminance = severe_dark_luminance
        self.max_luminance = max_luminance
        self.severe_bright_luminance = severe_bright_luminance
        self.max_yaw_ratio = max_yaw_ratio
        self.max_roll_degrees = max_roll_degrees
        self.min_face_score = min_face_score


DEFAULT_THRESHOLDS = QualityThresholds()

_SHARPNESS_SIZE = 64  # face crops are compared at one size so the blur figure is scale-free
_REFERENCE_LUMINANCE = 128.0


def _luma(crop: np.ndarray) -> np.ndarray:
    # ITU-R BT.601 weights, as cv2.COLOR_RGB2GRAY uses
    return crop[..., 0] * 0.299 + crop[..., 1] * 0.587 + crop[..., 2] * 0.114


def _face_crop(image: np.ndarray, face: DetectedFace) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = face.box
    ix1, iy1 = max(0, int(math.floor(x1))), max(0, int(math.floor(y1)))
    ix2, iy2 = min(w, int(math.ceil(x2))), min(h, int(math.ceil(y2)))
    return image[iy1:iy2, ix1:ix2]


def _sharpness(gray: np.ndarray, mean_luminance: float) -> float:
    """Variance of the Laplacian of the face at 64x64, normalised for brightness.

    A darker copy of the same photo has proportionally smaller gradients; dividing by
    (luminance / 128)^2 keeps "dark" and "blurred" separate findings.
    """
    import cv2

    size = (_SHARPNESS_SIZE, _SHARPNESS_SIZE)
    small = cv2.resize(gray.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    var = float(cv2.Laplacian(small, cv2.CV_32F).var())
    return var * (_REFERENCE_LUMINANCE / max(mean_luminance, 16.0)) ** 2


def _pose(face: DetectedFace) -> tuple[float, float] | None:
    """(yaw ratio, roll degrees) from the eyes and nose, or None without usable landmarks."""
    if len(face.landmarks) < 3:
        return None
    le = np.asarray(face.landmarks[0], dtype=np.float64)
    re = np.asarray(face.landmarks[1], dtype=np.float64)
    nose = np.asarray(face.landmarks[2], dtype=np.float64)
    axis = re - le
    eye_dist = float(np.linalg.norm(axis))
    if eye_dist < 1e-6:
        return None
    # nose displacement along the eye line, in eye distances: 0 frontal, grows as the head turns
    yaw = float(np.dot(nose - (le + re) / 2, axis / eye_dist) / eye_dist)
    roll = math.degrees(math.atan2(axis[1], axis[0]))
    return yaw, roll


def assess_quality(
    image: np.ndarray,
    faces: Sequence[DetectedFace],
    *,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
) -> QualityReport:
    """Measure the primary (highest-score) face and explain what would make the photo better."""
    t = thresholds
    counted = [f for f in faces if f.score >= t.min_face_score]
    measurements: dict[str, float] = {"face_count": float(len(counted))}
    if not faces:
        return QualityReport(
            score=0.0,
            problems=(
                QualityProblem(
                    "no_face", "No face was found; use a photo in which one face is clearly visible."
                ),
            ),
            measurements=measurements,
        )

    h, w = image.shape[:2]
    face = max(faces, key=lambda f: f.score)
    problems: list[QualityProblem] = []
    penalties: list[float] = []

    def flag(code: str, message: str, penalty: float) -> None:
        problems.append(QualityProblem(code, message))
        penalties.append(penalty)

    short = face.short_side
    measurements.update(face_score=face.score, face_short_side_px=short)
    if short < t.min_face_px:
        severe = short < t.severe_face_px
        penalty = 0.7 if severe else 0.4 * (t.min_face_px - short) / (t.min_face_px - t.severe_face_px)
        flag(
            "face_too_small",
            f"The face is only {short:.0f} px across; use a closer or higher-resolution photo "
            f"(at least {t.min_face_px:.0f} px across is best).",
            max(penalty, 0.1),
        )

    crop = _face_crop(image, face)
    if crop.size:
        gray = _luma(crop.astype(np.float32))
        luminance = float(gray.mean())
        sharpness = _sharpness(gray, luminance)
        measurements.update(
            luminance=luminance,
            sharpness=sharpness,
            dark_fraction=float((gray < 30).mean()),
            saturated_fraction=float((gray > 245).mean()),
        )
        if sharpness < t.min_sharpness:
            flag(
                "blurred",
                "The face looks blurred; use a sharp, in-focus photo taken with a steady camera.",
                0.6 if sharpness < t.severe_sharpness else 0.35,
            )
        if luminance < t.min_luminance:
            flag(
                "too_dark",
                "The face is too dark; take the photo in brighter, even light.",
                0.5 if luminance < t.severe_dark_luminance else 0.3,
            )
        elif luminance > t.max_luminance:
            flag(
                "too_bright",
                "The face is overexposed; avoid direct flash or strong sunlight on the face.",
                0.5 if luminance > t.severe_bright_luminance else 0.3,
            )

    pose = _pose(face)
    if pose is not None:
        yaw, roll = pose
        measurements.update(yaw_ratio=yaw, roll_degrees=roll)
        if abs(yaw) > t.max_yaw_ratio or abs(roll) > t.max_roll_degrees:
            flag(
                "strong_pose",
                "The head is turned or tilted; use a photo looking straight at the camera, head upright.",
                0.3,
            )

    cut_off = face.touches_border(w, h)
    measurements["touches_border"] = float(cut_off)
    if cut_off:
        flag(
            "face_cut_off",
            "The face is cut off at the image edge; use a photo that shows the whole face.",
            0.5,
        )

    if len(counted) > 1:
        flag(
            "multiple_faces",
            f"{len(counted)} faces were found; use a photo that shows only one person.",
            0.5,
        )

    score = 1.0
    for p in penalties:
        score *= 1.0 - min(max(p, 0.0), 1.0)
    return QualityReport(score=round(score, 4), problems=tuple(problems), measurements=measurements)
