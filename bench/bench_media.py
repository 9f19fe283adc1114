"""Media indexing of the fixture clip with lin-manuel-miranda.png enrolled.

- the baseline: detect every frame at 640 px and embed every face (what indexing cost before the
  keyframe tracker); it is also the reference for where Lin's face is at least 48 px high;
- the indexer, cold (models loaded and workers started inside the timing) and warm (median of 3):
  frames per second, real-time factor, faces embedded, traces, where the time goes, and the
  appearance ranges found, checked against the reference (every second covered, no false match);
- the detector alone: onnxruntime against the PyTorch conversion on CPU, and on a CUDA GPU when
  there is one (with the whole index run there and its speed-up over CPU).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"
CLIP = FACES / "short_hamilton_clip.mp4"
MIN_FACE_PX = 48.0


def _frames(size: tuple[int, int] | None = None) -> list:
    import cv2

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if size is not None:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def _baseline(lin_vector) -> tuple[float, int, dict[int, list[tuple[float, ...]]]]:
    """Every face of every frame embedded: frames/s, faces, and Lin's boxes (>= 48 px) per frame."""
    import numpy as np

    from likeness.faces.compare import SAME_PERSON_THRESHOLD
    from likeness.faces.pipeline import get_default_pipeline

    pipeline = get_default_pipeline()
    pipeline.warm_up()
    frames = _frames()
    lin_boxes: dict[int, list[tuple[float, ...]]] = {}
    faces = 0
    started = time.perf_counter()
    for number, rgb in enumerate(frames):
        for face in pipeline.detector.detect(rgb):
            if face.score < 0.5:
                continue
            faces += 1
            vector = pipeline.embedder.embed(rgb, face)
            distance = float(np.linalg.norm(vector - lin_vector))
            if distance <= SAME_PERSON_THRESHOLD and face.height >= MIN_FACE_PX:
                lin_boxes.setdefault(number, []).append(face.box)
    elapsed = time.perf_counter() - started
    return len(frames) / elapsed, faces, lin_boxes


def _ranges(frames: set[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for f in sorted(frames):
        if spans and f == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], f)
        else:
            spans.append((f, f))
    return spans


def _detector_rates(frames_320, frames_640) -> None:
    from likeness.faces.detector import CenterFaceDetector

    def rate(detector, frames, batch: int) -> float:
        detector.detect_batch(frames[:batch])
        started = time.perf_counter()
        for i in range(0, len(frames), batch):
            detector.detect_batch(frames[i : i + batch])
        return len(frames) / (time.perf_counter() - started)

    onnx = CenterFaceDetector(input_long_side=None)
    print(f"  onnxruntime CPU, 320x180: {rate(onnx, frames_320, 1):7.0f} frames/s (batch 1)")
    print(f"  onnxruntime CPU, 640x360: {rate(onnx, frames_640[:60], 1):7.0f} frames/s (batch 1)")
    try:
        import torch

        from likeness.faces.torch_detector import TorchCenterFaceDetector
    except ImportError:
        print("  PyTorch is not installed: no torch figures")
        return
    cpu = TorchCenterFaceDetector(device="cpu")
    print(f"  torch CPU,       320x180: {rate(cpu, frames_320[:64], 16):7.0f} frames/s (batch 16)")
    if not torch.cuda.is_available():
        print("  no CUDA GPU on this machine: GPU figures come from a GPU run of `make bench`")
        return
    gpu = TorchCenterFaceDetector(device="cuda")
    for label, frames in (("320x180", frames_320), ("640x360", frames_640)):
        repeated = (frames * 4)[:1024]
        print(f"  torch CUDA,      {label}: {rate(gpu, repeated, 128):7.0f} frames/s (batch 128)")


def main() -> None:
    from likeness.media.index_types import KnownIdentity
    from likeness.media.indexing import MediaIndexer
    from likeness.media.indexing.devices import default_batch_detector

    print("\n9. Media indexing: short_hamilton_clip.mp4 (275 frames, 640x360, 29.97 fps, 9.2 s)")
    print(f"   with lin-manuel-miranda.png enrolled; {os.cpu_count()} CPU cores")
    started = time.perf_counter()
    indexer = MediaIndexer(detector=default_batch_detector("cpu"))
    indexer.warm_up()
    lin_vector = indexer.embed_profile((FACES / "lin-manuel-miranda.png").read_bytes())
    known = [KnownIdentity(identity_uuid="lin", embeddings=(tuple(lin_vector),))]
    cold = indexer.index_file(CLIP, kind="video", known=known)
    cold_seconds = time.perf_counter() - started
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = indexer.index_file(CLIP, kind="video", known=known)
        runs.append(time.perf_counter() - t0)
    warm = statistics.median(runs)
    frames = result.media.frame_count
    duration = result.media.duration or 0.0
    print(
        f"  indexer, warm (median of 3): {warm:.2f} s = {frames / warm:.0f} frames/s, "
        f"{duration / warm:.1f}x real time"
    )
    print(
        f"  indexer, cold (models, workers, first file): {cold_seconds:.2f} s = "
        f"{frames / cold_seconds:.0f} frames/s, {duration / cold_seconds:.1f}x real time"
    )
    stats = result.stats
    print(
        f"  frames decoded {stats.frames_decoded}, detector runs {stats.frames_detected}, faces detected "
        f"{stats.faces_detected}, faces embedded {stats.faces_embedded}, traces {len(result.traces)}, "
        f"shot cuts {stats.shot_cuts}, auto clusters {len(result.auto_clusters)}"
    )
    shares = ", ".join(f"{k} {v:.2f} s" for k, v in stats.seconds.items() if k != "total")
    print(f"  where the time goes (one warm run): {shares}; total {stats.seconds['total']:.2f} s")
    assert cold.traces == result.traces or len(cold.traces) == len(result.traces)

    fps = result.media.fps or 30.0
    lin_traces = [t for t in result.traces if t.identity_uuid == "lin"]
    for trace in lin_traces:
        print(
            f"  Lin: frames {trace.start_frame}-{trace.end_frame} "
            f"({trace.start_frame / fps:.2f}-{(trace.end_frame + 1) / fps:.2f} s), "
            f"{trace.face_count} detections, distance {trace.distance}"
        )

    print("  baseline: detect every frame at 640 px, embed every face (one process) ...")
    base_fps, base_faces, lin_boxes = _baseline(__import__("numpy").asarray(lin_vector))
    print(
        f"  baseline: {base_fps:.1f} frames/s ({base_fps / fps:.2f}x real time), {base_faces} faces embedded;"
        f" indexer speed-up {frames / warm / base_fps:.0f}x"
    )
    needed = sorted({int(f / fps) for f in lin_boxes})
    covered = {int(f / fps) for t in lin_traces for f in range(t.start_frame, t.end_frame + 1)}
    missing = sorted(set(needed) - covered)
    from likeness.media.indexing.tracking import iou

    # a trace named Lin is a false match unless the reference finds Lin on most of its detections
    false_traces = 0
    for trace in lin_traces:
        agreeing = sum(
            1
            for d in trace.detections
            if any(iou(d.box, box) >= 0.3 for box in lin_boxes.get(d.frame_number, []))
        )
        share = agreeing / max(trace.face_count, 1)
        print(
            f"  Lin trace {trace.start_frame}-{trace.end_frame}: reference agrees on {share:.0%} of its faces"
        )
        false_traces += share < 0.5
    print(
        f"  seconds with Lin >= {MIN_FACE_PX:.0f} px (reference): {needed}; found: {sorted(covered)}; "
        f"missing: {missing or 'none'}"
    )
    reference_frames = _ranges(set(lin_boxes))
    print(f"  reference frames with Lin >= 48 px: {reference_frames}")
    print(f"  traces falsely named Lin: {false_traces}")

    print("  detector alone:")
    _detector_rates(_frames((320, 180)), _frames())
    indexer.close()

    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        gpu_indexer = MediaIndexer(detector=default_batch_detector("cuda"))
        gpu_indexer.warm_up()
        gpu_indexer.index_file(CLIP, kind="video", known=known)
        gpu_runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            gpu_result = gpu_indexer.index_file(CLIP, kind="video", known=known)
            gpu_runs.append(time.perf_counter() - t0)
        gpu_warm = statistics.median(gpu_runs)
        same = [(t.start_frame, t.end_frame, t.identity_uuid) for t in gpu_result.traces] == [
            (t.start_frame, t.end_frame, t.identity_uuid) for t in result.traces
        ]
        print(
            f"  GPU indexer (CUDA detector, {gpu_indexer.pool.workers} embedding workers): "
            f"{gpu_warm:.2f} s = "
            f"{frames / gpu_warm:.0f} frames/s, speed-up over CPU {warm / gpu_warm:.1f}x; same traces: {same}"
        )
        print(f"  GPU where the time goes: {gpu_result.stats.seconds}")
        gpu_indexer.close()


if __name__ == "__main__":
    main()
