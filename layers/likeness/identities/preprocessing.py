"""The preprocessing job: aligned face, embedding and derived views of an identity.

Idempotent under SQS redelivery: outputs go to deterministic keys, every state change is a
conditional write, and events are published only by the delivery that made the change.
Attempts are counted on the identity (``preprocessing_attempts``, one per run that started),
not from the message's receive count, which also counts receives that ran nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item
from likeness.aws.eventbridge import EventPublisher
from likeness.aws.s3 import BlobStore
from likeness.clock import now_iso
from likeness.errors import LikenessError
from likeness.identities.models import PreprocessingStatus
from likeness.identities.service import identity_key, identity_prefix
from likeness.jobs.models import JobRepository, JobState
from likeness.observability import logger

if TYPE_CHECKING:
    from likeness.faces.pipeline import FacePipeline


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"  # already finished, or the identity is gone


@dataclass(frozen=True)
class PreprocessRequest:
    job_id: str
    identity_code: str


class IdentityPreprocessor:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        events: EventPublisher,
        pipeline: Callable[[], FacePipeline],
        max_attempts: int,
    ) -> None:
        self._table = table
        self._blobs = blobs
        self._events = events
        self._pipeline = pipeline
        self._jobs = JobRepository(table=table)
        self._max_attempts = max_attempts

    def run(self, request: PreprocessRequest) -> Outcome:
        code = request.identity_code
        item = self._table.get(*identity_key(code))
        if item is None:
            self._jobs.finish(request.job_id, state=JobState.CANCELLED, error="the identity was deleted")
            return Outcome.SKIPPED
        if item["preprocessing_status"] in (PreprocessingStatus.COMPLETED, PreprocessingStatus.FAILED):
            return Outcome.SKIPPED

        started = self._start(item)
        if started is None:
            return Outcome.SKIPPED
        self._jobs.mark_running(request.job_id)
        attempt = int(started.get("preprocessing_attempts", 1))
        t0 = time.perf_counter()
        try:
            outputs = self._process(started)
        except LikenessError as exc:
            if exc.transient and attempt < self._max_attempts:
                raise  # a write collision or throttling: the message comes back for another try
            # the photo itself is the problem: retrying cannot help
            self._fail(started, request, f"{exc.message}", elapsed=time.perf_counter() - t0)
            return Outcome.FAILED
        except Exception as exc:
            if attempt >= self._max_attempts:
                reason = f"preprocessing failed after {attempt} attempts: {type(exc).__name__}: {exc}"
                self._fail(started, request, reason, elapsed=time.perf_counter() - t0)
                return Outcome.FAILED
            raise
        elapsed = round(time.perf_counter() - t0, 3)
        return self._complete(started, request, outputs, elapsed)

    # -- steps
    def _start(self, item: Item) -> Item | None:
        try:
            updated = self._table.update(
                *identity_key(item["identity_code"]),
                update="SET preprocessing_status = :processing, updated_at = :now, "
                "preprocessing_started_at = if_not_exists(preprocessing_started_at, :now) "
                "ADD preprocessing_attempts :one",
                condition="attribute_exists(PK) AND preprocessing_status IN (:pending, :processing)",
                values={
                    ":processing": PreprocessingStatus.PROCESSING.value,
                    ":pending": PreprocessingStatus.PENDING.value,
                    ":now": now_iso(),
                    ":one": 1,
                },
            )
        except ConditionFailed:
            return None
        if item["preprocessing_status"] == PreprocessingStatus.PENDING.value:
            self._publish("identity.preprocessing.started", updated)
        return updated

    def _process(self, item: Item) -> dict[str, Any]:
        from likeness.faces.views import derived_views, encode_jpeg, encode_png

        pipeline = self._pipeline()
        data = self._blobs.get(item["source_key"])
        analysis = pipeline.analyze(data)
        face = pipeline.require_one_face(analysis)
        embedding = pipeline.embed(analysis, face)
        image = analysis.pixels

        prefix = identity_prefix(item["identity_code"])
        results: list[dict[str, Any]] = []
        for kind, array in derived_views(image, face).items():
            # the aligned crop feeds later models: keep it lossless
            ext = "png" if kind == "aligned_face" else "jpg"
            key = f"{prefix}{kind}.{ext}"
            body = encode_png(array) if ext == "png" else encode_jpeg(array)
            content_type = "image/png" if ext == "png" else "image/jpeg"
            self._blobs.put(key, body, content_type=content_type)
            results.append(
                {
                    "kind": kind,
                    "key": key,
                    "content_type": content_type,
                    "width": int(array.shape[1]),
                    "height": int(array.shape[0]),
                }
            )

        quality = analysis.quality
        return {
            "results": results,
            "embedding": embedding.astype("float32").tobytes(),
            "embedding_model": pipeline.embedder.name,
            "detector_model": pipeline.detector.name,
            "quality_score": round(float(quality.score), 4) if quality else None,
            "quality_problems": [{"code": p.code, "message": p.message} for p in quality.problems]
            if quality
            else [],
            "face": {
                "box": [round(v, 1) for v in face.box],
                "score": round(face.score, 4),
                "landmarks": [[round(x, 1), round(y, 1)] for x, y in face.landmarks],
            },
        }

    def _complete(
        self, item: Item, request: PreprocessRequest, outputs: dict[str, Any], elapsed: float
    ) -> Outcome:
        code = item["identity_code"]
        try:
            updated = self._table.update(
                *identity_key(code),
                update="SET preprocessing_status = :completed, preprocessing_time = :elapsed, "
                "quality_score = :score, quality_problems = :problems, results = :results, "
                "embedding = :embedding, embedding_model = :embedder, detector_model = :detector, "
                "face = :face, updated_at = :now REMOVE error_message",
                condition="attribute_exists(PK) AND preprocessing_status = :processing",
                values={
                    ":completed": PreprocessingStatus.COMPLETED.value,
                    ":processing": PreprocessingStatus.PROCESSING.value,
                    ":elapsed": elapsed,
                    ":score": outputs["quality_score"],
                    ":problems": outputs["quality_problems"],
                    ":results": outputs["results"],
                    ":embedding": outputs["embedding"],
                    ":embedder": outputs["embedding_model"],
                    ":detector": outputs["detector_model"],
                    ":face": outputs["face"],
                    ":now": now_iso(),
                },
            )
        except ConditionFailed:
            if self._table.get(*identity_key(code)) is None:
                # deleted while we worked: take back what we wrote
                self._blobs.delete_prefix(identity_prefix(code))
            return Outcome.SKIPPED
        self._jobs.finish(
            request.job_id,
            state=JobState.SUCCEEDED,
            # the identity's own record holds its views; the job says where to find them
            outputs={
                "identity_code": code,
                "quality_score": outputs["quality_score"],
                "results_url": f"/identity/{code}/results",
            },
        )
        self._publish("identity.preprocessing.completed", updated)
        return Outcome.COMPLETED

    def _fail(self, item: Item, request: PreprocessRequest, reason: str, *, elapsed: float) -> None:
        try:
            updated = self._table.update(
                *identity_key(item["identity_code"]),
                update="SET preprocessing_status = :failed, error_message = :reason, "
                "preprocessing_time = :elapsed, updated_at = :now",
                condition="attribute_exists(PK) AND preprocessing_status = :processing",
                values={
                    ":failed": PreprocessingStatus.FAILED.value,
                    ":processing": PreprocessingStatus.PROCESSING.value,
                    ":reason": reason,
                    ":elapsed": round(elapsed, 3),
                    ":now": now_iso(),
                },
            )
        except ConditionFailed:
            return
        self._jobs.finish(request.job_id, state=JobState.FAILED, error=reason)
        self._publish("identity.preprocessing.failed", updated)

    def _publish(self, detail_type: str, item: Item) -> None:
        detail = {
            "account_id": item["owner_account_id"],
            "identity_code": item["identity_code"],
            "name": item["name"],
            "preprocessing_status": item["preprocessing_status"],
            "quality_score": item.get("quality_score"),
            "error_message": item.get("error_message"),
            "occurred_at": now_iso(),
        }
        try:
            self._events.publish(detail_type, detail)
        except Exception:
            logger.exception("could not publish event", detail_type=detail_type)
