"""Submitting, reading, cancelling, failing and sweeping jobs, for every surface.

Money and work move together: the job record, the credit charge and the idempotency
response are one DynamoDB transaction, so no crash can charge without a job or record a job
nobody paid for. The queue message goes after the commit; if it cannot be sent the job is
failed and refunded at once, and a job whose message was lost some other way is failed and
refunded by the sweeper when its deadline passes. Every terminal move is a conditional write
that happens once, with its refund in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.accounts.service import AccountService, charge_write, refund_write
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Filter, Item, TransactItem
from likeness.aws.eventbridge import EventPublisher
from likeness.aws.s3 import BlobStore
from likeness.aws.sqs import JobQueue
from likeness.clock import now_iso
from likeness.counters import read_count
from likeness.errors import Conflict, Forbidden, InsufficientCredits, LikenessError, NotFound
from likeness.jobs.idempotency import IdempotencyClaim, IdempotencyStore, StoredResponse
from likeness.jobs.models import (
    ACTIVE_JOBS_PARTITION,
    RESULT_EXPIRY_PARTITION,
    TERMINAL_STATES,
    JobState,
    finish_unfinished,
    finish_write,
    job_key,
    job_prefix,
    new_job_id,
    new_job_item,
    put_job,
)
from likeness.jobs.public import JobPresenter, status_word
from likeness.observability import logger
from likeness.settings import Settings


class QueueUnavailable(LikenessError):
    status_code = 503
    code = "job_queue_unavailable"


@dataclass(frozen=True)
class InputBlob:
    """A file the job reads, stored under jobs/<job_id>/inputs/<name> before the job exists."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class JobSubmission:
    job_type: str
    inputs: dict[str, Any]
    cost: int
    engine: str | None = None
    input_blobs: Sequence[InputBlob] = ()
    client_reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    webhook: Mapping[str, Any] | None = None
    parent_job_id: str | None = None
    index_prefix: str = "JOB"  # GSI1 list the job appears in (the Jobs API lists "JOB")
    list_filters: Sequence[str] = ()  # filter values its list keeps counters for


@dataclass(frozen=True)
class Submitted:
    status_code: int
    body: dict[str, Any]
    replayed: bool
    job_id: str


@dataclass(frozen=True)
class JobPage:
    jobs: list[Item]
    total: int


class JobService:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        queue: JobQueue,
        events: EventPublisher,
        accounts: AccountService,
        idempotency: IdempotencyStore,
        presenter: JobPresenter,
        settings: Settings,
    ) -> None:
        self._table = table
        self._blobs = blobs
        self._queue = queue
        self._events = events
        self._accounts = accounts
        self._idempotency = idempotency
        self.presenter = presenter
        self._settings = settings

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        *,
        caller: Caller,
        submission: JobSubmission,
        respond: Callable[[Item], dict[str, Any]],
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        status_code: int = 202,
        correlation_id: str | None = None,
        extra_writes: Callable[[Item], Sequence[TransactItem]] | None = None,
    ) -> Submitted:
        """Record, charge and queue a job; ``respond`` shapes the answer (stored for replays).

        ``extra_writes`` adds a surface's own rows (made from the job) to the same transaction."""
        self.require(caller, Scope.IDENTITIES_WRITE)
        claim: IdempotencyClaim | None = None
        if idempotency_key is not None:
            assert fingerprint is not None
            begun = self._idempotency.begin(
                account_id=caller.account_id, key=idempotency_key, fingerprint=fingerprint
            )
            if isinstance(begun, StoredResponse):
                return Submitted(begun.status_code, begun.body, True, str(begun.body.get("job_id", "")))
            claim = begun
        try:
            return self._submit(
                caller=caller,
                submission=submission,
                respond=respond,
                claim=claim,
                idempotency_key=idempotency_key,
                status_code=status_code,
                correlation_id=correlation_id,
                extra_writes=extra_writes,
            )
        except BaseException:
            if claim is not None:
                self._idempotency.release(claim)
            raise

    def replayed(self, *, caller: Caller, idempotency_key: str, fingerprint: str) -> Submitted | None:
        """What ``submit`` would replay for this key and body, when that request completed."""
        stored = self._idempotency.stored(
            account_id=caller.account_id, key=idempotency_key, fingerprint=fingerprint
        )
        if stored is None:
            return None
        return Submitted(stored.status_code, stored.body, True, str(stored.body.get("job_id", "")))

    def _submit(
        self,
        *,
        caller: Caller,
        submission: JobSubmission,
        respond: Callable[[Item], dict[str, Any]],
        claim: IdempotencyClaim | None,
        idempotency_key: str | None,
        status_code: int,
        correlation_id: str | None,
        extra_writes: Callable[[Item], Sequence[TransactItem]] | None,
    ) -> Submitted:
        account_id = caller.account_id
        if submission.cost > 0:
            # cheap check first; the transaction's condition is what really guards the balance
            balance = self._accounts.get_account(account_id).credits
            if balance < submission.cost:
                raise self._short_of_credits(submission.cost, balance)

        job_id = new_job_id()
        inputs = dict(submission.inputs)
        stored: list[str] = []
        if submission.input_blobs:
            inputs["input_keys"] = {}
            for blob in submission.input_blobs:
                key = f"{job_prefix(job_id)}inputs/{blob.name}"
                self._blobs.put(key, blob.data, content_type=blob.content_type)
                stored.append(key)
                inputs["input_keys"][blob.name] = key
        job = new_job_item(
            job_id=job_id,
            job_type=submission.job_type,
            account_id=account_id,
            inputs=inputs,
            cost=submission.cost,
            engine=submission.engine,
            deadline_seconds=self._settings.job_deadline_seconds,
            parent_job_id=submission.parent_job_id,
            idempotency_key=idempotency_key,
            client_reference=submission.client_reference,
            metadata=dict(submission.metadata),
            webhook=dict(submission.webhook) if submission.webhook else None,
            correlation_id=correlation_id,
            index_prefix=submission.index_prefix,
            list_filters=submission.list_filters,
        )
        body = respond(job)
        writes: list[TransactItem] = put_job(job)
        charge_at = len(writes)
        if submission.cost > 0:
            writes.append(charge_write(account_id, submission.cost))
        if claim is not None:
            writes.append(self._idempotency.complete_write(claim, StoredResponse(status_code, body)))
        if extra_writes is not None:
            writes.extend(extra_writes(job))
        try:
            self._table.transact(writes)
        except ConditionFailed as exc:
            self._delete_keys(stored)
            if submission.cost > 0 and exc.reasons[charge_at : charge_at + 1] == ["ConditionalCheckFailed"]:
                balance = self._accounts.get_account(account_id).credits
                raise self._short_of_credits(submission.cost, balance) from exc
            raise
        except Exception:
            self._delete_keys(stored)
            raise

        try:
            self._queue.send(
                {"job_id": job_id, "correlation_id": correlation_id}, correlation_id=correlation_id
            )
        except Exception as exc:
            logger.exception("could not queue the job; failing and refunding it", job_id=job_id)
            extra = [self._idempotency.forget_write(claim)] if claim is not None else []
            self.fail(job, code="job_queue_unavailable", message="the job could not be queued", extra=extra)
            raise QueueUnavailable(
                "the job could not be queued; it was not charged",
                fix="Retry the request (the same Idempotency-Key is fine).",
            ) from exc

        self.publish(job, "created", occurred_at=job["created_at"])
        return Submitted(status_code, body, False, job_id)

    # ------------------------------------------------------------------ reads
    def get_job(self, *, caller: Caller, job_id: str, job_type: str | None = None) -> Item:
        self.require(caller, Scope.IDENTITIES_READ)
        job = self._table.get(*job_key(job_id))
        # someone else's job is indistinguishable from a missing one
        if job is None or job["account_id"] != caller.account_id:
            raise NotFound(f"job {job_id} not found", code="job_not_found")
        if job_type is not None and job["job_type"] != job_type:
            raise NotFound(f"job {job_id} is not a {job_type} job", code="job_not_found")
        return job

    def list_jobs(self, *, caller: Caller, limit: int, offset: int, job_type: str | None = None) -> JobPage:
        self.require(caller, Scope.IDENTITIES_READ)
        # newest first from the account's job index; a type is a filter, its total a counter
        where = None if job_type is None else Filter("job_type = :job_type", values={":job_type": job_type})
        jobs = self._table.query_page(
            f"ACCOUNT#{caller.account_id}",
            sk_prefix="JOB#",
            index="GSI1",
            forward=False,
            offset=offset,
            limit=limit,
            where=where,
        )
        counter = "jobs:JOB" if job_type is None else f"jobs:JOB/type:{job_type}"
        return JobPage(jobs=jobs, total=read_count(self._table, caller.account_id, counter))

    # ------------------------------------------------------------------ terminal moves
    def cancel(self, *, caller: Caller, job_id: str) -> Item:
        self.require(caller, Scope.IDENTITIES_WRITE)
        job = self.get_job(caller=caller, job_id=job_id)
        error = {"code": "cancelled", "message": "the job was cancelled by the account"}
        if not self._finish_with_refund(job, JobState.CANCELLED, error):
            current = self.get_job(caller=caller, job_id=job_id)
            raise Conflict(
                f"job {job_id} is {status_word(current)} and can no longer be cancelled",
                code="job_not_cancellable",
                extra={"status": status_word(current)},
            )
        cancelled = self._get(job_id)
        self.publish(cancelled, "cancelled")
        if cancelled.get("engine_state"):
            # a provider is still working on it: the worker cancels that on this check
            self.schedule_check(job_id, delay_seconds=0, correlation_id=cancelled.get("correlation_id"))
        return cancelled

    def schedule_check(self, job_id: str, *, delay_seconds: int, correlation_id: str | None = None) -> None:
        """Bring a job back to the worker in ``delay_seconds`` (at most SQS's 900) to check on
        provider work; a lost check is covered by the job's deadline (the sweeper)."""
        try:
            self._queue.send(
                {"job_id": job_id, "check": True, "correlation_id": correlation_id},
                correlation_id=correlation_id,
                delay_seconds=max(0, min(900, int(delay_seconds))),
            )
        except Exception:
            logger.exception("could not schedule a job check; its deadline will end it", job_id=job_id)

    def fail(self, job: Item, *, code: str, message: str, extra: Sequence[TransactItem] = ()) -> bool:
        """Fail an unfinished job with its reason and refund it. False when it already finished."""
        if not self._finish_with_refund(job, JobState.FAILED, {"code": code, "message": message}, extra):
            return False
        logger.info("job failed", job_id=job["job_id"], code=code, reason=message)
        self.publish(self._get(job["job_id"]), "failed")
        return True

    def complete(
        self, job: Item, *, outputs: dict[str, Any], records: Sequence[Item | TransactItem] = ()
    ) -> bool:
        """running -> succeeded with its result records (rows, or writes of their own), once.
        False when it was cancelled or swept."""
        writes = [
            *finish_write(job, state=JobState.SUCCEEDED, source=JobState.RUNNING, outputs=outputs),
            *[r if isinstance(r, TransactItem) else TransactItem(kind="Put", item=r) for r in records],
        ]
        try:
            self._table.transact(writes)
        except ConditionFailed:
            return False
        self.publish(self._get(job["job_id"]), "completed")
        return True

    def _finish_with_refund(
        self, job: Item, state: JobState, error: dict[str, str], extra: Sequence[TransactItem] = ()
    ) -> bool:
        cost = int(job.get("cost") or 0)

        def writes(source: JobState) -> list[TransactItem]:
            moves = finish_write(job, state=state, source=source, error=error, refunded=cost > 0)
            if cost > 0:
                moves.append(refund_write(job["account_id"], cost))
            return [*moves, *extra]

        return finish_unfinished(self._table, job, writes)

    def sweep_expired(self, *, now: str | None = None) -> int:
        """Fail (and refund) every unfinished job past its deadline. Returns how many."""
        cutoff = now or now_iso()
        swept = 0
        for key in self._table.iter_query(ACTIVE_JOBS_PARTITION, index="GSI2", sk_below=cutoff):
            job = self._table.get(key["PK"], key["SK"])
            if job is None or JobState(job["state"]) in TERMINAL_STATES:
                continue
            seconds = self._settings.job_deadline_seconds
            if self.fail(
                job,
                code="deadline_exceeded",
                message=f"the job did not finish within its deadline ({seconds} s after it was accepted)",
            ):
                swept += 1
        return swept

    def expire_results(self, *, now: str | None = None) -> int:
        """Delete the files of results past their availability window (the bucket's lifecycle
        rule is the backstop a day later). The result rows stay, marked expired."""
        cutoff = now or now_iso()
        expired = 0
        for key in self._table.iter_query(RESULT_EXPIRY_PARTITION, index="GSI2", sk_below=cutoff):
            result = self._table.get(key["PK"], key["SK"])
            if result is None:
                continue
            self._blobs.delete(result["key"])
            self._table.update(
                key["PK"],
                key["SK"],
                update="SET expired = :true REMOVE GSI2PK, GSI2SK",
                values={":true": True},
            )
            expired += 1
        return expired

    # ------------------------------------------------------------------ events
    def publish(self, job: Item, status: str, *, occurred_at: str | None = None) -> None:
        detail_type, data = self.presenter.event(job, status)
        detail = {
            "account_id": job["account_id"],
            "job_id": job["job_id"],
            "job_type": job["job_type"],
            "status": status_word(job),
            "client_reference_id": job.get("client_reference"),
            "metadata": job.get("metadata") or {},
            "occurred_at": occurred_at or now_iso(),
            "data": data,
        }
        try:
            self._events.publish(detail_type, detail)
        except Exception:
            # the state change is committed; a lost notification must not undo it
            logger.exception("could not publish job event", job_id=job["job_id"], status=status)

    # ------------------------------------------------------------------ helpers
    def _get(self, job_id: str) -> Item:
        job = self._table.get(*job_key(job_id))
        if job is None:
            raise NotFound(f"job {job_id} not found", code="job_not_found")
        return job

    def _delete_keys(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                self._blobs.delete(key)
            except Exception:
                logger.exception("could not delete an orphaned job input", key=key)

    @staticmethod
    def _short_of_credits(cost: int, balance: int) -> InsufficientCredits:
        return InsufficientCredits(
            f"this job costs {cost} credits and the account has {balance}",
            fix="Add credits to the account, or ask for fewer or smaller outputs.",
            extra={"required": cost, "balance": balance},
        )

    @staticmethod
    def require(caller: Caller, scope: Scope) -> None:
        if not caller.can(scope):
            raise Forbidden(f"this API key lacks the '{scope.value}' scope")
