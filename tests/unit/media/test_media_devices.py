"""The GPU path, run on CPU: CenterFace converted to PyTorch, and embeddings spread over processes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.unit.media.conftest import CLIP, LIN

requires_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed: the 'gpu' extra (make venv installs it) runs these on CPU",
)


def clip_frames(count: int, size: tuple[int, int] = (320, 180)) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


@requires_torch
def test_the_torch_conversion_matches_onnxruntime_on_real_frames():
    from likeness.faces.detector import CenterFaceDetector
    from likeness.faces.torch_detector import TorchCenterFaceDetector

    onnx = CenterFaceDetector(input_long_side=None)
    torch_cpu = TorchCenterFaceDetector(device="cpu")
    frames = clip_frames(4)
    blob = np.concatenate([onnx.prepare_input(f)[0] for f in frames])
    for ours, theirs in zip(torch_cpu.run_raw(blob), onnx.run_raw(blob), strict=True):
        assert ours.shape == theirs.shape
        assert float(np.abs(ours - theirs).max()) < 5e-4
    for a, b in zip(torch_cpu.detect_batch(frames), onnx.detect_batch(frames), strict=True):
        assert len(a) == len(b)
        assert all(np.allclose(x.box, y.box, atol=0.05) for x, y in zip(a, b, strict=True))


@requires_torch
def test_indexing_on_the_torch_detector_finds_the_same_traces(clip_result, lin_known):
    from likeness.faces.torch_detector import TorchCenterFaceDetector
    from likeness.media.indexing import MediaIndexer
    from likeness.media.indexing.embedding import EmbeddingPool

    indexer = MediaIndexer(
        detector=TorchCenterFaceDetector(device="cpu"), embedding_pool=EmbeddingPool(workers=0)
    )
    result = indexer.index_file(CLIP, kind="video", known=[lin_known])
    assert [(t.start_frame, t.end_frame, t.identity_uuid) for t in result.traces] == [
        (t.start_frame, t.end_frame, t.identity_uuid) for t in clip_result.traces
    ]
    assert any(t.identity_uuid == LIN for t in result.traces)


def test_the_device_setting_is_checked(monkeypatch):
    from likeness.media.indexing.devices import default_batch_detector

    with pytest.raises(ValueError, match="LIKENESS_MEDIA_DEVICE"):
        default_batch_detector("tpu")
    detector = default_batch_detector("cpu")
    assert type(detector).__name__ == "CenterFaceDetector"


def test_worker_processes_embed_exactly_as_this_process_does(indexer, clip_result):
    import cv2

    from likeness.media.indexing.embedding import EmbeddingPool, crop_face

    capture = cv2.VideoCapture(str(CLIP))
    ok, frame = capture.read()
    capture.release()
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    faces = [f for f in indexer.detector.detect_batch([rgb])[0] if f.height >= 40]
    crops = [crop_face(rgb, f.box, f.landmarks, f.score, frame_number=0, idx=i) for i, f in enumerate(faces)]
    assert crops
    in_process = EmbeddingPool(workers=0).embed(crops)
    spread = indexer.pool.embed(crops)
    assert indexer.pool.workers >= 1
    for a, b in zip(in_process, spread, strict=True):
        assert np.array_equal(a, b)
