"""Running one job from its queue message: the consumer side of the job system.

Idempotent under SQS redelivery: a finished job is skipped, results go to keys derived from
the job id (a rerun overwrites them), and the move to ``succeeded`` is conditional on the job
still running, so a job cancelled (or swept) meanwhile keeps its state and loses its files.

Failures: an ``EngineError`` or another ``LikenessError`` means the request cannot be done and
fails the job at once (refunded). Anything else is treated as transient and retried by SQS;
the last allowed attempt fails the job (refunded) and re-raises, so the message still ends in
the dead-letter queue for an operator to see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from likeness.aws.dynamodb import Item
from likeness.aws.s3 import BlobStore
from likeness.clock import isoformat, utcnow
from likeness.engines.base import EngineError
from likeness.errors import LikenessError
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
    ) -> None:
        self._jobs = jobs
        self._repository = repository
        self._blobs = blobs
        self._executors = executors
        self._max_attempts = max_attempts
        self._retention = result_retention_seconds

    def run(self, *, job_id: str, attempt: int = 1) -> Outcome:
        job = self._repository.get(job_id)
        if job is None:
            logger.warning("job message for a job that does not exist", job_id=job_id)
            return Outcome.SKIPPED
        if JobState(job["state"]) in TERMINAL_STATES:
            return Outcome.SKIPPED
        deadline = job.get("deadline_at")
        if deadline and datetime.fromisoformat(deadline.replace("Z", "+00:00")) <= utcnow():
            failed = self._jobs.fail(
                job,
                code="deadline_exceeded",
                message=f"the job was not started before its deadline ({deadline})",
            )
            return Outcome.FAILED if failed else Outcome.SKIPPED

        factory = self._executors.get(job["job_type"])
        if factory is None:
            self._jobs.fail(
                job,
                code="unsupported_job_type",
                message=f"this deployment has no worker for jobs of type {job['job_type']!r}",
            )
            return Outcome.FAILED

        running = self._repository.mark_running(job_id)
        if running is None:
            return Outcome.SKIPPED
        if int(running.get("attempts", 1)) == 1:
            self._jobs.publish(running, "running")

        executor = factory()
        try:
            produced = executor.execute(running)
        except EngineError as exc:
            self._jobs.fail(running, code=exc.code, message=exc.reason)
            return Outcome.FAILED
        except LikenessError as exc:
            self._jobs.fail(running, code=exc.error_code, message=exc.message)
            return Outcome.FAILED
        except Exception as exc:
            if attempt >= self._max_attempts:
                self._jobs.fail(
                    running,
                    code="internal_error",
                    message=f"the job failed {attempt} times; the last error: {type(exc).__name__}: {exc}",
                )
            raise

        records, outputs = self._store(running, produced)
        surface_records = getattr(executor, "surface_records", None)
        extra = list(surface_records(running, records)) if surface_records is not None else []
        if not self._jobs.complete(running, outputs=outputs, records=[*records, *extra]):
            # cancelled or past its deadline while it ran: its files must not outlive it
            logger.info("job finished elsewhere while it ran; discarding its results", job_id=job_id)
            for record in records:
                self._blobs.delete(record["key"])
            return Outcome.SKIPPED
        return Outcome.SUCCEEDED

    def _store(self, job: Item, produced: Sequence[ProducedResult]) -> tuple[list[Item], dict[str, Any]]:
        job_id = job["job_id"]
        made = utcnow()
        created = isoformat(made)
        # files are served for the retention window; the sweeper finds them by this sparse key
        expires = isoformat(made + timedelta(seconds=self._retention))
        records: list[Item] = []
        for index, result in enumerate(produced):
            extension = EXTENSIONS.get(result.content_type)
            if extension is None:
                raise ValueError(f"unknown result content type {result.content_type}")
            key = f"{job_prefix(job_id)}results/{index}.{extension}"
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
