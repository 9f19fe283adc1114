"""Provider work on the job system, against moto: parking a job while a provider renders,
deliveries that race, deadlines that cancel what is left, and refusals before any charge."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from likeness.accounts.models import Caller
from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineCapabilities, EngineOutput, EngineRequest, Operation
from likeness.jobs.engine_session import EngineSession
from likeness.jobs.models import JobRepository
from likeness.jobs.runner import JobRunner, Outcome, ProducedResult
from likeness.jobs.service import JobService, JobSubmission
from tests.helpers import png_bytes
from tests.integration.job_support import credits_of, paying_caller

JOB_TYPE = "test_provider_job"
CAPABILITIES = EngineCapabilities(
    slug="queued-fake",
    name="Queued fake",
    description="a provider queue in memory",
    kind="hosted",
    operations=[Operation.GENERATE],
    uses_model_weights=True,
    max_reference_images=0,
    max_output_side=1024,
    aspect_ratios=[],
    output_formats=["png"],
    follows_prompt=True,
)


class QueuedEngine:
    """A deferred engine: each submit is a request that completes after ``polls`` collects."""

    capabilities = CAPABILITIES

    def __init__(self, polls: int = 1) -> None:
        self.polls = polls
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def run(self, request: EngineRequest) -> list[EngineOutput]:  # pragma: no cover - deferred only
        raise AssertionError("a deferred engine is never run in place by the job system")

    def submit(self, request: EngineRequest) -> dict[str, Any]:
        with self._lock:
            request_id = f"req-{len(self.submitted) + 1}"
            self.submitted.append(request_id)
        return {"request_id": request_id}

    def collect(self, handle: Mapping[str, Any], request: EngineRequest) -> list[EngineOutput] | None:
        with self._lock:
            seen = self.seen[handle["request_id"]] = self.seen.get(handle["request_id"], 0) + 1
        if seen <= self.polls:
            return None
        return [EngineOutput(data=png_bytes(32, 32), content_type="image/png", width=32, height=32)]

    def cancel(self, handle: Mapping[str, Any]) -> None:
        self.cancelled.append(handle["request_id"])


class ProviderExecutor:
    def __init__(self, engine: QueuedEngine, barrier: threading.Barrier | None = None) -> None:
        self.engine = engine
        self.barrier = barrier

    def execute(self, job: Item) -> Sequence[ProducedResult]:
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        session = EngineSession.for_job(job, poll_seconds=0)  # checks due at once
        outputs = session.run(
            self.engine, EngineRequest(operation=Operation.GENERATE, prompt="p"), step="g/0"
        )
        return [
            ProducedResult(data=o.data, content_type=o.content_type, width=o.width, height=o.height)
            for o in outputs
        ]


def _submit(jobs: JobService, caller: Caller) -> str:
    return jobs.submit(
        caller=caller,
        submission=JobSubmission(job_type=JOB_TYPE, inputs={}, cost=10, engine="queued-fake"),
        respond=lambda job: {"job_id": job["job_id"]},
    ).job_id


def _runner(jobs: JobService, executor: Any, engine: QueuedEngine) -> JobRunner:
    from likeness.wiring import blob_store, table

    return JobRunner(
        jobs=jobs,
        repository=JobRepository(table=table()),
        blobs=blob_store(),
        executors={JOB_TYPE: lambda: executor},
        max_attempts=3,
        engine_for=lambda slug: engine,  # type: ignore[arg-type,return-value]
    )


def _messages() -> list[dict[str, Any]]:
    from likeness.aws.clients import get_client
    from likeness.settings import get_settings

    sqs = get_client("sqs")
    url = get_settings().job_queue_url
    found = []
    while True:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = resp.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _race(jobs: JobService, engine: QueuedEngine, job_id: str) -> list[Outcome]:
    """Two deliveries of the job's message, run at the same moment."""
    barrier = threading.Barrier(2)
    runners = [_runner(jobs, ProviderExecutor(engine, barrier), engine) for _ in range(2)]
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda r=r: outcomes.append(r.run(job_id=job_id))) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return outcomes


@pytest.fixture
def jobs(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> JobService:
    from likeness.wiring import job_service

    return job_service()


def test_a_parked_job_holds_its_request_id_and_completes_on_a_check(jobs: JobService) -> None:
    caller = paying_caller()
    job_id = _submit(jobs, caller)
    _messages()  # the submit's own message
    engine = QueuedEngine(polls=2)
    runner = _runner(jobs, ProviderExecutor(engine), engine)
    assert runner.run(job_id=job_id) is Outcome.WAITING
    job = jobs.get_job(caller=caller, job_id=job_id)
    assert job["state"] == "running" and job["engine_state"]["steps"]["g/0"]["handle"] == {
        "request_id": "req-1"
    }
    assert [m["check"] for m in _messages() if m["job_id"] == job_id] == [True]
    assert runner.run(job_id=job_id, check=True) is Outcome.WAITING
    assert runner.run(job_id=job_id, check=True) is Outcome.SUCCEEDED
    done = jobs.get_job(caller=caller, job_id=job_id)
    assert done["state"] == "succeeded" and done["attempts"] == 1  # checks are not attempts
    assert engine.submitted == ["req-1"] and engine.cancelled == []
    assert credits_of(caller) == 90


def test_two_deliveries_parking_at_once_leave_one_request_and_one_check(jobs: JobService) -> None:
    caller = paying_caller()
    job_id = _submit(jobs, caller)
    _messages()
    engine = QueuedEngine(polls=5)
    outcomes = _race(jobs, engine, job_id)
    assert sorted(outcomes) == sorted([Outcome.WAITING, Outcome.SKIPPED])
    stored = jobs.get_job(caller=caller, job_id=job_id)["engine_state"]["steps"]["g/0"]["handle"][
        "request_id"
    ]
    # the loser's request was cancelled at the provider; the winner's is the one stored
    assert len(engine.submitted) == 2 and engine.cancelled == [r for r in engine.submitted if r != stored]
    assert len([m for m in _messages() if m.get("check")]) == 1


def test_two_runs_racing_to_complete_keep_the_winners_files(jobs: JobService) -> None:
    from likeness.wiring import blob_store

    caller = paying_caller()
    job_id = _submit(jobs, caller)
    engine = QueuedEngine(polls=0)
    outcomes = _race(jobs, engine, job_id)
    assert sorted(outcomes) == sorted([Outcome.SUCCEEDED, Outcome.SKIPPED])
    job = jobs.get_job(caller=caller, job_id=job_id)
    [result] = job["outputs"]["results"]
    # the loser deleted only its own files: the winner's result is still served
    assert blob_store().exists(result["key"])
    assert blob_store().list_keys(f"jobs/{job_id}/results/") == [result["key"]]
    assert credits_of(caller) == 90


def test_a_parked_job_past_its_deadline_is_refunded_and_its_request_cancelled(jobs: JobService) -> None:
    caller = paying_caller()
    job_id = _submit(jobs, caller)
    engine = QueuedEngine(polls=100)
    runner = _runner(jobs, ProviderExecutor(engine), engine)
    assert runner.run(job_id=job_id) is Outcome.WAITING
    # every job still running in the module is past this deadline: this one is among them
    assert jobs.sweep_expired(now="9999-01-01T00:00:00Z") >= 1
    assert credits_of(caller) == 100
    # the check that was scheduled finds the job over and cancels the provider's work, once
    assert runner.run(job_id=job_id, check=True) is Outcome.SKIPPED
    assert runner.run(job_id=job_id, check=True) is Outcome.SKIPPED
    assert engine.cancelled == ["req-1"]
    job = jobs.get_job(caller=caller, job_id=job_id)
    assert job["state"] == "failed" and job["error"]["code"] == "deadline_exceeded"


def test_cancelling_a_parked_job_sends_a_check_at_once(jobs: JobService) -> None:
    caller = paying_caller()
    job_id = _submit(jobs, caller)
    engine = QueuedEngine(polls=100)
    runner = _runner(jobs, ProviderExecutor(engine), engine)
    assert runner.run(job_id=job_id) is Outcome.WAITING
    _messages()
    jobs.cancel(caller=caller, job_id=job_id)
    assert [m.get("check") for m in _messages() if m["job_id"] == job_id] == [True]
    assert runner.run(job_id=job_id, check=True) is Outcome.SKIPPED
    assert engine.cancelled == ["req-1"] and credits_of(caller) == 100


def test_classical_requests_it_cannot_serve_are_refused_before_charging(aws: dict[str, str]) -> None:
    """An empty library: no library-assisted avatar, no brief-only drafts, on the classical engine."""
    from likeness.avatars.models import AvatarGenerate
    from likeness.errors import Unprocessable
    from likeness.identities.drafts import IdentityDraftsCreate
    from likeness.wiring import avatar_service, draft_service

    caller = paying_caller()
    with pytest.raises(Unprocessable) as avatar:
        avatar_service().generate(caller=caller, request=AvatarGenerate(prompt="a baker", engine="classical"))
    assert avatar.value.error_code == "library_too_small" and "library has 0" in avatar.value.message
    with pytest.raises(Unprocessable) as drafts:
        draft_service().create_drafts(
            caller=caller, request=IdentityDraftsCreate(prompt="a baker", engine="classical")
        )
    assert drafts.value.error_code == "library_too_small"
    assert credits_of(caller) == 100
