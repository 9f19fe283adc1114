"""Running one job from its queue message: the consumer side of the job system.

Idempotent under SQS redelivery: a finished job is skipped, result ids derive from the job id,
and the move to ``succeeded`` is conditional on the job still running, so a job cancelled (or
swept, or completed by another delivery) meanwhile keeps its state and this run's files go.

Failures: an ``EngineError`` or another ``LikenessError`` means the request cannot be done and
fails the job at once (refunded). A transient ``EngineError`` (a provider that kept answering
429 / 5xx) and anything else are retried by SQS; the last allowed attempt fails the job
(refunded) and re-raises, so the message still ends in the dead-letter queue for an operator.
Attempts are counted on the job record (``attempts``, one per run that started the work), never
from the message's receive count: a receive that did not run the job (a throttled or duplicate
delivery) is not an attempt.

Waiting: an executor whose provider queued the work raises ``EngineWaiting``; the job keeps
running, its provider handles are stored on it (conditionally, so of two racing deliveries
only one parks it, and the other cancels what it started), and a delayed check message
brings it back. A job that ends any other way while provider work is outstanding (cancelled,
swept past its deadline, failed) has that work cancelled at the provider.

Files are stored under keys of their own per run: a run that loses the race to complete a job
deletes only its own files, never the winner's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from likeness.aws.dynamodb import Item
from likeness.aws.s3 import BlobStore
from likeness.clock import isoformat, utcnow
from likeness.engines.base import Engine, EngineError
from likeness.errors import LikenessError
from likeness.jobs.engine_session import EngineWaiting, pending_handles
from likeness.jobs.models import (
    RESULT_EXPIRY_PARTITION,
    TERMINAL_STATES,
    JobRepository,
    JobState,
    job_prefix,
    result_id_for,
    result_key,
)
from likeness.jobs.service import JobService
from likeness.observability import logger

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "video/mp4": "mp4",
}


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # already finished, cancelled, or gone
    WAITING = "waiting"  # parked while a provider works; a check message brings it back


@dataclass(frozen=True)
class ProducedResult:
    """One output of an executor, before it is stored."""

    data: bytes
    content_type: str
    width: int
    height: int
    kind: str = "image"
    duration_seconds: float | None = None
    consistency: Mapping[str, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class JobExecutor(Protocol):
    """Turns one job type's inputs into results. Raises EngineError when it cannot.

    An executor may also define ``surface_records(job, records) -> list[Item]``: rows its
    surface keeps per result (written in the completion transaction, so they exist exactly
    when the job succeeded)."""

    def execute(self, job: Item) -> Sequence[ProducedResult]: ...


class JobRunner:
    def __init__(
        self,
        *,
        jobs: JobService,
        repository: JobRepository,
        blobs: BlobStore,
        executors: Mapping[str, Callable[[], JobExecutor]],
        max_attempts: int,
        result_retention_seconds: int = 4 * 3600,
        engine_for: Callable[[str], Engine] | None = None,
    ) -> None:
        self._jobs = jobs
        self._repository = repository
        self._blobs = blobs
        self._executors = executors
        self._max_attempts = max_attempts
        self._retention = result_retention_seconds
        self._engine_for = engine_for

    def run(self, *, job_id: str, check: bool = False) -> Outcome:
        """One delivery of the job's message (``check``: a check-back on parked provider work)."""
        job = self._repository.get(job_id)
        if job is None:
            logger.warning("job message for a job that does not exist", job_id=job_id)
            return Outcome.SKIPPED
        if JobState(job["state"]) in TERMINAL_STATES:
            self._cancel_provider_work(job)
            return Outcome.SKIPPED
        deadline = job.get("deadline_at")
        if deadline and datetime.fromisoformat(deadline.replace("Z", "+00:00")) <= utcnow():
            started = "finished" if job.get("engine_state") else "started"
            failed = self._jobs.fail(
                job,
                code="deadline_exceeded",
                message=f"the job was not {started} before its deadline ({deadline})",
            )
            self._cancel_provider_work(job)
            return Outcome.FAILED if failed else Outcome.SKIPPED

        factory = self._executors.get(job["job_type"])
        if factory is None:
            self._jobs.fail(
                job,
                code="unsupported_job_type",
                message=f"this deployment has no worker for jobs of type {job['job_type']!r}",
            )
            return Outcome.FAILED

        running = self._repository.mark_running(job_id, count_attempt=not check)
        if running is None:
            return Outcome.SKIPPED
        attempt = int(running.get("attempts", 1))
        if attempt == 1 and not check and not running.get("engine_state"):
            self._jobs.publish(running, "running")

        executor = factory()
        try:
            produced = executor.execute(running)
        except EngineWaiting as waiting:
            return self._park(running, waiting)
        except EngineError as exc:
            if getattr(exc, "transient", False) and attempt < self._max_attempts:
                raise
            self._fail(running, code=exc.code, message=exc.reason)
            return Outcome.FAILED
        except LikenessError as exc:
            if exc.transient and attempt < self._max_attempts:
                raise  # a write collision or throttling: the message comes back for another try
            self._fail(running, code=exc.error_code, message=exc.message)
            return Outcome.FAILED
        except Exception as exc:
            if attempt >= self._max_attempts:
                # the exception's own text stays in the logs: it may name internals
                self._fail(
                    running,
                    code="internal_error",
                    message=f"the job failed {attempt} times on an internal error ({type(exc).__name__}); "
                    "it was refunded",
                )
            raise

        records, outputs = self._store(running, produced)
        surface_records = getattr(executor, "surface_records", None)
        extra = list(surface_records(running, records)) if surface_records is not None else []
        if not self._jobs.complete(running, outputs=outputs, records=[*records, *extra]):
            # cancelled, swept or completed by another delivery while it ran: this run's files
            # (under its own keys) must not outlive it
            logger.info("job finished elsewhere while it ran; discarding this run's results", job_id=job_id)
            for record in records:
                self._blobs.delete(record["key"])
            return Outcome.SKIPPED
        return Outcome.SUCCEEDED

    def _fail(self, job: Item, *, code: str, message: str) -> None:
        self._jobs.fail(job, code=code, message=message)
        self._cancel_provider_work(self._repository.get(job["job_id"]) or job)

    def _park(self, job: Item, waiting: EngineWaiting) -> Outcome:
        """Store the provider handles on the job and schedule the check that collects them."""
        job_id = job["job_id"]
        version = int((job.get("engine_state") or {}).get("version", 0))
        state = {**waiting.state, "version": version + 1}
        if not self._repository.park(job_id, state=state, expected_version=version):
            # another delivery parked or finished the job first: what this run started is nobody's
            logger.info(
                "another delivery moved the job on; cancelling this run's provider work", job_id=job_id
            )
            self._cancel_handles(job, waiting.started)
            return Outcome.SKIPPED
        self._jobs.schedule_check(
            job_id, delay_seconds=waiting.delay, correlation_id=job.get("correlation_id")
        )
        return Outcome.WAITING

    def _cancel_provider_work(self, job: Item) -> None:
        handles = pending_handles(job.get("engine_state"))
        if not handles:
            return
        self._cancel_handles(job, handles)
        self._repository.mark_provider_work_cancelled(job["job_id"])

    def _cancel_handles(self, job: Item, handles: Sequence[Mapping[str, Any]]) -> None:
        if not handles or self._engine_for is None or not job.get("engine"):
            return
        try:
            engine = self._engine_for(job["engine"])
        except LikenessError:
            logger.warning("cannot cancel provider work: its engine is gone", job_id=job["job_id"])
            return
        cancel = getattr(engine, "cancel", None)
        if cancel is None:
            return
        for handle in handles:
            cancel(handle)
            logger.info("cancelled provider work", job_id=job["job_id"], request_id=handle.get("request_id"))

    def _store(self, job: Item, produced: Sequence[ProducedResult]) -> tuple[list[Item], dict[str, Any]]:
        job_id = job["job_id"]
        run = uuid.uuid4().hex[:12]
        made = utcnow()
        created = isoformat(made)
        # files are served for the retention window; the sweeper finds them by this sparse key
        expires = isoformat(made + timedelta(seconds=self._retention))
        records: list[Item] = []
        for index, result in enumerate(produced):
            extension = EXTENSIONS.get(result.content_type)
            if extension is None:
                raise ValueError(f"unknown result content type {result.content_type}")
            key = f"{job_prefix(job_id)}results/{run}/{index}.{extension}"
            self._blobs.put(key, result.data, content_type=result.content_type)
            result_id = result_id_for(job_id, index)
            pk, sk = result_key(result_id)
            records.append(
                {
                    "PK": pk,
                    "SK": sk,
                    "type": "job_result",
                    "result_id": result_id,
                    "job_id": job_id,
                    "job_type": job["job_type"],
                    "account_id": job["account_id"],
                    "index": index,
                    "kind": result.kind,
                    "key": key,
                    "content_type": result.content_type,
                    "width": result.width,
                    "height": result.height,
                    "duration_seconds": result.duration_seconds,
                    "consistency": dict(result.consistency) if result.consistency else None,
                    "details": dict(result.details),
                    "created_at": created,
                    "GSI2PK": RESULT_EXPIRY_PARTITION,
                    "GSI2SK": f"{expires}#{result_id}",
                }
            )
        summary_fields = (
            "result_id", "index", "kind", "key", "content_type", "width", "height",
            "duration_seconds", "consistency", "details", "created_at",
        )  # fmt: skip
        outputs = {"results": [{k: r[k] for k in summary_fields} for r in records]}
        return records, outputs
