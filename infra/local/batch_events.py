"""What AWS Batch puts on the default event bus when a job gives up, for the local pipe runner.

Batch emits a "Batch Job State Change" event with status ``FAILED`` once a job will not run
again: its attempts are spent, or an exit code its ``RetryStrategy`` sends to ``EXIT``. The
local runner (infra/local/pipes.py) runs jobs as subprocesses and sends the same event when
Batch would, so the template's rules on Batch events (and what they feed) work locally too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

SOURCE = "aws.batch"
DETAIL_TYPE = "Batch Job State Change"
# Batch's own status reasons
EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"


def failed_job_detail(
    *,
    job_id: str,
    job_name: str,
    job_queue_arn: str,
    job_definition_arn: str,
    parameters: Mapping[str, str],
    command: Sequence[str],
    attempt: int,
    exit_code: int | None,
    timed_out: bool,
) -> dict[str, Any]:
    """The event's ``detail`` for a job whose last attempt (number ``attempt``) ended so."""
    now = int(time.time() * 1000)
    reason = TIMED_OUT if timed_out else EXITED
    container: dict[str, Any] = {"command": list(command)}
    if exit_code is not None:
        container["exitCode"] = exit_code
    last = {"container": dict(container), "stoppedAt": now, "statusReason": reason}
    arn_prefix = job_queue_arn.split(":job-queue/")[0]
    return {
        "jobArn": f"{arn_prefix}:job/{job_id}",
        "jobName": job_name,
        "jobId": job_id,
        "jobQueue": job_queue_arn,
        "status": "FAILED",
        "statusReason": reason,
        # earlier attempts are not known here beyond their number
        "attempts": [{} for _ in range(max(0, attempt - 1))] + [last],
        "stoppedAt": now,
        "jobDefinition": job_definition_arn,
        "parameters": dict(parameters),
        "container": container,
        "platformCapabilities": ["EC2"],
    }


def publish_failed_job(events: Any, detail: Mapping[str, Any]) -> bool:
    """Put the event on the default bus; a failure is logged (the DLQ path still catches it)."""
    try:
        response = events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "Resources": [str(detail["jobArn"])],
                    "EventBusName": "default",
                }
            ]
        )
    except (ClientError, BotoCoreError):
        log.exception("could not put the Batch FAILED event of job %s", detail.get("jobId"))
        return False
    if response.get("FailedEntryCount"):
        log.error("Batch FAILED event of job %s refused: %s", detail.get("jobId"), response["Entries"])
        return False
    return True
