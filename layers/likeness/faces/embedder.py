"""Face embeddings: a small protocol and dlib's ResNet face descriptor.

dlib is heavy (and slow to import), so it and ``face_recognition_models`` are only
imported when the models are first needed.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any, Protocol, runtime_checkable

import numpy as np

from likeness.errors import ModelUnavailable
from likeness.faces.compare import SAME_PERSON_THRESHOLD, face_distance, is_same_person
from likeness.faces.types import DetectedFace, check_rgb_image

__all__ = [
    "SAME_PERSON_THRESHOLD",
    "DlibResNetEmbedder",
    "FaceEmbedder",
    "face_distance",
    "is_same_person",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class FaceEmbedder(Protocol):
    name: str
    dimension: int

    def embed(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        """A float32 vector of ``dimension`` values for ``face`` in the HxWx3 uint8 RGB ``image``."""
        ...


class DlibResNetEmbedder:
    """dlib's 128-d ResNet descriptor, aligned with its 5-point shape predictor.

    The shape predictor runs on the detector's box as-is: on the fixtures CenterFace's
    taller boxes give the same separation as dlib's own HOG boxes (same person <= 0.42,
    different people >= 0.69).
    """

    name = "dlib-resnet-v1"
    dimension = 128

    def __init__(
        self,
        *,
        shape_predictor: Any | None = None,
        face_encoder: Any | None = None,
        num_jitters: int = 0,
    ) -> None:
        # dlib treats 0 and 1 alike (one pass over the aligned chip; measured identical on the
        # fixtures); more jitters average re-sampled chips at N times the cost.
        if num_jitters < 0:
            raise ValueError("num_jitters must be >= 0")
        self._shape_predictor = shape_predictor
        self._face_encoder = face_encoder
        self.num_jitters = num_jitters
        self._lock = threading.Lock()
        self._loaded = shape_predictor is not None and face_encoder is not None

    def load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            try:
                import dlib

                with warnings.catch_warnings():
                    # face_recognition_models still uses pkg_resources, which warns on import
                    warnings.simplefilter("ignore", UserWarning)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import face_recognition_models
            except ImportError as exc:
                raise ModelUnavailable(
                    "The face embedding model cannot run because dlib or face_recognition_models "
                    "is not installed.",
                    fix="Install the 'faces' extra of likeness (dlib-bin, face-recognition-models).",
                ) from exc
            try:
                if self._shape_predictor is None:
                    self._shape_predictor = dlib.shape_predictor(
                        face_recognition_models.pose_predictor_five_point_model_location()
                    )
                if self._face_encoder is None:
                    self._face_encoder = dlib.face_recognition_model_v1(
                        face_recognition_models.face_recognition_model_location()
                    )
            except Exception as exc:
                raise ModelUnavailable(
                    f"The dlib face embedding model files could not be loaded: {exc}.",
                    fix="Reinstall the face-recognition-models package.",
                ) from exc
            self._loaded = True
            logger.info("loaded dlib ResNet face descriptor")

    def _rectangle(self, face: DetectedFace) -> Any:
        import dlib

        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        return dlib.rectangle(x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))

    def embed(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        check_rgb_image(image)
        self.load()
        img = np.ascontiguousarray(image)  # dlib needs a C-contiguous buffer
        assert self._shape_predictor is not None and self._face_encoder is not None
        shape = self._shape_predictor(img, self._rectangle(face))
        descriptor = self._face_encoder.compute_face_descriptor(img, shape, self.num_jitters)
        return np.asarray(descriptor, dtype=np.float32).reshape(self.dimension)
