"""Indexing one media file: decode, detect on keyframes, track, embed each trace, match, cluster.

Where the time goes, and why the pipeline is shaped so (figures from bench/bench_media.py on the
fixture clip, 2 CPU cores): embedding a face costs ~65 ms, detecting a 320x180 frame ~8 ms and a
640x360 one ~29 ms, decoding a frame under 0.5 ms. So the detector runs on every ``stride``-th frame,
downscaled so the smallest face worth indexing stays about 24 px for it; tracks are joined by IoU
and their ends found exactly by searching the frames in between; and only a few of each trace's best
faces are embedded, spread over all cores, instead of every face of every frame.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from likeness.faces.compare import SAME_PERSON_THRESHOLD
from likeness.faces.types import DetectedFace
from likeness.media.index_types import (
    AutoCluster,
    Detection,
    IndexResult,
    IndexStats,
    KnownIdentity,
    MediaKind,
    Trace,
)
from likeness.media.indexing.embedding import EmbeddingPool, FaceCrop, crop_face, frontalness
from likeness.media.indexing.tracking import FrameFace, Track, Tracker
from likeness.media.indexing.video import MediaReader, open_media

__all__ = ["BatchFaceDetector", "IndexerConfig", "MediaIndexer"]

logger = logging.getLogger(__name__)


class BatchFaceDetector(Protocol):
    name: str

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces of each HxWx3 uint8 RGB image (all one size), in its pixels, best first."""
        ...


@dataclass(frozen=True)
class IndexerConfig:
    stride: int = 3  # detect on every stride-th frame; boundaries are refined in between
    min_face_px: float = 48.0  # the smallest face (height, source pixels) the index must find
    detector_face_px: float = 24.0  # ... and the size the detector needs to see it at
    max_detect_long_side: int = 640
    min_score: float = 0.5
    min_track_px: float = 16.0  # smaller detections are not tracked at all
    min_embed_px: float = 40.0  # below this the descriptor stops separating people (faces.pipeline)
    min_detections: int = 2  # a video trace seen in fewer frames is detector noise
    first_pass_faces: int = 1  # embedded for every trace ...
    max_faces_per_trace: int = 3  # ... and up to this many for traces near the threshold
    # "near the threshold": averaging three faces moved Lin's traces 0.04-0.13 closer to him, and on
    # the clip no stranger's first face came within 0.08 above it (the crowd sat at 0.70-0.87)
    ambiguous_below: float = 0.15
    ambiguous_above: float = 0.08
    threshold: float = SAME_PERSON_THRESHOLD
    auto_threshold: float = 0.5  # stricter than matching: clusters of strangers must not chain
    auto_min_traces: int = 2  # an unmatched person recurs when seen in this many separate traces
    batch_keyframes: int = 64  # for detectors that do not say (preferred_batch)
    cut_threshold: float = 20.0  # mean absolute change of a 32x18 grey thumbnail (0-255) at a shot cut
    image_long_side: int = 640


@dataclass
class _Candidates:
    """A trace's best faces for embedding, kept as crops while the video streams past."""

    best: list[tuple[float, FaceCrop]] = field(default_factory=list)

    def offer(self, quality: float, make_crop: Any, keep: int) -> None:
        if len(self.best) >= keep and quality <= self.best[-1][0]:
            return
        self.best.append((quality, make_crop()))
        self.best.sort(key=lambda qc: qc[0], reverse=True)
        del self.best[keep:]


class MediaIndexer:
    """Finds the people in a media file. Thread-safe for one file at a time per instance."""

    def __init__(
        self,
        *,
        detector: BatchFaceDetector | None = None,
        embedding_pool: EmbeddingPool | None = None,
        config: IndexerConfig | None = None,
    ) -> None:
        self._detector = detector
        self.pool = embedding_pool if embedding_pool is not None else EmbeddingPool()
        self.config = config or IndexerConfig()
        self._lock = threading.Lock()

    @property
    def detector(self) -> BatchFaceDetector:
        if self._detector is None:
            from likeness.media.indexing.devices import default_batch_detector

            self._detector = default_batch_detector()
        return self._detector

    def warm_up(self) -> None:
        """Load the models and start the embedding workers (before the first file)."""
        self.pool.start()
        load = getattr(self.detector, "load", None)
        if callable(load):
            load()

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------------ public API
    def index_file(self, path: str | Path, *, kind: MediaKind, known: Sequence[KnownIdentity]) -> IndexResult:
        with self._lock:
            started = time.perf_counter()
            reader = open_media(path, kind=kind)
            stats = IndexStats()
            if kind == "image":
                tracks, crops = self._image_tracks(reader, stats)
            else:
                tracks, crops = self._video_tracks(reader, stats)
            traces = self._traces(tracks, kind)
            embedded = self._embed_and_match(traces, crops, known, stats)
            self._renumber(traces)
            clusters = self._auto_clusters(traces, reader, kind) if kind == "video" else []
            stats.seconds["total"] = round(time.perf_counter() - started, 4)
            stats.seconds = {k: round(v, 4) for k, v in stats.seconds.items()}
            logger.info(
                "indexed %s: %d frames, %d faces, %d traces, %d embedded, %d auto clusters in %.2f s",
                Path(path).name,
                stats.frames_decoded,
                stats.faces_detected,
                len(traces),
                embedded,
                len(clusters),
                stats.seconds["total"],
            )
            return IndexResult(
                media=reader.info(stats.frames_decoded), traces=traces, auto_clusters=clusters, stats=stats
            )

    def embed_profile(self, data: bytes) -> list[float]:
        """A profile image's embedding: it must show exactly one clear face (FaceRejected otherwise)."""
        from likeness.faces.pipeline import get_default_pipeline

        pipeline = get_default_pipeline()
        analysis = pipeline.analyze(data)
        face = pipeline.require_one_face(analysis)
        return [round(float(v), 6) for v in pipeline.embed(analysis, face)]

    # ------------------------------------------------------------------ detection and tracking
    def _detect_size(self, reader: MediaReader) -> tuple[int, int]:
        """Detector input size: as small as keeps ``min_face_px`` faces at ``detector_face_px``."""
        cfg = self.config
        long_side = max(reader.width, reader.height)
        scale = min(1.0, cfg.detector_face_px / cfg.min_face_px)
        scale = min(scale, cfg.max_detect_long_side / long_side) if long_side else 1.0
        scale = max(scale, min(1.0, 320 / long_side))  # no smaller than 320 px on the long side
        return max(1, round(reader.width * scale)), max(1, round(reader.height * scale))

    def _video_tracks(
        self, reader: MediaReader, stats: IndexStats
    ) -> tuple[list[Track], dict[int, _Candidates]]:
        import cv2

        cfg = self.config
        size = self._detect_size(reader)
        fx, fy = reader.width / size[0], reader.height / size[1]
        small: dict[int, np.ndarray] = {}  # detector-size RGB frames still needed
        between_cache: dict[int, list[FrameFace]] = {}
        candidates: dict[int, _Candidates] = {}
        timers = {"decode": 0.0, "detect": 0.0, "track": 0.0, "crop": 0.0}

        def to_faces(frame_number: int, faces: list[DetectedFace]) -> list[FrameFace]:
            kept = []
            for face in faces:
                if face.score < cfg.min_score:
                    continue
                x1, y1, x2, y2 = face.box
                box = (x1 * fx, y1 * fy, x2 * fx, y2 * fy)
                if box[3] - box[1] < cfg.min_track_px:
                    continue
                kept.append((face.score, box, tuple((px * fx, py * fy) for px, py in face.landmarks)))
            kept.sort(key=lambda k: k[0], reverse=True)
            return [
                FrameFace(frame_number=frame_number, idx=i, box=box, score=score, landmarks=lms)
                for i, (score, box, lms) in enumerate(kept)
            ]

        def detect_between(frame_number: int) -> list[FrameFace]:
            if frame_number in between_cache:
                return between_cache[frame_number]
            image = small.get(frame_number)
            if image is None:
                return []
            t0 = time.perf_counter()
            faces = to_faces(frame_number, self.detector.detect_batch([image])[0])
            timers["detect"] += time.perf_counter() - t0
            stats.frames_detected += 1
            between_cache[frame_number] = faces
            return faces

        tracker = Tracker(stride=cfg.stride, detect_between=detect_between)
        pending: list[tuple[int, np.ndarray]] = []  # keyframes awaiting detection: (number, full RGB)
        frame_bytes = reader.width * reader.height * 3
        # onnxruntime on CPU is fastest a frame at a time; a GPU wants big batches (held frames cap it)
        wanted = getattr(self.detector, "preferred_batch", cfg.batch_keyframes)
        batch = max(1, min(wanted, (256 << 20) // max(frame_bytes, 1)))

        def flush() -> None:
            if not pending:
                return
            t0 = time.perf_counter()
            detections = self.detector.detect_batch([small[n] for n, _ in pending])
            timers["detect"] += time.perf_counter() - t0
            stats.frames_detected += len(pending)
            for (number, full), faces in zip(pending, detections, strict=True):
                t1 = time.perf_counter()
                frame_faces = to_faces(number, faces)
                stats.faces_detected += len(frame_faces)
                detecting_before = timers["detect"]
                tracker.keyframe(number, frame_faces)
                # the tracker's in-between detections are already counted as detection
                timers["track"] += time.perf_counter() - t1 - (timers["detect"] - detecting_before)
                t2 = time.perf_counter()
                for track in tracker.open_tracks:
                    face = track.last
                    if face.frame_number != number or face.height < cfg.min_embed_px:
                        continue
                    quality = face.score * min(face.height, 160.0) * (0.5 + frontalness(face.landmarks))
                    candidates.setdefault(track.track_id, _Candidates()).offer(
                        quality,
                        lambda face=face, full=full: crop_face(
                            full,
                            face.box,
                            face.landmarks,
                            face.score,
                            frame_number=face.frame_number,
                            idx=face.idx,
                        ),
                        cfg.max_faces_per_trace,
                    )
                timers["crop"] += time.perf_counter() - t2
            # frames before the last keyframe are no longer needed by the tracker
            last_key = pending[-1][0]
            for number in [n for n in small if n < last_key - cfg.stride]:
                del small[number]
                between_cache.pop(number, None)
            pending.clear()

        last = -1
        previous_thumb: np.ndarray | None = None
        loop_started = time.perf_counter()
        for number, frame in enumerate(reader.frames()):
            last = number
            image = (
                cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if size != frame.shape[1::-1] else frame
            )
            small[number] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            thumb = cv2.resize(
                cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (32, 18), interpolation=cv2.INTER_AREA
            )
            if previous_thumb is not None and _is_cut(previous_thumb, thumb, cfg.cut_threshold):
                # a face in the same place after a cut is someone else: no track crosses it
                flush()
                tracker.cut(number)
                stats.shot_cuts += 1
            previous_thumb = thumb
            if number % cfg.stride == 0:
                pending.append((number, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
                if len(pending) >= batch:
                    flush()
        flush()
        # decoding (and downscaling) is what the streaming loop spent outside detection and tracking
        loop_seconds = time.perf_counter() - loop_started
        timers["decode"] = loop_seconds - timers["detect"] - timers["track"] - timers["crop"]
        stats.frames_decoded = last + 1
        if last < 0:
            from likeness.errors import MediaUnreadable

            raise MediaUnreadable("The video has no decodable frames.")
        t1, detecting_before = time.perf_counter(), timers["detect"]
        tracks = tracker.finish(last)
        timers["track"] += time.perf_counter() - t1 - (timers["detect"] - detecting_before)
        # faces found only in between keyframes count too
        stats.faces_detected += sum(1 for t in tracks for f in t.faces if f.frame_number % cfg.stride != 0)
        stats.seconds.update({k: max(v, 0.0) for k, v in timers.items()})
        return tracks, candidates

    def _image_tracks(
        self, reader: MediaReader, stats: IndexStats
    ) -> tuple[list[Track], dict[int, _Candidates]]:
        import cv2

        cfg = self.config
        t0 = time.perf_counter()
        frame = next(iter(reader.frames()))
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        long_side = max(reader.width, reader.height)
        scale = min(1.0, cfg.image_long_side / long_side)
        size = (max(1, round(reader.width * scale)), max(1, round(reader.height * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        stats.seconds["decode"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        faces = [f for f in self.detector.detect_batch([small])[0] if f.score >= cfg.min_score]
        stats.seconds["detect"] = time.perf_counter() - t1
        stats.frames_decoded = stats.frames_detected = 1
        fx, fy = reader.width / size[0], reader.height / size[1]
        tracks: list[Track] = []
        candidates: dict[int, _Candidates] = {}
        for idx, face in enumerate(sorted(faces, key=lambda f: f.score, reverse=True)):
            x1, y1, x2, y2 = face.box
            box = (x1 * fx, y1 * fy, x2 * fx, y2 * fy)
            lms = tuple((px * fx, py * fy) for px, py in face.landmarks)
            ff = FrameFace(frame_number=0, idx=idx, box=box, score=face.score, landmarks=lms)
            tracks.append(Track(track_id=idx, faces=[ff], closed=True))
            if ff.height >= cfg.min_embed_px:
                crop = crop_face(rgb, box, lms, face.score, frame_number=0, idx=idx)
                candidates[idx] = _Candidates(best=[(1.0, crop)])
        stats.faces_detected = len(tracks)
        return tracks, candidates

    def _traces(self, tracks: list[Track], kind: MediaKind) -> list[Trace]:
        # a still image has one frame: every face there is its own trace
        min_detections = 1 if kind == "image" else self.config.min_detections
        traces = []
        for track in tracks:
            if len(track.faces) < min_detections:
                continue
            traces.append(
                Trace(
                    trace_id=track.track_id,
                    start_frame=track.first.frame_number,
                    end_frame=track.last.frame_number,
                    detections=[
                        Detection(
                            frame_number=f.frame_number,
                            idx=f.idx,
                            box=tuple(round(v, 1) for v in f.box),  # type: ignore[arg-type]
                            score=round(f.score, 4),
                        )
                        for f in track.faces
                    ],
                    max_face_px=round(max(f.height for f in track.faces), 1),
                )
            )
        return traces

    @staticmethod
    def _renumber(traces: list[Trace]) -> None:
        """Trace ids 0, 1, ... in order of appearance (track ids have gaps where noise was dropped)."""
        traces.sort(key=lambda t: (t.start_frame, t.detections[0].idx))
        for number, trace in enumerate(traces):
            trace.trace_id = number

    # ------------------------------------------------------------------ embedding and matching
    def _embed_and_match(
        self,
        traces: list[Trace],
        crops: dict[int, _Candidates],
        known: Sequence[KnownIdentity],
        stats: IndexStats,
    ) -> int:
        cfg = self.config
        t0 = time.perf_counter()
        # trace ids are still track ids here (renumbered after matching)
        by_trace = {
            trace.trace_id: [c for _, c in crops[trace.trace_id].best]
            for trace in traces
            if trace.trace_id in crops and crops[trace.trace_id].best
        }
        vectors: dict[int, list[np.ndarray]] = {}
        used: dict[int, list[FaceCrop]] = {}

        def embed_round(wanted: dict[int, list[FaceCrop]]) -> None:
            flat = [(tid, c) for tid, cs in wanted.items() for c in cs]
            for (tid, crop), vector in zip(flat, self.pool.embed([c for _, c in flat]), strict=True):
                vectors.setdefault(tid, []).append(vector)
                used.setdefault(tid, []).append(crop)
            stats.faces_embedded += len(flat)

        embed_round({tid: cs[: cfg.first_pass_faces] for tid, cs in by_trace.items()})
        gallery = _Gallery(known)
        first = {tid: gallery.nearest(np.mean(vs, axis=0)) for tid, vs in vectors.items()}
        more = {
            tid: by_trace[tid][cfg.first_pass_faces :]
            for tid, (_, distance) in first.items()
            if cfg.threshold - cfg.ambiguous_below <= distance <= cfg.threshold + cfg.ambiguous_above
            and len(by_trace[tid]) > cfg.first_pass_faces
        }
        if more:
            embed_round(more)

        proposals = []
        for trace in traces:
            if trace.trace_id not in vectors:
                continue
            mean = np.mean(vectors[trace.trace_id], axis=0)
            trace.embedding = [round(float(v), 6) for v in mean]
            trace.embedded_face_ids = [f"{c.frame_number}_{c.idx}" for c in used[trace.trace_id]]
            identity, distance = gallery.nearest(mean)
            if identity is not None and distance <= cfg.threshold:
                proposals.append((distance, trace, identity))
        # one person is on screen once per frame: the closer of two overlapping traces keeps the name
        proposals.sort(key=lambda p: p[0])
        taken: dict[str, list[set[int]]] = {}
        for distance, trace, identity in proposals:
            frames = {d.frame_number for d in trace.detections}
            if any(len(frames & other) > 0 for other in taken.get(identity, [])):
                continue
            taken.setdefault(identity, []).append(frames)
            trace.identity_uuid = identity
            trace.distance = round(distance, 4)
        stats.seconds["embed"] = time.perf_counter() - t0
        return len(vectors)

    def _auto_clusters(self, traces: list[Trace], reader: MediaReader, kind: MediaKind) -> list[AutoCluster]:
        cfg = self.config
        embedded = [t for t in traces if t.embedding is not None]
        unmatched = [
            t for t in embedded if t.identity_uuid is None and self._distinct(t, embedded, cfg.auto_threshold)
        ]
        # biggest, longest traces first: they make the steadiest cluster centres
        unmatched.sort(key=lambda t: t.max_face_px * len(t.detections), reverse=True)
        # complete linkage (every member within auto_threshold) so clusters cannot chain through
        # look-alikes, and two traces on screen at once are never one person
        members: list[list[Trace]] = []
        vectors: list[list[np.ndarray]] = []
        for trace in unmatched:
            vector = np.asarray(trace.embedding, dtype=np.float64)
            frames = {d.frame_number for d in trace.detections}
            best, best_distance = -1, math.inf
            for number, group in enumerate(members):
                if any(frames & {d.frame_number for d in other.detections} for other in group):
                    continue
                farthest = float(np.max(np.linalg.norm(np.stack(vectors[number]) - vector, axis=1)))
                if farthest <= cfg.auto_threshold and farthest < best_distance:
                    best, best_distance = number, farthest
            if best >= 0:
                members[best].append(trace)
                vectors[best].append(vector)
            else:
                members.append([trace])
                vectors.append([vector])
        centres = [np.mean(v, axis=0) for v in vectors]
        clusters: list[AutoCluster] = []
        for group, centre in zip(members, centres, strict=True):
            if len(group) < cfg.auto_min_traces:
                continue
            cluster_id = len(clusters)
            for trace in group:
                trace.auto_cluster = cluster_id
            clusters.append(
                AutoCluster(
                    cluster_id=cluster_id,
                    trace_ids=tuple(sorted(t.trace_id for t in group)),
                    embedding=tuple(round(float(v), 6) for v in centre),
                )
            )
        return clusters

    @staticmethod
    def _distinct(trace: Trace, embedded: list[Trace], threshold: float) -> bool:
        """Whether the embedder tells this face apart from the faces on screen with it.

        Two traces in the same frames are two people; when their embeddings are still within
        ``threshold`` (dark, blurred faces in a crowd all embed alike), neither is reliable enough
        to found an identity on.
        """
        frames = {d.frame_number for d in trace.detections}
        vector = np.asarray(trace.embedding, dtype=np.float64)
        for other in embedded:
            if other is trace or other.end_frame < trace.start_frame or other.start_frame > trace.end_frame:
                continue
            if not frames & {d.frame_number for d in other.detections}:
                continue
            if float(np.linalg.norm(np.asarray(other.embedding, dtype=np.float64) - vector)) < threshold:
                return False
        return True


class _Gallery:
    """The known identities' embeddings as one matrix, for nearest-identity lookups."""

    def __init__(self, known: Sequence[KnownIdentity]) -> None:
        rows, owners = [], []
        for identity in known:
            for vector in identity.embeddings:
                rows.append(vector)
                owners.append(identity.identity_uuid)
        self._matrix = np.asarray(rows, dtype=np.float64) if rows else np.zeros((0, 128))
        self._owners = owners

    def nearest(self, vector: np.ndarray) -> tuple[str | None, float]:
        if not self._owners:
            return None, math.inf
        distances = np.linalg.norm(self._matrix - np.asarray(vector, dtype=np.float64), axis=1)
        best = int(np.argmin(distances))
        return self._owners[best], float(distances[best])


def _is_cut(previous: np.ndarray, current: np.ndarray, threshold: float) -> bool:
    return float(np.abs(current.astype(np.int16) - previous.astype(np.int16)).mean()) > threshold
