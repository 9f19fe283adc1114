"""Why a media index job failed, in words for the file's owner (likeness.media.index_failures)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from likeness.media.index_failures import NotAReport, batch_failure_reason, parse_record
from tests.helpers import EVENTS


def _detail(**changes: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / "media_index_batch_job_failed_eventbridge.json").read_text())
    detail: dict[str, Any] = event["detail"]
    detail.update(changes)
    return detail


def _attempt(
    reason: str, exit_code: int | None = None, container_reason: str | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {"logStreamName": "x"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason is not None:
        container["reason"] = container_reason
    return {"container": container, "statusReason": reason}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, "Indexing did not finish within the GPU job's time limit after 3 attempts."),
        (
            {
                "statusReason": "Essential container in task exited",
                "attempts": [
                    _attempt(
                        "Essential container in task exited",
                        137,
                        "OutOfMemoryError: Container killed due to memory usage",
                    )
                ],
            },
            "Indexing ran out of memory on the GPU instance.",
        ),
        (
            {
                "statusReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                "failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/r@sha256:00: not found",
                "attempts": [_attempt("CannotPullContainerError: ...")],
            },
            "The GPU indexing job could not start its container; the operators have been alerted.",
        ),
        (
            {
                "statusReason": "Host EC2 (instance i-0abc) terminated.",
                "attempts": [_attempt("x"), _attempt("y")],
            },
            "The GPU instance indexing this file went away after 2 attempts.",
        ),
        (
            {"statusReason": "MEDIA_INDEX_NO_GPU_CAPACITY", "attempts": []},
            "No GPU instance became available within 30 minutes to index this file; "
            "re-index it to try again.",
        ),
        (
            # an exit code the RetryStrategy does not retry, and words from AWS naming the account
            {
                "statusReason": "Container exited (arn:aws:ecs:us-east-1:123456789012:task/x)",
                "attempts": [_attempt("Essential container in task exited", 2)],
            },
            "The GPU indexing job failed, exit code 2: Container exited (…)",
        ),
    ],
)
def test_batch_failure_reasons(changes: dict[str, Any], reason: str) -> None:
    assert batch_failure_reason(_detail(**changes), runnable_timeout_seconds=1800) == reason


def test_records_that_are_no_report_are_refused() -> None:
    for body in (
        "not json",
        "[]",
        '{"file_uuid": "f"}',
        json.dumps({"detail-type": "Scheduled Event", "source": "aws.events"}),
    ):
        with pytest.raises(NotAReport):
            parse_record(body, from_batch_dead_letters=False, max_attempts=3)
    succeeded = {
        "source": "aws.batch",
        "detail-type": "Batch Job State Change",
        "detail": _detail(status="SUCCEEDED"),
    }
    assert parse_record(json.dumps(succeeded), from_batch_dead_letters=False, max_attempts=3) is None
