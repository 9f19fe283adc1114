"""dlib's 68-point face landmark predictor, placed from the pipeline's detections.

The predictor was trained on dlib's HOG detector boxes (square, brows to chin), not on
CenterFace's taller boxes, so the box it gets is rebuilt from the detector's 5 points: a
square centred between the eye centre and the mouth centre, 2.2 eye-to-mouth distances wide.
On the fixture portraits that box sits where dlib's own HOG box does (width ratio 1.8-2.6,
centre within 0.2 eye-to-mouth) and the 68 points land within 1-1.6% of the eye distance of
the points predicted from the HOG box.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from likeness.errors import ModelUnavailable
from likeness.faces.types import DetectedFace, check_rgb_image
from likeness.observability import logger

__all__ = [
    "JAW",
    "LandmarkPredictor",
    "NUM_LANDMARKS",
    "default_predictor_path",
    "get_default_predictor",
]

NUM_LANDMARKS = 68
# index ranges of the iBUG 68-point scheme
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE_BRIDGE_TOP = 27
CHIN = 8
LEFT_EYE = slice(36, 42)  # image left
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)

_BOX_SIDE_PER_EYE_MOUTH = 2.2  # measured against dlib HOG boxes on the fixtures (1.84-2.62)


def default_predictor_path() -> Path | None:
    """``shape_predictor_68_face_landmarks.dat`` from the installed face_recognition_models."""
    try:
        with warnings.catch_warnings():
            # face_recognition_models still imports pkg_resources, which warns
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import face_recognition_models
    except ImportError:
        return None
    path = Path(face_recognition_models.pose_predictor_model_location())
    return path if path.is_file() else None


def predictor_box(face: DetectedFace) -> tuple[int, int, int, int]:
    """The dlib-style square (left, top, right, bottom) the 68-point predictor expects."""
    if len(face.landmarks) >= 5:
        pts = np.asarray(face.landmarks[:5], dtype=np.float64)
        eyes = (pts[0] + pts[1]) / 2.0
        mouth = (pts[3] + pts[4]) / 2.0
        centre = (eyes + mouth) / 2.0
        half = max(float(np.linalg.norm(mouth - eyes)), 1.0) * _BOX_SIDE_PER_EYE_MOUTH / 2.0
    else:
        # CenterFace boxes reach from the hairline to below the chin: keep the width, move down
        x1, y1, x2, y2 = face.box
        centre = np.array([(x1 + x2) / 2.0, y1 + (y2 - y1) * 0.58])
        half = (x2 - x1) / 2.0
    left, top = int(round(centre[0] - half)), int(round(centre[1] - half))
    right, bottom = int(round(centre[0] + half)), int(round(centre[1] + half))
    return left, top, max(right, left + 1), max(bottom, top + 1)


class LandmarkPredictor:
    """68 face landmarks per detected face. Thread-safe; the model loads on first use."""

    name = "dlib-shape-predictor-68"
    num_landmarks = NUM_LANDMARKS

    def __init__(self, *, model_path: str | Path | None = None, predictor: Any | None = None) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._predictor: Any = predictor
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        if self._model_path is not None:
            return self._model_path
        found = default_predictor_path()
        if found is None:
            raise ModelUnavailable(
                "The 68-point face landmark model was not found: the face_recognition_models package "
                "(which ships shape_predictor_68_face_landmarks.dat) is not installed.",
                fix="Install the 'faces' extra of likeness or pass model_path.",
            )
        return found

    def load(self) -> None:
        """Load the model now instead of on the first call (for warm starts)."""
        if self._predictor is not None:
            return
        with self._lock:
            if self._predictor is None:
                self._predictor = self._load()

    def _load(self) -> Any:
        try:
            import dlib
        except ImportError as exc:
            raise ModelUnavailable(
                "The face landmark model cannot run because dlib is not installed.",
                fix="Install the 'faces' extra of likeness (dlib-bin).",
            ) from exc
        path = self.model_path
        if not path.is_file():
            raise ModelUnavailable(
                f"The 68-point face landmark model file {path} does not exist.",
                fix="Reinstall face-recognition-models or point model_path at the .dat file.",
            )
        try:
            predictor = dlib.shape_predictor(str(path))
        except Exception as exc:
            raise ModelUnavailable(
                f"The 68-point face landmark model at {path} could not be loaded: {exc}.",
                fix="Reinstall the face-recognition-models package.",
            ) from exc
        logger.info("loaded dlib 68-point shape predictor", extra={"path": str(path)})
        return predictor

    def predict(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        """(68, 2) float32 x, y points of ``face`` in the HxWx3 uint8 RGB ``image``.

        Points can fall outside the image when the face is near an edge; callers clip.
        """
        check_rgb_image(image)
        self.load()
        import dlib

        left, top, right, bottom = predictor_box(face)
        shape = self._predictor(np.ascontiguousarray(image), dlib.rectangle(left, top, right, bottom))
        if shape.num_parts != NUM_LANDMARKS:
            raise ValueError(
                f"the landmark model returned {shape.num_parts} points, expected {NUM_LANDMARKS}"
            )
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


_default: LandmarkPredictor | None = None
_default_lock = threading.Lock()


def get_default_predictor() -> LandmarkPredictor:
    """The process-wide predictor (one model in memory, shared by all threads)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = LandmarkPredictor()
    return _default
