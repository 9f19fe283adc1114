"""The job system against moto: charging, idempotency, failure, refunds, cancel, deadlines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from likeness.accounts.models import Caller
from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineError
from likeness.errors import Conflict, InsufficientCredits, WriteConflict
from likeness.jobs.models import JobRepository, JobState, job_key
from likeness.jobs.runner import JobRunner, Outcome, ProducedResult
from likeness.jobs.service import InputBlob, JobService, JobSubmission, QueueUnavailable
from tests.helpers import EVENTS, png_bytes
from tests.integration.job_support import credits_of, paying_caller

JOB_TYPE = "test_job"


def _submit(
    jobs: JobService, caller: Caller, *, cost: int = 10, key: str | None = None, body: str = "a"
) -> Any:
    return jobs.submit(
        caller=caller,
        submission=JobSubmission(
            job_type=JOB_TYPE,
            inputs={"body": body},
            cost=cost,
            input_blobs=[InputBlob(name="in.png", data=png_bytes(64, 64), content_type="image/png")],
            metadata={"order": "42"},
        ),
        respond=lambda job: {"job_id": job["job_id"], "status": "queued"},
        idempotency_key=key,
        fingerprint=f"fp-{body}" if key else None,
    )


def _queued_messages() -> list[dict[str, Any]]:
    from likeness.aws.clients import get_client
    from likeness.settings import get_settings

    sqs = get_client("sqs")
    resp = sqs.receive_message(QueueUrl=get_settings().job_queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in resp.get("Messages", [])]


class _Executor:
    def __init__(
        self, *, crash_times: int = 0, engine_error: str | None = None, crash: Exception | None = None
    ) -> None:
        self.crash_times = crash_times
        self.engine_error = engine_error
        self.crash = crash or ConnectionError("the worker lost its connection")
        self.calls = 0

    def execute(self, job: Item) -> Sequence[ProducedResult]:
        self.calls += 1
        if self.calls <= self.crash_times:
            raise self.crash
        if self.engine_error:
            raise EngineError(self.engine_error, missing="a face")
        return [ProducedResult(data=png_bytes(64, 64), content_type="image/png", width=64, height=64)]


def _runner(jobs: JobService, executor: _Executor, max_attempts: int = 3) -> JobRunner:
    from likeness.wiring import blob_store, table

    return JobRunner(
        jobs=jobs,
        repository=JobRepository(table=table()),
        blobs=blob_store(),
        executors={JOB_TYPE: lambda: executor},
        max_attempts=max_attempts,
    )


@pytest.fixture
def jobs(aws: dict[str, str]) -> JobService:
    from likeness.wiring import job_service

    return job_service()


def test_submit_writes_job_charges_and_queues_together(jobs: JobService) -> None:
    from likeness.wiring import blob_store, table

    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=30)
    job = table().get(*job_key(submitted.job_id))
    assert job is not None and job["state"] == "queued" and job["cost"] == 30
    assert job["metadata"] == {"order": "42"} and job["deadline_at"] > job["created_at"]
    assert blob_store().exists(job["inputs"]["input_keys"]["in.png"])
    assert credits_of(caller) == 70
    assert _queued_messages() == [{"job_id": submitted.job_id, "correlation_id": None}]


def test_short_of_credits_is_402_and_writes_nothing(jobs: JobService) -> None:
    from likeness.wiring import blob_store

    caller = paying_caller(credits=5)
    stored = blob_store().list_keys("jobs/")
    with pytest.raises(InsufficientCredits) as raised:
        _submit(jobs, caller, cost=10)
    assert raised.value.extra == {"required": 10, "balance": 5}
    assert credits_of(caller) == 5
    assert jobs.list_jobs(caller=caller, limit=10, offset=0).total == 0
    assert blob_store().list_keys("jobs/") == stored
    assert _queued_messages() == []


def test_idempotency_replays_rejects_other_bodies_and_in_flight_keys(jobs: JobService) -> None:
    caller = paying_caller(credits=100)
    first = _submit(jobs, caller, key="key-1", body="a")
    again = _submit(jobs, caller, key="key-1", body="a")
    assert again.replayed and again.body == first.body and again.job_id == first.job_id
    assert credits_of(caller) == 90  # charged once
    with pytest.raises(Conflict) as mismatch:
        _submit(jobs, caller, key="key-1", body="b")
    assert mismatch.value.error_code == "idempotency_key_mismatch"

    # a first request still being processed holds its key
    from likeness.wiring import job_service

    store = job_service()._idempotency
    store.begin(account_id=caller.account_id, key="key-2", fingerprint="fp-a")
    with pytest.raises(Conflict) as in_flight:
        _submit(jobs, caller, key="key-2", body="a")
    assert in_flight.value.error_code == "idempotency_key_in_use"
    assert jobs.list_jobs(caller=caller, limit=10, offset=0).total == 1


def test_a_402_releases_the_idempotency_key(jobs: JobService) -> None:
    from likeness.wiring import account_service

    caller = paying_caller(credits=0)
    with pytest.raises(InsufficientCredits):
        _submit(jobs, caller, key="key-3")
    account_service().add_credits(account_id=caller.account_id, amount=10)
    assert not _submit(jobs, caller, key="key-3").replayed


def test_failed_enqueue_fails_and_refunds_the_job(jobs: JobService, monkeypatch: pytest.MonkeyPatch) -> None:
    caller = paying_caller(credits=50)

    def broken_send(*args: Any, **kwargs: Any) -> str:
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(jobs._queue, "send", broken_send)
    with pytest.raises(QueueUnavailable):
        _submit(jobs, caller, cost=20, key="key-4")
    page = jobs.list_jobs(caller=caller, limit=10, offset=0)
    assert [j["state"] for j in page.jobs] == ["failed"]
    assert page.jobs[0]["refunded"] is True
    assert credits_of(caller) == 50
    monkeypatch.undo()
    # the key was forgotten with the failed job: a retry makes a new one
    assert not _submit(jobs, caller, cost=20, key="key-4").replayed


def test_a_crash_is_retried_and_charged_once(jobs: JobService) -> None:
    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=10)
    executor = _Executor(crash_times=1)
    runner = _runner(jobs, executor)
    with pytest.raises(ConnectionError):
        runner.run(job_id=submitted.job_id)
    assert runner.run(job_id=submitted.job_id) is Outcome.SUCCEEDED
    # a redelivery after success changes nothing
    assert runner.run(job_id=submitted.job_id) is Outcome.SKIPPED
    job = jobs.get_job(caller=caller, job_id=submitted.job_id)
    assert job["state"] == "succeeded" and job["attempts"] == 2 and executor.calls == 2
    assert len(job["outputs"]["results"]) == 1
    assert credits_of(caller) == 90


def test_the_last_attempt_fails_and_refunds_then_reraises_for_the_dlq(jobs: JobService) -> None:
    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=10)
    runner = _runner(jobs, _Executor(crash_times=99), max_attempts=2)
    for _ in (1, 2):
        with pytest.raises(ConnectionError):
            runner.run(job_id=submitted.job_id)
    job = jobs.get_job(caller=caller, job_id=submitted.job_id)
    assert job["state"] == "failed" and job["refunded"] is True
    assert job["error"]["code"] == "internal_error" and "ConnectionError" in job["error"]["message"]
    assert credits_of(caller) == 100


def test_receives_that_ran_nothing_are_not_attempts(
    jobs: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda's SQS poller counts throttled receives too: a job's first run whose message was
    received as often as the queue allows is retried, not failed and refunded."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    import functions.job_worker.app as worker
    from infra.local.consumers import LocalLambdaContext

    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=10)
    executor = _Executor(crash_times=1)
    monkeypatch.setattr(worker, "job_runner", lambda: _runner(jobs, executor, max_attempts=3))
    event = json.loads((EVENTS / "job_worker_sqs.json").read_text())
    record = event["Records"][0]
    record["body"] = json.dumps({"job_id": submitted.job_id})
    record["attributes"]["ApproximateReceiveCount"] = "3"
    context = LocalLambdaContext(function_name="JobWorkerFunction", timeout_seconds=60)

    with pytest.raises(BatchProcessingError):  # the whole batch failed: the message comes back
        worker.handler(event, context)
    job = jobs.get_job(caller=caller, job_id=submitted.job_id)
    assert job["state"] == "running" and job["attempts"] == 1 and not job.get("refunded")
    assert credits_of(caller) == 90

    record["attributes"]["ApproximateReceiveCount"] = "4"
    assert worker.handler(event, context) == {"batchItemFailures": []}
    job = jobs.get_job(caller=caller, job_id=submitted.job_id)
    assert job["state"] == "succeeded" and job["attempts"] == 2


def test_a_write_collision_is_tried_again_not_failed_until_the_last_attempt(jobs: JobService) -> None:
    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=10)
    runner = _runner(jobs, _Executor(crash_times=1, crash=WriteConflict()))
    with pytest.raises(WriteConflict):
        runner.run(job_id=submitted.job_id)
    assert jobs.get_job(caller=caller, job_id=submitted.job_id)["state"] == "running"
    assert runner.run(job_id=submitted.job_id) is Outcome.SUCCEEDED
    assert credits_of(caller) == 90

    submitted = _submit(jobs, caller, cost=10)
    runner = _runner(jobs, _Executor(crash_times=99, crash=WriteConflict()), max_attempts=2)
    with pytest.raises(WriteConflict):
        runner.run(job_id=submitted.job_id)
    assert runner.run(job_id=submitted.job_id) is Outcome.FAILED
    job = jobs.get_job(caller=caller, job_id=submitted.job_id)
    assert job["state"] == "failed" and job["error"]["code"] == "write_conflict"
    assert credits_of(caller) == 90


def test_an_engine_that_cannot_do_it_fails_the_job_with_its_reason(jobs: JobService) -> None:
    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=10)
    outcome = _runner(jobs, _Executor(engine_error="reference image 1 shows no face")).run(
        job_id=submitted.job_id
    )
    assert outcome is Outcome.FAILED
    job = jobs.get_job(caller=caller, job_id=submitted.job_id)
    assert job["error"] == {"code": "engine_cannot_do", "message": "reference image 1 shows no face"}
    assert job["outputs"] == {} and credits_of(caller) == 100


def test_cancel_refunds_and_a_late_finish_discards_its_results(jobs: JobService) -> None:
    from likeness.wiring import blob_store

    caller = paying_caller(credits=100)
    submitted = _submit(jobs, caller, cost=10)
    repository = JobRepository(table=jobs._table)
    running = repository.mark_running(submitted.job_id)
    assert running is not None
    cancelled = jobs.cancel(caller=caller, job_id=submitted.job_id)
    assert cancelled["state"] == "cancelled" and credits_of(caller) == 100
    with pytest.raises(Conflict) as again:
        jobs.cancel(caller=caller, job_id=submitted.job_id)
    assert again.value.error_code == "job_not_cancellable"

    # the worker that was running it finishes: nothing of it survives
    outcome = _runner(jobs, _Executor()).run(job_id=submitted.job_id)
    assert outcome is Outcome.SKIPPED
    assert blob_store().list_keys(f"jobs/{submitted.job_id}/results/") == []
    assert jobs.get_job(caller=caller, job_id=submitted.job_id)["state"] == "cancelled"


def test_the_sweeper_fails_and_refunds_jobs_past_their_deadline(jobs: JobService) -> None:
    from likeness.settings import get_settings
    from likeness.wiring import job_service

    caller = paying_caller(credits=100)
    late = _submit(jobs, caller, cost=10)
    # accepted with a deadline an hour later than the first job's
    patient = job_service(get_settings().model_copy(update={"job_deadline_seconds": 3600 + 900}))
    on_time = _submit(patient, caller, cost=10)
    deadline = jobs.get_job(caller=caller, job_id=late.job_id)["deadline_at"]
    assert jobs.get_job(caller=caller, job_id=on_time.job_id)["deadline_at"] > deadline
    assert credits_of(caller) == 80

    # at its deadline a job is not yet late (jobs other tests of the module left may be swept)
    jobs.sweep_expired(now=deadline)
    assert jobs.get_job(caller=caller, job_id=late.job_id)["state"] == "queued"

    # just past the first deadline: that job is failed and refunded, the other stays queued
    assert jobs.sweep_expired(now=deadline + "~") >= 1
    job = jobs.get_job(caller=caller, job_id=late.job_id)
    assert job["state"] == "failed" and job["error"]["code"] == "deadline_exceeded"
    assert JobState(job["state"]) is JobState.FAILED and "GSI2PK" not in job
    kept = jobs.get_job(caller=caller, job_id=on_time.job_id)
    assert kept["state"] == "queued" and kept.get("error") is None and kept["GSI2PK"]
    assert credits_of(caller) == 90

    # sweeping again changes nothing: a job is failed and refunded once
    assert jobs.sweep_expired(now=deadline + "~") == 0
    assert credits_of(caller) == 90


def test_another_accounts_job_is_not_found(jobs: JobService) -> None:
    from likeness.errors import NotFound

    owner, other = paying_caller(), paying_caller()
    submitted = _submit(jobs, owner)
    with pytest.raises(NotFound):
        jobs.get_job(caller=other, job_id=submitted.job_id)
    with pytest.raises(NotFound):
        jobs.cancel(caller=other, job_id=submitted.job_id)
