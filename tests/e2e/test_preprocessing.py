"""The preprocessing consumer under SQS's at-least-once delivery, and the events it publishes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser, bucket_keys, bus_events, wait_for_status
from tests.helpers import EVENTS

pytestmark = pytest.mark.e2e


def _identity_item(code: str) -> dict[str, Any]:
    from likeness.identities.service import identity_key
    from likeness.wiring import table

    item = table().get(*identity_key(code))
    assert item is not None
    return item


def _sqs_event(job_id: str, code: str, *, receive_count: int = 2) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "identity_preprocess_sqs.json").read_text())
    record = event["Records"][0]
    record["body"] = json.dumps(
        {"job_id": job_id, "identity_code": code, "correlation_id": "redelivery-test"}
    )
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


class _Context:
    function_name = "IdentityPreprocessFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IdentityPreprocessFunction"
    memory_limit_in_mb = 3008
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/IdentityPreprocessFunction"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def test_a_redelivered_message_duplicates_nothing(alice: ApiUser, local_stack: Any) -> None:
    from functions.identity_preprocess.app import handler
    from likeness.aws.clients import get_client
    from likeness.settings import get_settings

    code = alice.upload_fixture("obama.jpg").json()["identity_code"]
    assert wait_for_status(alice, code)["preprocessing_status"] == "completed"
    before_item = _identity_item(code)
    before_keys = bucket_keys(f"identities/{code}/")
    before_results = alice.client.get(f"/identity/{code}/results").json()["results"]

    # the same message again, through the queue and the in-process consumer...
    body = {"job_id": before_item["job_id"], "identity_code": code}
    get_client("sqs").send_message(QueueUrl=get_settings().preprocess_queue_url, MessageBody=json.dumps(body))
    local_stack.consumers.drain()
    # ...and straight into the Lambda handler, as `sam local invoke` would
    outcome = handler(_sqs_event(before_item["job_id"], code), _Context())
    assert outcome == {"batchItemFailures": []}

    after_item = _identity_item(code)
    assert bucket_keys(f"identities/{code}/") == before_keys
    for field in ("preprocessing_status", "preprocessing_time", "updated_at", "results", "embedding"):
        assert after_item[field] == before_item[field], field
    after_results = alice.client.get(f"/identity/{code}/results").json()["results"]
    assert [r["kind"] for r in after_results] == [r["kind"] for r in before_results]

    from likeness.jobs.models import JobRepository
    from likeness.wiring import table

    job = JobRepository(table=table()).get(before_item["job_id"])
    assert job is not None and job["state"] == "succeeded" and job["attempts"] == 1


def test_the_embedding_is_stored_and_matches_the_person(alice: ApiUser) -> None:
    import numpy as np

    from likeness.faces.compare import face_distance

    same = [alice.upload_fixture(f).json()["identity_code"] for f in ("obama.jpg", "obama2.jpg")]
    other = alice.upload_fixture("biden.jpg").json()["identity_code"]
    for code in [*same, other]:
        assert wait_for_status(alice, code)["preprocessing_status"] == "completed"
    emb = {c: np.frombuffer(_identity_item(c)["embedding"], dtype=np.float32) for c in [*same, other]}
    assert all(v.shape == (128,) for v in emb.values())
    assert face_distance(emb[same[0]], emb[same[1]]) < 0.6
    assert face_distance(emb[same[0]], emb[other]) > 0.6


def test_state_changes_are_published_on_the_bus(alice: ApiUser, local_stack: Any) -> None:
    code = alice.upload_fixture("obama-1080p.jpg").json()["identity_code"]
    wait_for_status(alice, code)
    assert alice.client.delete(f"/identity/{code}").status_code == 204
    seen = [
        e["detail-type"] for e in bus_events(alice.account_id) if e["detail"].get("identity_code") == code
    ]
    assert seen == [
        "identity.created",
        "identity.preprocessing.started",
        "identity.preprocessing.completed",
        "identity.deleted",
    ]
