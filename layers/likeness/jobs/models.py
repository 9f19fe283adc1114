"""The job record shape shared by every surface, and its state machine."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.clock import now_iso


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


def job_key(job_id: str) -> tuple[str, str]:
    return f"JOB#{job_id}", "JOB"


def new_job_id() -> str:
    return "job_" + secrets.token_hex(10)


def new_job_item(
    *,
    job_id: str,
    job_type: str,
    account_id: str,
    inputs: dict[str, Any],
    cost: int = 0,
    parent_job_id: str | None = None,
    idempotency_key: str | None = None,
    client_reference: str | None = None,
    metadata: dict[str, str] | None = None,
    correlation_id: str | None = None,
) -> Item:
    pk, sk = job_key(job_id)
    created = now_iso()
    return {
        "PK": pk,
        "SK": sk,
        "GSI1PK": f"ACCOUNT#{account_id}",
        "GSI1SK": f"JOB#{created}#{job_id}",
        "type": "job",
        "job_id": job_id,
        "job_type": job_type,
        "account_id": account_id,
        "state": JobState.QUEUED.value,
        "inputs": inputs,
        "outputs": {},
        "cost": cost,
        "error": None,
        "attempts": 0,
        "parent_job_id": parent_job_id,
        "idempotency_key": idempotency_key,
        "client_reference": client_reference,
        "metadata": metadata or {},
        "correlation_id": correlation_id,
        "created_at": created,
        "started_at": None,
        "finished_at": None,
    }


def put_job(job: Item) -> TransactItem:
    """The job's write inside a caller's transaction (so record, charge and job land together)."""
    return TransactItem(kind="Put", item=job, condition="attribute_not_exists(PK)")


class JobRepository:
    def __init__(self, *, table: DynamoTable) -> None:
        self._table = table

    def get(self, job_id: str) -> Item | None:
        return self._table.get(*job_key(job_id))

    def mark_running(self, job_id: str) -> Item | None:
        """queued/running -> running (a redelivery may restart a crashed run); None when terminal."""
        try:
            return self._table.update(
                *job_key(job_id),
                update="SET #state = :running, started_at = if_not_exists(started_at, :now) "
                "ADD attempts :one",
                condition="attribute_exists(PK) AND #state IN (:queued, :running)",
                names={"#state": "state"},
                values={
                    ":running": JobState.RUNNING.value,
                    ":queued": JobState.QUEUED.value,
                    ":now": now_iso(),
                    ":one": 1,
                },
            )
        except ConditionFailed:
            return None

    def finish(
        self, job_id: str, *, state: JobState, outputs: dict[str, Any] | None = None, error: str | None = None
    ) -> bool:
        """running -> terminal, once. False when another delivery already finished it."""
        assert state in TERMINAL_STATES
        try:
            self._table.update(
                *job_key(job_id),
                update="SET #state = :state, outputs = :outputs, #error = :error, finished_at = :now",
                condition="attribute_exists(PK) AND #state IN (:queued, :running)",
                names={"#state": "state", "#error": "error"},
                values={
                    ":state": state.value,
                    ":outputs": outputs or {},
                    ":error": error,
                    ":now": now_iso(),
                    ":queued": JobState.QUEUED.value,
                    ":running": JobState.RUNNING.value,
                },
            )
        except ConditionFailed:
            return False
        return True
