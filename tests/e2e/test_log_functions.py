"""Every log line names the function that wrote it, though the local stack runs all of them
in one process (and Powertools keeps one logger state per service)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser, wait_for_status
from tests.e2e.polling import wait_for_job
from tests.helpers import data_url, png_bytes

pytestmark = pytest.mark.e2e


def _printed(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON line Powertools prints for the record."""
    from likeness.observability import logger

    line: dict[str, Any] = json.loads(logger.registered_handler.format(record))
    return line


def test_job_and_preprocessing_lines_name_their_own_function(
    alice: ApiUser, local_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    upload = alice.upload_fixture("obama_small.jpg")
    assert upload.status_code == 201, upload.text
    # a job that fails: the worker logs its failure and its outcome
    blank = "data:image/png;base64," + base64.b64encode(png_bytes(320, 320)).decode()
    submitted = alice.client.post(
        "/api/v1/avatars/generate", json={"prompt": "x", "reference_images": [blank, data_url("obama.jpg")]}
    )
    assert submitted.status_code == 202, submitted.text
    assert wait_for_status(alice, upload.json()["identity_code"])["preprocessing_status"] == "completed"
    assert wait_for_job(alice, submitted.json()["job_id"])["status"] == "failed"
    local_stack.consumers.drain(timeout=120)  # the events' webhook deliveries ran meanwhile

    # a consumer thread is named after the function whose handler it calls
    written: dict[str, list[logging.LogRecord]] = {}
    for record in caplog.records:
        if record.threadName.startswith("sqs-"):
            written.setdefault(record.threadName.split("-")[1], []).append(record)
    assert {"JobWorkerFunction", "IdentityPreprocessFunction"} <= set(written), set(written)
    for function, records in written.items():
        for record in records:
            line = _printed(record)
            assert line["function"] == function, line
            assert line["function_name"] == local_stack.template.function_name(function), line
    messages = {(r.threadName.split("-")[1], r.getMessage()) for rs in written.values() for r in rs}
    assert ("JobWorkerFunction", "job finished") in messages
    assert ("JobWorkerFunction", "job failed") in messages
    assert ("IdentityPreprocessFunction", "preprocessing finished") in messages
