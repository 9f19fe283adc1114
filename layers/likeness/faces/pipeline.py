"""The face pipeline: decode -> detect -> assess quality, the one-face rule, and embeddings."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from likeness.errors import FaceRejected
from likeness.faces.decode import decode_image
from likeness.faces.detector import CenterFaceDetector, FaceDetector
from likeness.faces.embedder import DlibResNetEmbedder, FaceEmbedder
from likeness.faces.quality import assess_quality
from likeness.faces.types import DetectedFace, FaceAnalysis

__all__ = ["MIN_FACE_PX", "MIN_FACE_SCORE", "FacePipeline", "get_default_pipeline"]

MIN_FACE_SCORE = 0.5  # detector confidence for a face to count at all
# Hard floor for the one-face rule. Below ~40 px the descriptor stops separating people;
# obama-240p.jpg (55 px) and obama_small.jpg (114 px) still pass. 40-80 px is only a quality warning.
MIN_FACE_PX = 40.0


class FacePipeline:
    def __init__(
        self,
        *,
        detector: FaceDetector | None = None,
        embedder: FaceEmbedder | None = None,
        min_face_score: float = MIN_FACE_SCORE,
        min_face_px: float = MIN_FACE_PX,
    ) -> None:
        self.detector: FaceDetector = detector if detector is not None else CenterFaceDetector()
        self.embedder: FaceEmbedder = embedder if embedder is not None else DlibResNetEmbedder()
        self.min_face_score = min_face_score
        self.min_face_px = min_face_px

    def warm_up(self) -> None:
        """Load both models now (e.g. during a container's init phase) rather than on the first request."""
        for model in (self.detector, self.embedder):
            load = getattr(model, "load", None)
            if callable(load):
                load()

    def analyze(self, data: bytes, **decode_limits: Any) -> FaceAnalysis:
        """Decode the upload, find faces and assess the primary one.

        ``decode_limits`` go to :func:`decode_image` (max_bytes, max_pixels, min_side, allowed_formats).
        """
        decoded = decode_image(data, **decode_limits)
        image = decoded.to_array()
        faces = tuple(sorted(self.detector.detect(image), key=lambda f: f.score, reverse=True))
        quality = assess_quality(image, faces)
        return FaceAnalysis(decoded=decoded, pixels=image, faces=faces, quality=quality)

    def require_one_face(self, analysis: FaceAnalysis) -> DetectedFace:
        """The one-face rule: exactly one confident face, fully inside the photo, big enough."""
        faces = [f for f in analysis.faces if f.score >= self.min_face_score]
        if not faces:
            raise FaceRejected(
                "No face found in the photo; upload a photo in which one face is clearly visible.",
                fix="Use a well-lit photo that shows one person's face from the front.",
                extra={"reason": "no_face", "face_count": 0},
            )
        if len(faces) > 1:
            raise FaceRejected(
                f"{len(faces)} faces found; upload a photo with exactly one person.",
                fix="Crop the photo to one person or choose a photo where they are alone.",
                extra={"reason": "multiple_faces", "face_count": len(faces)},
            )
        face = faces[0]
        width, height = analysis.decoded.width, analysis.decoded.height
        if face.touches_border(width, height):
            raise FaceRejected(
                "Face cut off at the image edge; upload a photo that shows the whole face.",
                fix="Use a photo with some space around the head.",
                extra={"reason": "face_cut_off", "face_count": 1},
            )
        size = face.short_side
        if size < self.min_face_px:
            raise FaceRejected(
                f"Face too small ({size:.0f} px); upload a closer or higher-resolution photo "
                f"in which the face is at least {self.min_face_px:.0f} px across.",
                fix="Take the photo closer to the person or upload the original, uncropped file.",
                extra={"reason": "face_too_small", "face_count": 1, "face_px": round(size)},
            )
        return face

    def embed(self, analysis: FaceAnalysis, face: DetectedFace) -> np.ndarray:
        return self.embedder.embed(analysis.pixels, face)


_default: FacePipeline | None = None
_default_lock = threading.Lock()


def get_default_pipeline() -> FacePipeline:
    """The process-wide pipeline; its models load once and are shared by all threads."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = FacePipeline()
    return _default
