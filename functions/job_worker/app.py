"""The job worker: one SQS message per job; engines run here, results go to S3.

A failed attempt comes back after an exponential backoff (the message's visibility is
shortened to it) rather than after the queue's whole visibility timeout; the queue's
redrive policy moves a message that keeps failing to the dead-letter queue. Whether an attempt
is the last one is the job record's count (``JobRunner``), not the message's receive count,
which only spaces the retries out.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.aws.clients import get_client
from likeness.observability import lambda_entrypoint, logger, metrics
from likeness.settings import get_settings
from likeness.wiring import job_runner

processor = BatchProcessor(event_type=EventType.SQS)


def retry_backoff_seconds(attempt: int) -> int:
    base = get_settings().job_retry_backoff_seconds
    return int(min(900, base * 2 ** max(0, attempt - 1)))


def record_handler(record: SQSRecord) -> None:
    body: dict[str, Any] = json.loads(record.body)
    logger.set_correlation_id(body.get("correlation_id") or record.message_id)
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        outcome = job_runner().run(job_id=body["job_id"], check=bool(body.get("check")))
    except Exception:
        logger.exception(
            "job attempt failed; it will be retried", job_id=body.get("job_id"), receives=receives
        )
        metrics.add_metric(name="JobAttemptsFailed", unit=MetricUnit.Count, value=1)
        try:
            get_client("sqs").change_message_visibility(
                QueueUrl=get_settings().job_queue_url,
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=retry_backoff_seconds(receives),
            )
        except Exception:
            logger.exception("could not shorten the failed message's visibility")
        raise
    logger.info("job finished", job_id=body["job_id"], outcome=outcome.value)
    metrics.add_metric(name=f"Jobs{outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)


@lambda_entrypoint("JobWorkerFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
