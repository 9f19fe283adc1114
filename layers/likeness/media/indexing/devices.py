"""Which face detector the indexer runs: onnxruntime on CPU, PyTorch on a CUDA GPU when present."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from likeness.media.indexing.indexer import BatchFaceDetector

__all__ = ["default_batch_detector"]

logger = logging.getLogger(__name__)


def default_batch_detector(device: str | None = None) -> BatchFaceDetector:
    """``device``: "cpu", "cuda" or "auto" (default: LIKENESS_MEDIA_DEVICE, else auto)."""
    from likeness.faces.detector import CenterFaceDetector

    choice = (device or os.environ.get("LIKENESS_MEDIA_DEVICE") or "auto").lower()
    if choice not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"LIKENESS_MEDIA_DEVICE must be auto, cpu or cuda, not {choice!r}")
    if choice in {"auto", "cuda"}:
        from likeness.faces.torch_detector import TorchCenterFaceDetector, cuda_available

        if cuda_available():
            return TorchCenterFaceDetector(device="cuda")
        if choice == "cuda":
            from likeness.errors import ModelUnavailable

            raise ModelUnavailable(
                "LIKENESS_MEDIA_DEVICE=cuda, but PyTorch with a CUDA GPU is not available here.",
                fix="Run on a GPU machine with the 'gpu' extra installed, or set LIKENESS_MEDIA_DEVICE=cpu.",
            )
    # the input size is set per file by the indexer; the CPU session uses onnxruntime's own threads
    return CenterFaceDetector(input_long_side=None, providers=["CPUExecutionProvider"])
