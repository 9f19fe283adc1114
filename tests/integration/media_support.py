"""Shared pieces of the media integration tests: an API client per account on moto, and a
stand-in indexer whose traces match the account's enrolled faces the way the real one does
(euclidean distance, the shared threshold) without decoding anything."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fastapi.testclient import TestClient

from likeness.errors import MediaUnreadable
from likeness.faces.compare import SAME_PERSON_THRESHOLD
from likeness.media.index_types import (
    AutoCluster,
    Detection,
    IndexResult,
    IndexStats,
    KnownIdentity,
    MediaInfo,
    Trace,
)
from tests.helpers import face_bytes

FPS = 30.0


@dataclass
class MediaUser:
    account_id: str
    key_id: str
    client: TestClient


def make_user(app: Any) -> MediaUser:
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name=f"media-{secrets.token_hex(3)}", plan="pro", credits=0)
    issued = accounts.issue_key(account_id=account.account_id, scopes=("identities:read", "identities:write"))
    client = TestClient(app, headers={"X-API-Key": issued.api_key})
    return MediaUser(account_id=account.account_id, key_id=issued.key_id, client=client)


@lru_cache(maxsize=8)
def photo_embedding(fixture: str) -> tuple[float, ...]:
    """The real embedding of a fixture photo's one face (what a profile image enrolls)."""
    from likeness.faces.pipeline import get_default_pipeline

    pipeline = get_default_pipeline()
    analysis = pipeline.analyze(face_bytes(fixture))
    return tuple(float(v) for v in pipeline.embed(analysis, pipeline.require_one_face(analysis)))


def nudged(vector: Sequence[float], amount: float = 0.01) -> list[float]:
    """The same person in another frame: a little away from ``vector``."""
    return [v + (amount if i % 2 else -amount) for i, v in enumerate(vector)]


class ProfileEmbedder:
    """``embed_profile`` of the real face pipeline (one clear face or FaceRejected)."""

    def embed_profile(self, data: bytes) -> list[float]:
        from likeness.faces.pipeline import get_default_pipeline

        pipeline = get_default_pipeline()
        analysis = pipeline.analyze(data)
        return [float(v) for v in pipeline.embed(analysis, pipeline.require_one_face(analysis))]


@dataclass
class PlannedTrace:
    """A trace the fake indexer 'finds': who it is (an embedding) and where (frames, idx)."""

    start: int
    end: int
    embedding: list[float] | None
    idx: int = 0
    recurring: bool = False  # unmatched and recurring: an auto cluster


@dataclass
class FakeIndexer:
    """Index results from a plan; matching against ``known`` as the real indexer does."""

    plan: list[PlannedTrace]
    frames: int = 120
    kind_seen: list[str] = field(default_factory=list)
    known_seen: list[list[KnownIdentity]] = field(default_factory=list)
    unreadable: str | None = None
    crash: Exception | None = None

    def index_file(self, path: str, *, kind: Any, known: Sequence[KnownIdentity]) -> IndexResult:
        self.kind_seen.append(str(kind))
        self.known_seen.append(list(known))
        if self.crash is not None:
            raise self.crash
        if self.unreadable is not None:
            raise MediaUnreadable(self.unreadable)
        traces: list[Trace] = []
        clusters: dict[int, list[int]] = {}
        for trace_id, planned in enumerate(self.plan):
            detections = [
                Detection(frame_number=f, idx=planned.idx, box=(100.0, 50.0, 160.0, 130.0), score=0.9)
                for f in range(planned.start, planned.end + 1)
            ]
            trace = Trace(
                trace_id=trace_id,
                start_frame=planned.start,
                end_frame=planned.end,
                detections=detections,
                embedding=planned.embedding,
                embedded_face_ids=[detections[0].face_id],
                max_face_px=80.0,
            )
            best = _nearest(planned.embedding, known)
            if best is not None:
                trace.identity_uuid, trace.distance = best
            elif planned.recurring and planned.embedding is not None:
                trace.auto_cluster = 0
                clusters.setdefault(0, []).append(trace_id)
            traces.append(trace)
        auto = [
            AutoCluster(
                cluster_id=c, trace_ids=tuple(ids), embedding=tuple(self.plan[ids[0]].embedding or ())
            )
            for c, ids in clusters.items()
        ]
        media = MediaInfo(
            kind=kind,
            width=640,
            height=360,
            fps=FPS if kind == "video" else None,
            frame_count=self.frames if kind == "video" else 1,
            duration=self.frames / FPS if kind == "video" else None,
        )
        stats = IndexStats(frames_decoded=self.frames, faces_detected=sum(len(t.detections) for t in traces))
        return IndexResult(media=media, traces=traces, auto_clusters=auto, stats=stats)


def _nearest(embedding: list[float] | None, known: Sequence[KnownIdentity]) -> tuple[str, float] | None:
    if embedding is None:
        return None
    best: tuple[str, float] | None = None
    for identity in known:
        for vector in identity.embeddings:
            distance = math.dist(embedding, vector)
            if distance <= SAME_PERSON_THRESHOLD and (best is None or distance < best[1]):
                best = (identity.identity_uuid, distance)
    return best


class RecordingEvents:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.published.append((detail_type, json.loads(json.dumps(detail, default=str))))


def queued_messages(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue now (received and deleted)."""
    from likeness.aws.clients import get_client

    sqs = get_client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = resp.get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


SRT = """1
00:00:00,000 --> 00:00:00,900
Hello there.

2
00:00:02,000 --> 00:00:02,900
Who is that?

3
00:00:03,100 --> 00:00:03,900
Nobody at all.
"""
