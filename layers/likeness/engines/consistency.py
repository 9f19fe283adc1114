"""The consistency verdict: does a generated image show the person (or blend) it should?

The output's face is embedded with the face pipeline's descriptor (dlib ResNet, 128-d,
euclidean) and compared with the reference embeddings the engine says it used.

Units. ``distance`` is the euclidean descriptor distance; ``score = max(0, 1 - distance)`` and
``threshold = 1 - SAME_PERSON_THRESHOLD = 0.4`` are the same thing on a "higher is better"
scale. On the fixture photos the same person stays <= 0.42 apart and different people >= 0.69.

``same_person`` (face transfer, portraits, edits of one identity): distance to the centroid of
the references.

- passed: distance <= 0.55 (the threshold minus ``MANUAL_BAND``);
- manual_required: 0.55 < distance <= 0.65, or the output shows more than one face, or the
  detector is unsure of the face (score < ``UNSURE_FACE_SCORE``) or it is too small to judge;
- failed: distance > 0.65, or no face at all.

``new_person`` (new faces morphed from references): distance to the nearest reference.

- passed: one confident face within 0.65 of at least one reference and not a near copy;
- manual_required: a near copy of a reference, more than one face, an unsure or tiny face,
  or only loosely related (0.65 < nearest distance <= ``UNRELATED_DISTANCE``);
- failed: no face, or farther than ``UNRELATED_DISTANCE`` from every reference.

``near_copy``: the nearest reference is closer than ``NEAR_COPY_DISTANCE`` (0.2). Measured on
the fixtures (1024 px engine outputs): one photo at another resolution (obama.jpg vs
obama-1080p / obama_small) is 0.10-0.12 apart; different photos of the same person are >= 0.36
apart; classical morphs land from their main reference at 0.09 (95/5 weights), 0.11-0.17
(90/10), 0.18-0.36 (80/20) and 0.34-0.55 (65/35); the engine's own weights stop at 75/25
(0.25-0.46). In ``same_person`` mode a near copy is only reported (a portrait of the reference
photo is expected to be one).

Aligned-crop pixel correlation was measured as a second copy signal and rejected: a classical
morph keeps its main reference's pose and lighting, so 65/35 morphs correlated 0.91-0.96 with
it - as high as one photo at another resolution (0.94-0.97). With ``reference_crops`` the
judge still reports the best ``correlation`` for a person to read; it does not decide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from likeness.engines.base import EngineError, EngineImage
from likeness.errors import LikenessError, ModelUnavailable
from likeness.faces.compare import SAME_PERSON_THRESHOLD, face_distance
from likeness.faces.pipeline import FacePipeline, get_default_pipeline

if TYPE_CHECKING:
    from likeness.faces.types import DetectedFace

__all__ = [
    "MANUAL_BAND",
    "NEAR_COPY_DISTANCE",
    "NEW_PERSON",
    "SAME_PERSON",
    "UNRELATED_DISTANCE",
    "UNSURE_FACE_SCORE",
    "ConsistencyJudge",
    "ConsistencyReport",
    "Verdict",
    "aligned_signature",
]

SAME_PERSON = "same_person"
NEW_PERSON = "new_person"
MODES = (SAME_PERSON, NEW_PERSON)

MANUAL_BAND = 0.05  # distance either side of SAME_PERSON_THRESHOLD that a person should look at
NEAR_COPY_DISTANCE = 0.2
UNRELATED_DISTANCE = 0.75  # beyond every fixture pair of different people but one (0.69-0.94)
UNSURE_FACE_SCORE = 0.7  # clean fixture portraits detect at 0.82-0.96; engine outputs at 0.81-0.93
_MAX_FACES_EMBEDDED = 5  # a crowd in the output is judged by its five most confident faces
_SIGNATURE_SIZE = 112


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    MANUAL_REQUIRED = "manual_required"


def _score(distance: float) -> float:
    return max(0.0, 1.0 - distance)


@dataclass(frozen=True)
class ConsistencyReport:
    verdict: Verdict
    score: float  # 0..1, max(0, 1 - distance); 0 when no face was found
    threshold: float  # the score at the same-person threshold (1 - 0.6)
    distance: float | None  # descriptor distance behind ``score``; None when no face was found
    near_copy: bool
    faces_found: int
    compared_with: int  # reference embeddings compared against
    mode: str  # same_person | new_person
    reason: str  # one sentence a person can read
    distances: tuple[float, ...] = ()  # to each reference, in the order given
    face_score: float | None = None  # the detector's confidence in the judged face
    correlation: float | None = None  # best aligned-crop correlation, when crops were given

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED

    def to_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(float(value), 4)

        return {
            "verdict": self.verdict.value,
            "score": r(self.score),
            "threshold": r(self.threshold),
            "distance": r(self.distance),
            "distance_threshold": SAME_PERSON_THRESHOLD,
            "near_copy": self.near_copy,
            "faces_found": self.faces_found,
            "compared_with": self.compared_with,
            "mode": self.mode,
            "reason": self.reason,
            "distances": [r(d) for d in self.distances],
            "face_score": r(self.face_score),
            "correlation": r(self.correlation),
        }


def aligned_signature(pixels: np.ndarray, face: DetectedFace) -> np.ndarray:
    """The inner face (aligned on the 5 landmarks, grey, zero mean, unit variance) for pixel
    correlation: two signatures' mean product is their correlation coefficient."""
    import cv2

    from likeness.faces.views import aligned_face_crop

    crop = aligned_face_crop(pixels, face, _SIGNATURE_SIZE)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    # brows to chin, cheek to cheek: no background or hair. The 5 detector points wobble by a
    # pixel or two between photos; without the blur the same photo re-framed correlated only
    # 0.49-0.58 with itself
    inner = np.asarray(cv2.GaussianBlur(gray[16:-8, 16:-16], (0, 0), 2.0), dtype=np.float64)
    return (inner - inner.mean()) / (inner.std() + 1e-6)


def _flatten(pixels: np.ndarray) -> np.ndarray:
    """HxWx4 -> HxWx3 over white, as a viewer (and the upload decoder) shows transparency."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = pixels[..., 3:4].astype(np.float32) / 255.0
        rgb = pixels[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels)


class ConsistencyJudge:
    """Embeds references and outputs with the face pipeline and returns verdicts. Thread-safe."""

    def __init__(self, *, pipeline: Callable[[], FacePipeline] = get_default_pipeline) -> None:
        self._pipeline = pipeline

    def reference_embeddings(self, images: Sequence[EngineImage]) -> list[np.ndarray]:
        """One embedding per image; EngineError naming the image when it shows no or several faces."""
        return [self._reference(image)[0] for image in images]

    def reference_crops(self, images: Sequence[EngineImage]) -> list[np.ndarray]:
        """Aligned face signatures of the images; with them ``judge`` also reports pixel correlation."""
        return [self._reference(image)[1] for image in images]

    def _reference(self, image: EngineImage) -> tuple[np.ndarray, np.ndarray]:
        pipeline = self._pipeline()
        try:
            analysis = pipeline.analyze(image.data)
        except ModelUnavailable:
            raise
        except LikenessError as exc:
            raise EngineError(
                f"{image.label} could not be used as a reference: {exc.message}", code="input_rejected"
            ) from exc
        faces = [f for f in analysis.faces if f.score >= pipeline.min_face_score]
        if not faces:
            raise EngineError(f"{image.label} shows no face to compare with", code="no_face")
        if len(faces) > 1:
            raise EngineError(
                f"{image.label} shows {len(faces)} faces; a reference must show exactly one",
                code="multiple_faces",
            )
        return pipeline.embed(analysis, faces[0]), aligned_signature(analysis.pixels, faces[0])

    def judge(
        self,
        output: bytes | np.ndarray,
        references: Sequence[np.ndarray],
        *,
        mode: str,
        reference_crops: Sequence[np.ndarray] | None = None,
    ) -> ConsistencyReport:
        """The verdict for ``output`` (encoded image bytes, or HxWx3 / HxWx4 uint8 RGB pixels)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if not references:
            raise ValueError("at least one reference embedding is needed")
        refs = [np.asarray(r, dtype=np.float64).ravel() for r in references]
        threshold = _score(SAME_PERSON_THRESHOLD)
        pipeline = self._pipeline()

        detected = None
        if isinstance(output, bytes | bytearray | memoryview):
            try:
                analysis = pipeline.analyze(bytes(output))
                pixels, detected = analysis.pixels, analysis.faces  # detected once, with the decode
            except ModelUnavailable:
                raise
            except LikenessError as exc:
                return self._report(
                    Verdict.FAILED,
                    None,
                    mode,
                    refs,
                    threshold,
                    0,
                    f"the output could not be read as an image: {exc.message}",
                )
        else:
            pixels = _flatten(np.asarray(output))
        if detected is None:
            detected = tuple(pipeline.detector.detect(pixels))
        faces = [f for f in detected if f.score >= pipeline.min_face_score]
        faces.sort(key=lambda f: f.score, reverse=True)
        if not faces:
            return self._report(
                Verdict.FAILED, None, mode, refs, threshold, 0, "no face was found in the output"
            )

        centroid = np.mean(refs, axis=0)
        best: tuple[float, DetectedFace, np.ndarray, list[float]] | None = None
        for face in faces[:_MAX_FACES_EMBEDDED]:
            embedding = pipeline.embedder.embed(pixels, face)
            per_ref = [face_distance(embedding, r) for r in refs]
            distance = face_distance(embedding, centroid) if mode == SAME_PERSON else min(per_ref)
            if best is None or distance < best[0]:
                best = (distance, face, embedding, per_ref)
        assert best is not None
        distance, face, _, per_ref = best

        correlation = None
        if reference_crops:
            signature = aligned_signature(pixels, face)
            correlation = max(float((signature * np.asarray(c)).mean()) for c in reference_crops)
        nearest = int(np.argmin(per_ref))
        near_copy = per_ref[nearest] < NEAR_COPY_DISTANCE
        verdict, reason = self._decide(mode, distance, face, len(faces), near_copy, nearest, per_ref)
        return ConsistencyReport(
            verdict=verdict,
            score=_score(distance),
            threshold=threshold,
            distance=distance,
            near_copy=near_copy,
            faces_found=len(faces),
            compared_with=len(refs),
            mode=mode,
            reason=reason,
            distances=tuple(per_ref),
            face_score=face.score,
            correlation=correlation,
        )

    def _decide(
        self,
        mode: str,
        distance: float,
        face: DetectedFace,
        faces_found: int,
        near_copy: bool,
        nearest: int,
        per_ref: list[float],
    ) -> tuple[Verdict, str]:
        pipeline = self._pipeline()
        low, high = SAME_PERSON_THRESHOLD - MANUAL_BAND, SAME_PERSON_THRESHOLD + MANUAL_BAND
        d = f"{distance:.3f}"
        if faces_found > 1:
            return Verdict.MANUAL_REQUIRED, (
                f"the output shows {faces_found} faces; the closest to the reference is at distance {d}, "
                "so a person should check which one is meant"
            )
        if face.score < UNSURE_FACE_SCORE:
            return Verdict.MANUAL_REQUIRED, (
                f"the detector is unsure of the output's face (confidence {face.score:.2f}); "
                f"its distance is {d}"
            )
        if face.short_side < pipeline.min_face_px:
            return Verdict.MANUAL_REQUIRED, (
                f"the output's face is {face.short_side:.0f} px across, too small to judge reliably; "
                f"its distance is {d}"
            )
        if mode == SAME_PERSON:
            copy_note = " (it is nearly a copy of a reference photo)" if near_copy else ""
            if distance <= low:
                return (
                    Verdict.PASSED,
                    f"the output's face matches the reference at distance {d} (limit {low:.2f}){copy_note}",
                )
            if distance > high:
                return (
                    Verdict.FAILED,
                    f"the output's face does not match the reference: distance {d} is over {high:.2f}",
                )
            return Verdict.MANUAL_REQUIRED, (
                f"the output's face is at distance {d}, within {MANUAL_BAND} of the same-person "
                f"threshold {SAME_PERSON_THRESHOLD}; a person should check it"
            )
        if near_copy:
            return Verdict.MANUAL_REQUIRED, (
                f"the new face is nearly a copy of reference {nearest + 1} "
                f"(distance {per_ref[nearest]:.3f}); a person should check that it is new enough"
            )
        if distance > UNRELATED_DISTANCE:
            return Verdict.FAILED, (
                f"the new face looks like none of its references: the nearest is at distance {d}, "
                f"over {UNRELATED_DISTANCE}"
            )
        if distance > high:
            return Verdict.MANUAL_REQUIRED, (
                f"the new face is only loosely related to its references (nearest at distance {d}, "
                f"over {high:.2f}); a person should check it"
            )
        return Verdict.PASSED, (
            f"the new face relates to its references (nearest at distance {d}) without copying any of them"
        )

    @staticmethod
    def _report(
        verdict: Verdict,
        distance: float | None,
        mode: str,
        refs: list[np.ndarray],
        threshold: float,
        faces_found: int,
        reason: str,
    ) -> ConsistencyReport:
        return ConsistencyReport(
            verdict=verdict,
            score=0.0 if distance is None else _score(distance),
            threshold=threshold,
            distance=distance,
            near_copy=False,
            faces_found=faces_found,
            compared_with=len(refs),
            mode=mode,
            reason=reason,
        )
