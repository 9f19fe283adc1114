"""The job functions' Lambda entrypoints, driven with the canonical events in events/."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser
from tests.e2e.polling import wait_for_job
from tests.helpers import EVENTS

pytestmark = pytest.mark.e2e


class _Context:
    function_name = "JobFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:JobFunction"
    memory_limit_in_mb = 1024
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/JobFunction"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def test_avatar_generate_event_through_mangum(alice: ApiUser) -> None:
    from functions.avatar_api.app import handler

    event = _event("avatar_generate_httpapi.json")
    event["headers"]["authorization"] = f"Bearer {alice.api_key}"
    event["headers"]["idempotency-key"] = str(uuid.uuid4())
    accepted = handler(event, _Context())
    assert accepted["statusCode"] == 202, accepted
    body = json.loads(accepted["body"])
    assert body["object"] == "job" and body["status"] == "queued"
    replayed = handler(event, _Context())
    assert replayed["statusCode"] == 202 and json.loads(replayed["body"]) == body
    assert replayed["headers"]["idempotent-replayed"] == "true"
    # the job runs on the stack's worker; the dev stack's library decides how it ends
    assert wait_for_job(alice, body["job_id"])["status"] in ("completed", "failed")


def test_job_worker_handles_the_sqs_event_and_skips_finished_jobs(alice: ApiUser) -> None:
    from functions.job_worker.app import handler

    job_id = alice.client.post("/api/v1/avatars/generate", json={"prompt": "p"}).json()["job_id"]
    finished = wait_for_job(alice, job_id)
    event = _event("job_worker_sqs.json")
    event["Records"][0]["body"] = json.dumps({"job_id": job_id})
    # a redelivered message for a finished job is consumed without changing it
    assert handler(event, _Context()) == {"batchItemFailures": []}
    after = wait_for_job(alice, job_id)
    fields = ("status", "attempts", "completed", "error")
    assert [after[f] for f in fields] == [finished[f] for f in fields]


def test_job_sweeper_handles_the_schedule_event() -> None:
    from functions.job_sweeper.app import handler

    assert handler(_event("job_sweeper_schedule.json"), _Context()) == {"swept": 0, "expired": 0}


def test_webhook_delivery_consumer_takes_the_canonical_event() -> None:
    from functions.webhook_delivery.app import handler

    # an event for an account without endpoints: logged, nothing to deliver, no failure
    assert handler(_event("webhook_delivery_sqs.json"), _Context()) == {"batchItemFailures": []}


def test_the_sample_payload_is_what_the_dispatcher_sends_for_the_sample_event() -> None:
    from likeness.webhooks.delivery import build_payload

    assert build_payload(_event("job_completed_eventbridge.json")) == _event(
        "webhook_payload_job_completed.json"
    )
