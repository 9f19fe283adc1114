"""Identity rules against moto: rollback on a failed enqueue, and preprocessing's failure paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from likeness.accounts.models import Caller
from likeness.errors import LikenessError, ServiceBusy
from likeness.identities.models import IdentityCreate
from likeness.identities.preprocessing import IdentityPreprocessor, Outcome, PreprocessRequest
from likeness.identities.service import identity_key
from tests.helpers import EVENTS, face_bytes


def _owner() -> Caller:
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name="owner", plan="free")
    return Caller(
        account_id=account.account_id,
        plan="free",
        key_id="k",
        scopes=frozenset({"identities:read", "identities:write"}),
    )


def _upload(caller: Caller, fixture: str = "obama.jpg") -> dict[str, Any]:
    from likeness.wiring import identity_service, table

    created = identity_service().upload_identity(
        caller=caller, create=IdentityCreate(name=fixture), data=face_bytes(fixture)
    )
    item = table().get(*identity_key(created.identity_code))
    assert item is not None
    return item


class _FlakyPipeline:
    """The real pipeline, except that embedding fails the first ``failures`` times."""

    def __init__(self, failures: int, crash: Exception | None = None) -> None:
        from likeness.faces.pipeline import get_default_pipeline

        self.real = get_default_pipeline()
        self.detector, self.embedder = self.real.detector, self.real.embedder
        self.failures = failures
        self.crash = crash or ConnectionError("the model server went away")

    def analyze(self, data: bytes, **kw: Any) -> Any:
        return self.real.analyze(data, **kw)

    def require_one_face(self, analysis: Any) -> Any:
        return self.real.require_one_face(analysis)

    def embed(self, analysis: Any, face: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise self.crash
        return self.real.embed(analysis, face)


def _preprocessor(pipeline: Any, max_attempts: int = 3) -> IdentityPreprocessor:
    from likeness.wiring import blob_store, event_publisher, table

    return IdentityPreprocessor(
        table=table(),
        blobs=blob_store(),
        events=event_publisher(),
        pipeline=lambda: pipeline,
        max_attempts=max_attempts,
    )


@pytest.mark.parametrize("crash", [ConnectionError("the model server went away"), ServiceBusy()])
def test_a_transient_failure_is_retried_and_then_completes(aws: dict[str, str], crash: Exception) -> None:
    from likeness.jobs.models import JobRepository
    from likeness.wiring import table

    item = _upload(_owner())
    request = PreprocessRequest(job_id=item["job_id"], identity_code=item["identity_code"])
    preprocessor = _preprocessor(_FlakyPipeline(failures=1, crash=crash))
    with pytest.raises(type(crash)):
        preprocessor.run(request)  # the consumer reports it; SQS redelivers
    assert table().get(*identity_key(item["identity_code"]))["preprocessing_status"] == "processing"

    assert preprocessor.run(request) is Outcome.COMPLETED
    job = JobRepository(table=table()).get(item["job_id"])
    assert job is not None and job["state"] == "succeeded" and job["attempts"] == 2


def test_the_last_attempt_fails_the_identity_with_the_reason(aws: dict[str, str]) -> None:
    from likeness.jobs.models import JobRepository
    from likeness.wiring import table

    item = _upload(_owner())
    request = PreprocessRequest(job_id=item["job_id"], identity_code=item["identity_code"])
    preprocessor = _preprocessor(_FlakyPipeline(failures=5), max_attempts=3)
    for _ in (1, 2):
        with pytest.raises(ConnectionError):
            preprocessor.run(request)
    assert preprocessor.run(request) is Outcome.FAILED
    stored = table().get(*identity_key(item["identity_code"]))
    assert stored is not None and stored["preprocessing_status"] == "failed"
    assert (
        "after 3 attempts" in stored["error_message"] and "model server went away" in stored["error_message"]
    )
    job = JobRepository(table=table()).get(item["job_id"])
    assert job is not None and job["state"] == "failed"


def test_receives_that_ran_nothing_are_not_attempts(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda's SQS poller counts throttled receives too: a first run whose message was received
    as often as the queue allows is retried, not failed."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    import functions.identity_preprocess.app as consumer
    from infra.local.consumers import LocalLambdaContext
    from likeness.wiring import table

    item = _upload(_owner())
    preprocessor = _preprocessor(_FlakyPipeline(failures=1), max_attempts=3)
    monkeypatch.setattr(consumer, "identity_preprocessor", lambda: preprocessor)
    event = json.loads((EVENTS / "identity_preprocess_sqs.json").read_text())
    record = event["Records"][0]
    record["body"] = json.dumps({"job_id": item["job_id"], "identity_code": item["identity_code"]})
    record["attributes"]["ApproximateReceiveCount"] = "3"
    context = LocalLambdaContext(function_name="IdentityPreprocessFunction", timeout_seconds=60)

    with pytest.raises(BatchProcessingError):  # the whole batch failed: the message comes back
        consumer.handler(event, context)
    stored = table().get(*identity_key(item["identity_code"]))
    assert stored is not None and stored["preprocessing_status"] == "processing"
    assert stored["preprocessing_attempts"] == 1

    record["attributes"]["ApproximateReceiveCount"] = "4"
    assert consumer.handler(event, context) == {"batchItemFailures": []}
    stored = table().get(*identity_key(item["identity_code"]))
    assert stored is not None and stored["preprocessing_status"] == "completed"


def test_a_photo_that_no_longer_passes_fails_at_once(aws: dict[str, str]) -> None:
    from likeness.wiring import blob_store, table

    item = _upload(_owner())
    # the stored source replaced behind our back by a group photo
    blob_store().put(item["source_key"], face_bytes("two_people.jpg"), content_type="image/jpeg")
    from likeness.faces.pipeline import get_default_pipeline

    request = PreprocessRequest(job_id=item["job_id"], identity_code=item["identity_code"])
    assert _preprocessor(get_default_pipeline()).run(request) is Outcome.FAILED
    stored = table().get(*identity_key(item["identity_code"]))
    assert stored is not None and stored["preprocessing_status"] == "failed"
    assert stored["error_message"].startswith("2 faces found")


def test_a_deleted_identity_is_skipped(aws: dict[str, str]) -> None:
    from likeness.faces.pipeline import get_default_pipeline
    from likeness.jobs.models import JobRepository
    from likeness.wiring import identity_service, table

    caller = _owner()
    item = _upload(caller)
    identity_service().delete_identity(caller=caller, identity_code=item["identity_code"])
    request = PreprocessRequest(job_id=item["job_id"], identity_code=item["identity_code"])
    assert _preprocessor(get_default_pipeline()).run(request) is Outcome.SKIPPED
    job = JobRepository(table=table()).get(item["job_id"])
    assert job is not None and job["state"] == "cancelled"


def test_a_failed_enqueue_rolls_the_upload_back(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from likeness.aws.sqs import JobQueue
    from likeness.wiring import account_service, blob_store, identity_service

    caller = _owner()
    stored = blob_store().list_keys("identities/")

    def refuse(self: JobQueue, body: dict[str, Any], **kw: Any) -> str:
        raise ConnectionError("sqs is down")

    monkeypatch.setattr(JobQueue, "send", refuse)
    with pytest.raises(ConnectionError):
        identity_service().upload_identity(
            caller=caller, create=IdentityCreate(name="x"), data=face_bytes("obama.jpg")
        )
    assert blob_store().list_keys("identities/") == stored
    assert account_service().get_account(caller.account_id).identity_count == 0
    page = identity_service().list_identities(caller=caller, visibility=None, page=1, page_size=10)
    assert page.total_count == 0
    monkeypatch.undo()
    # the name is free again
    identity_service().upload_identity(
        caller=caller, create=IdentityCreate(name="x"), data=face_bytes("obama.jpg")
    )


def test_credits_are_charged_atomically(aws: dict[str, str]) -> None:
    from likeness.errors import InsufficientCredits
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name="c", credits=60)
    assert accounts.charge_credits(account_id=account.account_id, amount=50) == 10
    with pytest.raises(InsufficientCredits) as exc:
        accounts.charge_credits(account_id=account.account_id, amount=50)
    assert "has 10" in exc.value.message
    assert accounts.get_account(account.account_id).credits == 10
    assert accounts.add_credits(account_id=account.account_id, amount=5) == 15


def test_revoked_keys_no_longer_authenticate(aws: dict[str, str]) -> None:
    from likeness.errors import Unauthorized
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name="k")
    issued = accounts.issue_key(account_id=account.account_id)
    assert accounts.authenticate(issued.api_key).account_id == account.account_id
    # only the hash is stored
    assert accounts.find_key(issued.api_key)["PK"] != f"APIKEY#{issued.api_key}"
    accounts.revoke_key(account_id=account.account_id, key_id=issued.key_id)
    with pytest.raises(Unauthorized):
        accounts.authenticate(issued.api_key)
    assert isinstance(Unauthorized("x"), LikenessError)
