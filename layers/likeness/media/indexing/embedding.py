"""Embedding traces: pick each trace's best faces, crop them, embed them on every core.

The embedder (dlib's ResNet) holds the GIL while it runs (measured: two threads were slower than one),
so faces are spread over worker processes. Workers are forked after the model is loaded, so they
start at once and share its memory pages; where fork is unavailable they are spawned and load the
model themselves.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from likeness.faces.types import DetectedFace

if TYPE_CHECKING:
    from likeness.faces.embedder import FaceEmbedder

__all__ = ["EmbeddingPool", "FaceCrop", "crop_face", "frontalness"]

logger = logging.getLogger(__name__)

# context kept around a face when it is cut out of its frame: the 5-point aligner and dlib's chip
# extractor look a little outside the box, and the embedding must equal the full-frame one
_CROP_MARGIN = 0.6


@dataclass(frozen=True)
class FaceCrop:
    """A face cut out of its frame (RGB) with its box and landmarks in crop coordinates."""

    pixels: np.ndarray
    face: DetectedFace
    frame_number: int
    idx: int


def crop_face(
    frame_rgb: np.ndarray,
    box: tuple[float, float, float, float],
    landmarks: tuple[tuple[float, float], ...],
    score: float,
    *,
    frame_number: int,
    idx: int,
) -> FaceCrop:
    height, width = frame_rgb.shape[:2]
    x1, y1, x2, y2 = box
    mw, mh = (x2 - x1) * _CROP_MARGIN, (y2 - y1) * _CROP_MARGIN
    cx1, cy1 = max(0, int(x1 - mw)), max(0, int(y1 - mh))
    cx2, cy2 = min(width, int(np.ceil(x2 + mw))), min(height, int(np.ceil(y2 + mh)))
    pixels = np.ascontiguousarray(frame_rgb[cy1:cy2, cx1:cx2])
    face = DetectedFace(
        box=(x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1),
        score=score,
        landmarks=tuple((px - cx1, py - cy1) for px, py in landmarks),
    )
    return FaceCrop(pixels=pixels, face=face, frame_number=frame_number, idx=idx)


def frontalness(landmarks: tuple[tuple[float, float], ...]) -> float:
    """1.0 for a face looking at the camera, towards 0 in profile (nose between the eyes or not)."""
    if len(landmarks) < 3:
        return 0.5
    (lx, _), (rx, _), (nx, _) = landmarks[0], landmarks[1], landmarks[2]
    span = rx - lx
    if span <= 1e-6:
        return 0.0
    ratio = (nx - lx) / span
    return float(max(0.0, 1.0 - 2.0 * abs(ratio - 0.5)))


# ---------------------------------------------------------------- worker processes
_worker_embedder: Any = None


def _worker_init(embedder: Any) -> None:
    global _worker_embedder
    if embedder is None:
        from likeness.faces.embedder import DlibResNetEmbedder

        embedder = DlibResNetEmbedder()
    embedder.load()
    _worker_embedder = embedder


def _worker_embed(crops: list[FaceCrop]) -> list[np.ndarray]:
    return [_worker_embedder.embed(c.pixels, c.face) for c in crops]


def _worker_ready(_: int) -> int:
    return os.getpid()


class EmbeddingPool:
    """Embeds face crops, in this process (``workers=0``) or on ``workers`` processes."""

    def __init__(self, *, embedder: FaceEmbedder | None = None, workers: int | None = None) -> None:
        self._embedder = embedder
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._executor: Executor | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            from likeness.faces.embedder import DlibResNetEmbedder

            self._embedder = DlibResNetEmbedder()
        return self._embedder

    def start(self) -> None:
        """Load the model and start the workers now (a container's init phase)."""
        load = getattr(self.embedder, "load", None)
        if callable(load):
            load()
        if self.workers > 0:
            self._pool()

    def _pool(self) -> Executor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    methods = multiprocessing.get_all_start_methods()
                    context: Any
                    if "fork" in methods:
                        # forked after the model loaded: no second load, pages shared
                        context = multiprocessing.get_context("fork")
                        init_args: tuple[Any, ...] = (self.embedder,)
                    else:
                        context = multiprocessing.get_context("spawn")
                        init_args = (None,)
                    executor = ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=context,
                        initializer=_worker_init,
                        initargs=init_args,
                    )
                    # start every worker now rather than on the first real batch
                    list(executor.map(_worker_ready, range(self.workers)))
                    self._executor = executor
                    logger.info(
                        "embedding pool started with %d workers (%s)",
                        self.workers,
                        context.get_start_method(),
                    )
        return self._executor

    def embed(self, crops: list[FaceCrop]) -> list[np.ndarray]:
        if not crops:
            return []
        if self.workers <= 0:
            return [self.embedder.embed(c.pixels, c.face) for c in crops]
        pool = self._pool()
        # one chunk per worker, dealt round-robin so big and small faces spread evenly
        chunks = [crops[i :: self.workers] for i in range(self.workers)]
        results = list(pool.map(_worker_embed, [c for c in chunks if c]))
        out: list[np.ndarray] = [np.empty(0)] * len(crops)
        for i, chunk_result in enumerate(results):
            for j, vector in enumerate(chunk_result):
                out[i + j * self.workers] = vector
        return out

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
