"""The job record shared by every surface, and its state machine.

Layout (PK / SK):
  JOB#<job_id> / JOB          the job (GSI1: ACCOUNT#<account> / <LIST>#<created>#<job_id>;
                              GSI2, only while unfinished: ACTIVEJOB / <deadline>#<job_id>;
                              GSI3: ACCOUNT#<account>#<LIST> / <updated>#<job_id>)
  RESULT#<result_id> / RESULT one image or video a job made (ids derive from job id + index)

States: queued -> running -> succeeded | failed | cancelled. Each surface names them in its
own words (the avatar Jobs API says ``completed``; the wardrobe spec ``Done``).

Every move between states is conditional on the state it leaves, and moves the account's
counters of its list (``jobs:<LIST>@<state>``, per type and per ``list_filters`` value) in the
same transaction, so a list answers its totals, filtered by status too, without counting rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.clock import isoformat, now_iso
from likeness.counters import count_change

ACTIVE_JOBS_PARTITION = "ACTIVEJOB"
# results whose files are still served, by the end of their availability window (GSI2)
RESULT_EXPIRY_PARTITION = "RESULTEXPIRY"
_RESULT_NAMESPACE = uuid.UUID("6f1c2f0e-5a8b-4c39-9d7e-2b1f0c4a9e11")


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


def job_key(job_id: str) -> tuple[str, str]:
    return f"JOB#{job_id}", "JOB"


def result_key(result_id: str) -> tuple[str, str]:
    return f"RESULT#{result_id}", "RESULT"


def new_job_id() -> str:
    return str(uuid.uuid4())


def result_id_for(job_id: str, index: int) -> str:
    """Stable across redeliveries: a retried job overwrites its results instead of adding more."""
    return str(uuid.uuid5(_RESULT_NAMESPACE, f"{job_id}/{index}"))


def job_prefix(job_id: str) -> str:
    """Where a job's inputs and outputs live in the media bucket."""
    return f"jobs/{job_id}/"


def epoch_of(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def new_job_item(
    *,
    job_id: str,
    job_type: str,
    account_id: str,
    inputs: dict[str, Any],
    cost: int = 0,
    engine: str | None = None,
    deadline_seconds: int | None = None,
    parent_job_id: str | None = None,
    idempotency_key: str | None = None,
    client_reference: str | None = None,
    metadata: dict[str, str] | None = None,
    webhook: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    index_prefix: str = "JOB",
    list_filters: Sequence[str] = (),
) -> Item:
    """A queued job. ``index_prefix`` sorts it into its own list under the account (GSI1 by
    creation, GSI3 by last change), so a surface can list its jobs without reading everybody
    else's; ``list_filters`` (e.g. ``model:seedream``) name the filters its totals are kept for."""
    pk, sk = job_key(job_id)
    created_at = datetime.now(UTC)
    created = isoformat(created_at)
    item: Item = {
        "PK": pk,
        "SK": sk,
        "GSI1PK": f"ACCOUNT#{account_id}",
        "GSI1SK": f"{index_prefix}#{created}#{job_id}",
        "GSI3PK": f"ACCOUNT#{account_id}#{index_prefix}",
        "GSI3SK": f"{created}#{job_id}",
        "list_filters": list(list_filters),
        "type": "job",
        "job_id": job_id,
        "job_type": job_type,
        "account_id": account_id,
        "state": JobState.QUEUED.value,
        "inputs": inputs,
        "outputs": {},
        "cost": cost,
        "refunded": False,
        "engine": engine,
        "error": None,
        "attempts": 0,
        "parent_job_id": parent_job_id,
        "idempotency_key": idempotency_key,
        "client_reference": client_reference,
        "metadata": metadata or {},
        "webhook": webhook,
        "correlation_id": correlation_id,
        "created_at": created,
        "started_at": None,
        "finished_at": None,
        "deadline_at": None,
    }
    if deadline_seconds is not None:
        deadline = isoformat(created_at + timedelta(seconds=deadline_seconds))
        item["deadline_at"] = deadline
        # sparse index: the sweeper finds unfinished jobs past their deadline without a scan
        item["GSI2PK"] = ACTIVE_JOBS_PARTITION
        item["GSI2SK"] = f"{deadline}#{job_id}"
    return item


def put_job(job: Item) -> list[TransactItem]:
    """The job's writes inside a caller's transaction (so record, charge and job land together):
    the job, and the counters its list answers ``total`` from."""
    names = job_counters(job)
    return [
        TransactItem(kind="Put", item=job, condition="attribute_not_exists(PK)"),
        count_change(job["account_id"], {**dict.fromkeys(names, 1), **{f"{n}@queued": 1 for n in names}}),
    ]


def job_list_name(job: Item) -> str:
    """The list a job is shown in (its GSI1 sort-key prefix: ``JOB``, ``WJOB`` ...)."""
    return str(job["GSI1SK"]).split("#", 1)[0]


def job_counters(job: Item) -> list[str]:
    """The counters a job adds to: its list's, its list's for its type and for each of its
    ``list_filters``. Each also has a count per state, ``<name>@<state>``."""
    listed = f"jobs:{job_list_name(job)}"
    return [
        listed,
        f"{listed}/type:{job['job_type']}",
        *(f"{listed}/{f}" for f in job.get("list_filters") or []),
    ]


def state_move(job: Item, source: JobState, target: JobState) -> TransactItem:
    """The job's counters moving from one state to another, beside the job's own write."""
    changes: dict[str, int] = {}
    for name in job_counters(job):
        changes[f"{name}@{source.value}"] = -1
        changes[f"{name}@{target.value}"] = 1
    return count_change(job["account_id"], changes)


def updated_key(job_id: str, when: str) -> str:
    return f"{when}#{job_id}"


UNFINISHED_STATES = (JobState.QUEUED, JobState.RUNNING)


def finish_write(
    job: Item,
    *,
    state: JobState,
    source: JobState,
    outputs: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
    refunded: bool = False,
) -> list[TransactItem]:
    """The job's move from ``source`` to a terminal state, once (the condition fails when it is
    no longer in ``source``), with its counters. The job's write comes first."""
    assert state in TERMINAL_STATES and source in UNFINISHED_STATES
    pk, sk = job_key(job["job_id"])
    now = now_iso()
    return [
        TransactItem(
            kind="Update",
            key={"PK": pk, "SK": sk},
            update="SET #state = :state, outputs = :outputs, #error = :error, refunded = :refunded, "
            "finished_at = :now, GSI3SK = :updated REMOVE GSI2PK, GSI2SK",
            condition="attribute_exists(PK) AND #state = :source",
            names={"#state": "state", "#error": "error"},
            values={
                ":state": state.value,
                ":outputs": outputs or {},
                ":error": error,
                ":refunded": refunded,
                ":now": now,
                ":updated": updated_key(job["job_id"], now),
                ":source": source.value,
            },
        ),
        state_move(job, source, state),
    ]


def finish_unfinished(
    table: DynamoTable, job: Item, writes: Callable[[JobState], Sequence[TransactItem]]
) -> bool:
    """Apply ``writes(source)`` (the job's own write first) from whichever unfinished state the
    job is in: from the state it was read in, and once more if it moved meanwhile (queued ->
    running). False when it is already finished, or another write's condition failed."""
    current: Item | None = job
    for _ in range(3):
        if current is None or current["state"] not in UNFINISHED_STATES:
            return False
        try:
            table.transact(writes(JobState(current["state"])))
        except ConditionFailed as exc:
            if exc.reasons[:1] != ["ConditionalCheckFailed"]:
                return False
            current = table.get(*job_key(job["job_id"]))
            continue
        return True
    return False


class JobRepository:
    def __init__(self, *, table: DynamoTable) -> None:
        self._table = table

    def get(self, job_id: str) -> Item | None:
        return self._table.get(*job_key(job_id))

    def mark_running(self, job_id: str, *, count_attempt: bool = True) -> Item | None:
        """queued/running -> running (a redelivery may restart a crashed run); None when terminal.

        A check-back on parked provider work is not a new attempt (``count_attempt=False``)."""
        job = self.get(job_id)
        attempt = " ADD attempts :one" if count_attempt else ""
        one = {":one": 1} if count_attempt else {}
        if job is not None and job["state"] == JobState.QUEUED.value:
            now = now_iso()
            pk, sk = job_key(job_id)
            try:
                self._table.transact(
                    [
                        TransactItem(
                            kind="Update",
                            key={"PK": pk, "SK": sk},
                            update="SET #state = :running, started_at = if_not_exists(started_at, :now), "
                            "GSI3SK = :updated" + attempt,
                            condition="attribute_exists(PK) AND #state = :queued",
                            names={"#state": "state"},
                            values={
                                ":now": now,
                                ":updated": updated_key(job_id, now),
                                ":running": JobState.RUNNING.value,
                                ":queued": JobState.QUEUED.value,
                            }
                            | one,
                        ),
                        state_move(job, JobState.QUEUED, JobState.RUNNING),
                    ]
                )
                return self.get(job_id)
            except ConditionFailed:
                pass  # another delivery started it first: carry on as a restart of a running job
        try:
            return self._table.update(
                *job_key(job_id),
                update="SET #state = :running" + attempt,
                condition="attribute_exists(PK) AND #state = :running",
                names={"#state": "state"},
                values={":running": JobState.RUNNING.value} | one,
            )
        except ConditionFailed:
            return None

    def park(self, job_id: str, *, state: dict[str, Any], expected_version: int) -> bool:
        """Store a running job's provider handles (``engine_state``), once per version: of two
        deliveries that parked the same job, the second finds the version moved and gets False."""
        condition = "attribute_exists(PK) AND #state = :running AND " + (
            "(attribute_not_exists(engine_state) OR engine_state.version = :expected)"
            if expected_version == 0
            else "engine_state.version = :expected"
        )
        try:
            self._table.update(
                *job_key(job_id),
                update="SET engine_state = :engine_state",
                condition=condition,
                names={"#state": "state"},
                values={
                    ":engine_state": state,
                    ":running": JobState.RUNNING.value,
                    ":expected": expected_version,
                },
            )
        except ConditionFailed:
            return False
        return True

    def mark_provider_work_cancelled(self, job_id: str) -> None:
        """Note that a finished job's outstanding provider requests were cancelled (best effort)."""
        job = self.get(job_id)
        state = dict((job or {}).get("engine_state") or {})
        if not state:
            return
        for entry in (state.get("steps") or {}).values():
            if not entry.get("done"):
                entry["cancelled"] = True
        try:
            self._table.update(
                *job_key(job_id),
                update="SET engine_state = :engine_state",
                condition="attribute_exists(PK)",
                values={":engine_state": state},
            )
        except ConditionFailed:
            return

    def finish(
        self, job_id: str, *, state: JobState, outputs: dict[str, Any] | None = None, error: str | None = None
    ) -> bool:
        """unfinished -> terminal, once. False when another delivery already finished it."""
        job = self.get(job_id)
        if job is None:
            return False
        reason = {"code": "failed", "message": error} if error else None
        return finish_unfinished(
            self._table,
            job,
            lambda source: finish_write(job, state=state, source=source, outputs=outputs, error=reason),
        )
