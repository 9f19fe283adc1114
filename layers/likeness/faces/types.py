"""Plain value types shared by the face pipeline.

This module must stay cheap to import: the light API functions import it to type
their payloads without pulling numpy, OpenCV or the models in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = [
    "check_rgb_image",
    "DecodedImage",
    "DetectedFace",
    "FaceAnalysis",
    "QualityProblem",
    "QualityReport",
]


@dataclass(frozen=True)
class DecodedImage:
    """An uploaded image after validation, orientation and colour normalisation."""

    image: Image.Image  # always mode "RGB", EXIF orientation already applied
    format: str  # the sniffed container format: "JPEG", "PNG" or "WEBP"
    width: int
    height: int
    had_alpha: bool  # transparency was composited onto white
    exif_transposed: bool  # an EXIF orientation other than "normal" was applied

    def to_array(self) -> np.ndarray:
        """The pixels as an HxWx3 uint8 RGB array (a fresh copy each call)."""
        import numpy as np

        image = self.image if self.image.mode == "RGB" else self.image.convert("RGB")
        return np.array(image, dtype=np.uint8)


@dataclass(frozen=True)
class DetectedFace:
    """One face found by a detector, in the pixel coordinates of the decoded image."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float  # detector confidence in [0, 1]
    # 5 points, image left/right: left eye, right eye, nose, mouth left, mouth right
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def short_side(self) -> float:
        return min(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def touches_border(self, width: int, height: int, margin: float = 1.0) -> bool:
        """True when the box reaches within ``margin`` px of an image edge.

        Detectors clip boxes to the image, so a face that runs off the edge ends
        up with a box edge sitting on the border.
        """
        x1, y1, x2, y2 = self.box
        return x1 <= margin or y1 <= margin or x2 >= width - margin or y2 >= height - margin

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks],
        }


@dataclass(frozen=True)
class QualityProblem:
    code: str  # machine-readable, e.g. "blurred"
    message: str  # a sentence a person can act on


@dataclass(frozen=True)
class QualityReport:
    score: float  # 0..1, 1 is a clean, well-lit, frontal one-person portrait
    problems: tuple[QualityProblem, ...] = ()
    measurements: dict[str, float] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.problems)

    def has(self, code: str) -> bool:
        return code in self.codes

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "measurements": {k: round(v, 3) for k, v in self.measurements.items()},
        }


@dataclass(frozen=True)
class FaceAnalysis:
    decoded: DecodedImage
    # the decoded pixels (HxWx3 uint8 RGB), made once: detection, embedding and views share them
    pixels: np.ndarray = field(repr=False, compare=False)
    faces: tuple[DetectedFace, ...]  # sorted by score, best first
    quality: QualityReport | None = None

    @property
    def primary(self) -> DetectedFace | None:
        return self.faces[0] if self.faces else None


def check_rgb_image(image: Any) -> None:
    """Raise ValueError unless ``image`` is a non-empty HxWx3 uint8 numpy array (RGB)."""
    import numpy as np

    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if not ok:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got shape {shape} and dtype {dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
