"""What an indexing run finds in one media file: plain data, JSON round-trippable, no numpy.

The indexer (``likeness.media.indexing``) produces an :class:`IndexResult`; the index job stores
it (trace records in DynamoDB, the full document in S3) and the API reads it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "AutoCluster",
    "Detection",
    "IndexResult",
    "IndexStats",
    "KnownIdentity",
    "MediaInfo",
    "Trace",
    "face_id_for",
    "parse_face_id",
]

MediaKind = Literal["video", "image"]


def face_id_for(frame_number: int, idx: int) -> str:
    """A face's id within its file: ``{frame}_{idx}``, idx counting the frame's faces from 0 by score."""
    return f"{frame_number}_{idx}"


def parse_face_id(face_id: str) -> tuple[int, int]:
    """``"12_0"`` (or ``"face_12_0"``) -> (12, 0); ValueError on anything else."""
    text = face_id.strip()
    if text.startswith("face_"):
        text = text[len("face_") :]
    frame, sep, idx = text.partition("_")
    if not sep or not frame.isdigit() or not idx.isdigit():
        raise ValueError(f"face_id must look like '{{frame}}_{{idx}}', e.g. '12_0'; got {face_id!r}")
    return int(frame), int(idx)


@dataclass(frozen=True)
class KnownIdentity:
    """An identity the indexer may match: its enrolled face embeddings (profile image, bound faces)."""

    identity_uuid: str
    embeddings: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class MediaInfo:
    kind: MediaKind
    width: int
    height: int
    fps: float | None  # None for a still image
    frame_count: int
    duration: float | None  # seconds; None for a still image
    decoder: str = "opencv"


@dataclass(frozen=True)
class Detection:
    """One detected face in one frame (image pixels, x1 y1 x2 y2)."""

    frame_number: int
    idx: int
    box: tuple[float, float, float, float]
    score: float

    @property
    def face_id(self) -> str:
        return face_id_for(self.frame_number, self.idx)

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class Trace:
    """One face followed from frame to frame. ``detections`` are the frames it was actually detected
    in; it is on screen from ``start_frame`` to ``end_frame`` inclusive."""

    trace_id: int
    start_frame: int
    end_frame: int
    detections: list[Detection]
    embedding: list[float] | None = None  # mean of its best faces' embeddings; None if none was embeddable
    embedded_face_ids: list[str] = field(default_factory=list)
    max_face_px: float = 0.0
    identity_uuid: str | None = None  # set when matched to a KnownIdentity
    distance: float | None = None  # to the matched identity's nearest embedding
    auto_cluster: int | None = None  # set when unmatched and part of a recurring cluster

    @property
    def face_count(self) -> int:
        return len(self.detections)

    @property
    def confidence(self) -> float:
        return max((d.score for d in self.detections), default=0.0)


@dataclass(frozen=True)
class AutoCluster:
    """Unmatched traces of one unknown person that recur: the job makes an ``auto`` identity of each."""

    cluster_id: int
    trace_ids: tuple[int, ...]
    embedding: tuple[float, ...]  # mean of its traces' embeddings


@dataclass
class IndexStats:
    frames_decoded: int = 0
    frames_detected: int = 0  # frames the detector ran on
    faces_detected: int = 0
    faces_embedded: int = 0
    shot_cuts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # decode, detect, track, embed, match, total


@dataclass
class IndexResult:
    media: MediaInfo
    traces: list[Trace]
    auto_clusters: list[AutoCluster]
    stats: IndexStats

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexResult:
        traces = [
            Trace(
                **{
                    **t,
                    "detections": [
                        Detection(
                            frame_number=d["frame_number"],
                            idx=d["idx"],
                            box=tuple(d["box"]),
                            score=d["score"],
                        )
                        for d in t["detections"]
                    ],
                }
            )
            for t in data["traces"]
        ]
        clusters = [
            AutoCluster(
                cluster_id=c["cluster_id"], trace_ids=tuple(c["trace_ids"]), embedding=tuple(c["embedding"])
            )
            for c in data["auto_clusters"]
        ]
        return cls(
            media=MediaInfo(**data["media"]),
            traces=traces,
            auto_clusters=clusters,
            stats=IndexStats(**data["stats"]),
        )
