"""Media files whose index run died outside the indexer, on moto: AWS Batch FAILED events and the
index dead-letter queues fail the file with the reason (MediaIndexFailureFunction), once, and
never a file completed or re-indexed meanwhile. Driven with the canonical events in events/."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.local.consumers import LocalLambdaContext
from tests.helpers import EVENTS, FACES
from tests.integration.media_support import FakeIndexer, MediaUser, PlannedTrace, make_user, queued_messages

CLIP = (FACES / "short_hamilton_clip.mp4").read_bytes()
FUNCTION = "MediaIndexFailureFunction"


@dataclass
class Stuck:
    user: MediaUser
    indexer: FakeIndexer
    queue_url: str

    def upload(self) -> tuple[str, dict[str, str]]:
        """A clip uploaded, and its queued index message (the file is pending)."""
        resp = self.user.client.post("/api/v1/files", files={"file": ("clip.mp4", CLIP, "video/mp4")})
        assert resp.status_code == 202, resp.text
        (message,) = queued_messages(self.queue_url)
        return resp.json()["file_uuid"], message

    def processing(self) -> tuple[str, dict[str, str]]:
        """A file whose run started and then died (the indexer crashed, nothing retried it)."""
        from likeness.wiring import media_index_job

        file_uuid, message = self.upload()
        from likeness.media.index_job import IndexAttemptFailed

        self.indexer.crash = ConnectionError("the instance went away")
        with pytest.raises(IndexAttemptFailed):
            media_index_job().handle(message)
        self.indexer.crash = None
        assert self.file(file_uuid)["status"] == "processing"
        return file_uuid, message

    def file(self, file_uuid: str) -> dict[str, Any]:
        body: dict[str, Any] = self.user.client.get(f"/api/v1/files/{file_uuid}").json()
        return body


@pytest.fixture
def stuck(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stuck]:
    import likeness.wiring
    from functions.media_api.app import app
    from infra.local.template import Template
    from likeness.settings import get_settings

    indexer = FakeIndexer(plan=[PlannedTrace(0, 29, None)])
    monkeypatch.setattr(likeness.wiring, "media_indexer", lambda: indexer)
    # the function's own variables (beyond the Globals), as Lambda would give them
    for name, value in Template.load().function_environment_overrides(FUNCTION).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield Stuck(user=make_user(app), indexer=indexer, queue_url=os.environ["LIKENESS_MEDIA_INDEX_QUEUE_URL"])
    get_settings.cache_clear()


def _canonical() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "media_index_failures_sqs.json").read_text())
    return event


def _batch_event(message: dict[str, str], **detail: Any) -> dict[str, Any]:
    """The canonical SQS batch's first record: Batch's FAILED event, for this run."""
    event = _canonical()
    record = event["Records"][0]
    body = json.loads(record["body"])
    assert body == json.loads((EVENTS / "media_index_batch_job_failed_eventbridge.json").read_text())
    body["detail"]["parameters"] = {k: message[k] for k in ("account_id", "file_uuid", "run_id")}
    body["detail"].update(detail)
    record["body"] = json.dumps(body)
    return {"Records": [record]}


def _dead_letter(message: dict[str, str], *, queue: str) -> dict[str, Any]:
    """The canonical SQS batch's second record: an index message on a dead-letter queue."""
    from infra.local.template import Template

    event = _canonical()
    record = event["Records"][1]
    record["body"] = json.dumps(message)
    record["eventSourceARN"] = Template.load().resolve({"Fn::GetAtt": [queue, "Arn"]})
    return {"Records": [record]}


def _invoke(event: dict[str, Any]) -> Any:
    from functions.media_index_failures.app import handler

    return handler(event, LocalLambdaContext(function_name=FUNCTION, timeout_seconds=30))


def _file_events(account_id: str) -> list[tuple[str, str]]:
    """(detail-type, status) of the file events on the bus (its rule copies them to the webhook queue)."""
    from likeness.aws.clients import get_client

    sqs, url = get_client("sqs"), os.environ["LIKENESS_WEBHOOK_QUEUE_URL"]
    seen = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            if event["detail"].get("account_id") == account_id and event["detail-type"].startswith("file."):
                seen.append((event["detail-type"], event["detail"]["data"]["status"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return seen


def test_a_batch_job_that_gave_up_fails_its_file_with_the_reason_once(stuck: Stuck) -> None:
    file_uuid, message = stuck.processing()
    event = _batch_event(message)

    assert _invoke(event) == {"batchItemFailures": []}
    file = stuck.file(file_uuid)
    assert file["status"] == "failed"
    assert file["error"] == "Indexing did not finish within the GPU job's time limit after 3 attempts."
    # EventBridge delivers at least once: a second copy changes nothing and tells nobody again
    assert _invoke(event) == {"batchItemFailures": []}
    assert stuck.file(file_uuid)["error"] == file["error"]
    assert _file_events(stuck.user.account_id) == [("file.failed", "failed")]


def test_a_job_cancelled_while_waiting_for_a_gpu_says_so(stuck: Stuck) -> None:
    file_uuid, message = stuck.upload()  # still pending: the job never started
    event = _batch_event(
        message, statusReason="MEDIA_INDEX_NO_GPU_CAPACITY", attempts=[], container={"command": []}
    )
    assert _invoke(event) == {"batchItemFailures": []}
    file = stuck.file(file_uuid)
    assert file["status"] == "failed"
    assert file["error"].startswith("No GPU instance became available within 60 minutes")


def test_a_completed_or_reindexed_file_is_never_overwritten(stuck: Stuck) -> None:
    from likeness.wiring import media_index_job

    file_uuid, message = stuck.upload()
    media_index_job().handle(message)
    assert stuck.file(file_uuid)["status"] == "completed"
    # a late report for the run that completed
    assert _invoke(_batch_event(message)) == {"batchItemFailures": []}
    assert stuck.file(file_uuid)["status"] == "completed"

    # re-indexed: a report for the old run leaves the new one alone
    assert stuck.user.client.post(f"/api/v1/files/{file_uuid}/reindex").status_code == 202
    (new_message,) = queued_messages(stuck.queue_url)
    assert new_message["run_id"] != message["run_id"]
    assert _invoke(_batch_event(message)) == {"batchItemFailures": []}
    assert _invoke(_dead_letter(message, queue="MediaIndexDeadLetterQueue")) == {"batchItemFailures": []}
    assert stuck.file(file_uuid)["status"] in ("pending", "processing")
    assert _file_events(stuck.user.account_id) == [("file.indexed", "completed")]


@pytest.mark.parametrize(
    ("queue", "reason"),
    [
        (
            "MediaIndexDeadLetterQueue",
            "Indexing was stopped before it finished on each of its 3 attempts "
            "(a time limit or a memory limit of the indexer).",
        ),
        (
            "MediaBatchDeadLetterQueue",
            "The GPU indexing job could not be submitted; the operators have been alerted.",
        ),
    ],
)
def test_a_dead_lettered_index_message_fails_its_file(stuck: Stuck, queue: str, reason: str) -> None:
    file_uuid, message = stuck.processing()
    assert _invoke(_dead_letter(message, queue=queue)) == {"batchItemFailures": []}
    file = stuck.file(file_uuid)
    assert file["status"] == "failed" and file["error"] == reason


def test_reports_that_fail_nothing_are_consumed(stuck: Stuck) -> None:
    file_uuid, message = stuck.processing()
    succeeded = _batch_event(message, status="SUCCEEDED")
    garbage = copy.deepcopy(_dead_letter(message, queue="MediaIndexDeadLetterQueue"))
    garbage["Records"][0]["body"] = '{"file_uuid": 7}'
    not_json = copy.deepcopy(garbage)
    not_json["Records"][0]["body"] = "not json"
    for event in (succeeded, garbage, not_json):
        # nothing a retry could fix: consumed, not sent round to this function's dead-letter queue
        assert _invoke(event) == {"batchItemFailures": []}
    assert stuck.file(file_uuid)["status"] == "processing"


def test_the_rule_queue_and_consumer_work_on_the_local_stack(stuck: Stuck) -> None:
    """A FAILED event of the media index job queue on the default bus reaches the failure queue
    (MediaBatchJobFailedRule, as provisioned from the template), and the local consumer fails
    the file; another queue's job is not this stack's business."""
    from infra.local.consumers import ConsumerRunner
    from infra.local.template import Template
    from likeness.aws.clients import get_client

    file_uuid, message = stuck.processing()
    template = Template.load()
    event = json.loads(_batch_event(message)["Records"][0]["body"])
    entry = {"Source": event["source"], "DetailType": event["detail-type"], "EventBusName": "default"}
    other_queue = dict(event["detail"], jobQueue="arn:aws:batch:us-east-1:123456789012:job-queue/other")
    ours = dict(event["detail"], jobQueue=template.physical_id("MediaIndexJobQueue"))
    response = get_client("events").put_events(
        Entries=[{**entry, "Detail": json.dumps(other_queue)}, {**entry, "Detail": json.dumps(ours)}]
    )
    assert response["FailedEntryCount"] == 0

    runner = ConsumerRunner(template)
    source = next(s for s in runner.sources_of(FUNCTION) if s.event_name == "BatchJobFailed")
    outcome = runner.poll(source, wait_time_seconds=0)
    assert outcome.received == 1 and outcome.error is None and len(outcome.deleted) == 1
    assert stuck.file(file_uuid)["status"] == "failed"
    assert runner.poll(source, wait_time_seconds=0).received == 0


def test_index_attempts_are_counted_on_the_file_and_the_last_one_fails_it(stuck: Stuck) -> None:
    """Not from the message's receive count (a receive the event source throttled ran nothing)."""
    from likeness.media.index_job import IndexAttemptFailed
    from likeness.settings import get_settings
    from likeness.wiring import media_index_job

    assert get_settings().media_index_max_attempts == 3
    file_uuid, message = stuck.upload()
    stuck.indexer.crash = ConnectionError("the instance went away")
    for attempt in (1, 2):
        with pytest.raises(IndexAttemptFailed) as failed:
            media_index_job().handle(message)
        assert failed.value.attempt == attempt
        assert stuck.file(file_uuid)["status"] == "processing"
    media_index_job().handle(message)  # the third run gives up: the file does not stay processing
    file = stuck.file(file_uuid)
    assert file["status"] == "failed"
    assert "3 times" in file["error"] and "the instance went away" in file["error"]

    # a new run counts again from one
    stuck.indexer.crash = None
    reindexed = stuck.user.client.post(f"/api/v1/files/{file_uuid}/reindex")
    assert reindexed.status_code in (200, 202), reindexed.text
    (again,) = queued_messages(stuck.queue_url)
    stuck.indexer.crash = ConnectionError("once more")
    with pytest.raises(IndexAttemptFailed) as failed:
        media_index_job().handle(again)
    assert failed.value.attempt == 1
