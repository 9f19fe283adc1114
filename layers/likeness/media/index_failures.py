"""Media files stuck in ``processing``: index runs that died outside the indexer's own code.

The indexer fails a file itself when it raises on its last attempt. What stops it from outside
leaves the file ``processing`` for ever: a Batch attempt past its time limit, an OOM kill, an
image that cannot be pulled, a job cancelled after waiting for a GPU too long (the job queue's
RUNNABLE time limit), a Pipe that cannot submit the job, a Lambda indexer stopped on every
attempt. Two things report those, and both reach ``MediaIndexFailureFunction``:

* AWS Batch "Job State Change" events with status ``FAILED`` (an EventBridge rule on the job
  queue sends them to a queue), whose ``detail.parameters`` are the index message's fields;
* the dead-letter queues of the two index queues, whose messages are index messages.

Each fails the file the message names with a reason a person can read, through
``MediaIndexJob.fail``: only for the run it names and only while the file is pending or
processing, so a redelivered report, an old run's, or one for a file completed or re-indexed
meanwhile changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

BATCH_SOURCE = "aws.batch"
BATCH_DETAIL_TYPE = "Batch Job State Change"
# the Reason of the job queue's RUNNABLE time limit (template.yaml, MediaIndexJobQueue): the
# status reason of a job it cancels
RUNNABLE_TIMEOUT_REASON = "MEDIA_INDEX_NO_GPU_CAPACITY"
MESSAGE_FIELDS = ("account_id", "file_uuid", "run_id")

_ARN = re.compile(r"arn:[\w-]+:[^\s\"'()\[\]{},]+")
_HOST = re.compile(r"\b[\w.-]+\.amazonaws\.com(\.cn)?\S*")
_ACCOUNT = re.compile(r"\b\d{12}\b")


class IndexJob(Protocol):
    def fail(self, message: Mapping[str, Any], reason: str) -> None: ...


class NotAReport(ValueError):
    """A record that is neither a Batch job event nor an index message: nothing to fail."""


@dataclass(frozen=True)
class StuckRun:
    message: dict[str, str]  # account_id, file_uuid, run_id
    reason: str
    source: str  # batch-event | lambda-dead-letter | batch-dead-letter


def _plain(text: str, limit: int = 160) -> str:
    """Text from AWS without what names the deployment (ARNs, endpoints, account ids)."""
    text = _ACCOUNT.sub("…", _HOST.sub("…", _ARN.sub("…", text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _index_message(values: Any) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise NotAReport("no index message fields")
    message = {k: values.get(k) for k in MESSAGE_FIELDS}
    if not all(isinstance(v, str) and v for v in message.values()):
        raise NotAReport(f"expected string fields {', '.join(MESSAGE_FIELDS)}")
    return {k: str(v) for k, v in message.items()}


def batch_failure_reason(detail: Mapping[str, Any], *, runnable_timeout_seconds: int | None = None) -> str:
    """Why a Batch job FAILED, in words for the file's owner (the event's own text, cleaned)."""
    status_reason = str(detail.get("statusReason") or "")
    attempts = detail.get("attempts") or []
    last = attempts[-1] if attempts and isinstance(attempts[-1], Mapping) else {}
    container = last.get("container") or detail.get("container") or {}
    exit_code = container.get("exitCode") if isinstance(container, Mapping) else None
    container_reason = str(container.get("reason") or "") if isinstance(container, Mapping) else ""
    said = f"{status_reason} {last.get('statusReason') or ''} {container_reason}"
    tries = f" after {len(attempts)} attempts" if len(attempts) > 1 else ""
    if RUNNABLE_TIMEOUT_REASON in said:
        wait = f" within {runnable_timeout_seconds // 60} minutes" if runnable_timeout_seconds else ""
        return f"No GPU instance became available{wait} to index this file; re-index it to try again."
    if "timeout" in said.lower() or "duration exceeded" in said.lower():
        return f"Indexing did not finish within the GPU job's time limit{tries}."
    if "OutOfMemory" in said or "memory" in container_reason.lower() or exit_code == 137:
        return f"Indexing ran out of memory on the GPU instance{tries}."
    if re.search(r"Cannot(Pull|Start|Create|Inspect)Container", said):
        return "The GPU indexing job could not start its container; the operators have been alerted."
    if "Host EC2" in said or "terminated" in said.lower():
        return f"The GPU instance indexing this file went away{tries}."
    code = f", exit code {exit_code}" if isinstance(exit_code, int) else ""
    plain = _plain(status_reason or container_reason)
    return f"The GPU indexing job failed{tries}{code}" + (f": {plain}" if plain else ".")


def from_batch_event(
    event: Mapping[str, Any], *, runnable_timeout_seconds: int | None = None
) -> StuckRun | None:
    """The run a Batch "Job State Change" event gives up on; None for any other status."""
    if event.get("source") != BATCH_SOURCE or event.get("detail-type") != BATCH_DETAIL_TYPE:
        raise NotAReport("not a Batch job state change")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise NotAReport("a Batch event without detail")
    if detail.get("status") != "FAILED":
        return None
    reason = batch_failure_reason(detail, runnable_timeout_seconds=runnable_timeout_seconds)
    return StuckRun(_index_message(detail.get("parameters")), reason, "batch-event")


def from_dead_letter(body: Any, *, batch: bool, max_attempts: int) -> StuckRun:
    """The run of an index message that ended in a dead-letter queue (``batch``: the Pipe's)."""
    message = _index_message(body)
    if batch:
        reason = "The GPU indexing job could not be submitted; the operators have been alerted."
        return StuckRun(message, reason, "batch-dead-letter")
    reason = (
        f"Indexing was stopped before it finished on each of its {max_attempts} attempts "
        "(a time limit or a memory limit of the indexer)."
    )
    return StuckRun(message, reason, "lambda-dead-letter")


def parse_record(
    body: str,
    *,
    from_batch_dead_letters: bool,
    max_attempts: int,
    runnable_timeout_seconds: int | None = None,
) -> StuckRun | None:
    """A queue record of MediaIndexFailureFunction: a Batch event (as EventBridge delivers it to
    SQS) or a dead-lettered index message. None: a Batch state that is no failure."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise NotAReport(f"not JSON: {exc}") from None
    if isinstance(value, Mapping) and "detail-type" in value:
        return from_batch_event(value, runnable_timeout_seconds=runnable_timeout_seconds)
    return from_dead_letter(value, batch=from_batch_dead_letters, max_attempts=max_attempts)


def fail_stuck_run(job: IndexJob, run: StuckRun) -> None:
    """Fail the run's file with the reason (idempotent: see the module doc)."""
    job.fail(run.message, run.reason)
