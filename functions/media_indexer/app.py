"""The media indexer: MediaIndexQueue messages in (short files), a face index of each file out.

One message per file: ``{"account_id", "file_uuid", "run_id"}``. The work is the core's
``media_index_job().handle(message)``, the same call the GPU batch job makes
(gpu_jobs/media_index): it is idempotent, records a file that cannot be indexed as failed with
the reason, and raises only for transient errors. Those fail the record (Powertools reports it
in ``batchItemFailures``), its message comes back after a backoff, and the queue's redrive
policy moves one that keeps failing to the dead-letter queue.
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
from likeness.wiring import media_index_job

processor = BatchProcessor(event_type=EventType.SQS)


class InvalidMessage(ValueError):
    """A body that is not a media index message: no retry can fix it."""


def parse_message(body: str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not all(
        isinstance(message.get(k), str) and message[k] for k in ("account_id", "file_uuid")
    ):
        raise InvalidMessage("expected an object with account_id and file_uuid")
    return message


def retry_backoff_seconds(attempt: int) -> int:
    """The job worker's schedule: LIKENESS_JOB_RETRY_BACKOFF_SECONDS, doubled per attempt."""
    base = get_settings().job_retry_backoff_seconds
    return int(min(900, base * 2 ** max(0, attempt - 1)))


def record_handler(record: SQSRecord) -> None:
    try:
        message = parse_message(record.body)
    except InvalidMessage as exc:
        # dropped (not retried): a malformed body would only go round to the dead-letter queue
        logger.error(
            "media index message dropped",
            reason=str(exc),
            message_id=record.message_id,
            body=record.body[:1000],
        )
        metrics.add_metric(name="MediaIndexMessagesInvalid", unit=MetricUnit.Count, value=1)
        return
    logger.set_correlation_id(str(message.get("correlation_id") or message["file_uuid"]))
    try:
        media_index_job().handle(message)  # on its last attempt it fails the file itself
    except Exception as exc:
        from likeness.media.index_job import IndexAttemptFailed

        # attempts are counted on the file, not from the receive count; an error before a run
        # started (the store, throttling) is retried after the first backoff
        attempt = exc.attempt if isinstance(exc, IndexAttemptFailed) else 1
        logger.exception(
            "media index attempt failed; it will be retried", file_uuid=message["file_uuid"], attempt=attempt
        )
        metrics.add_metric(name="MediaIndexAttemptsFailed", unit=MetricUnit.Count, value=1)
        try:
            get_client("sqs").change_message_visibility(
                QueueUrl=get_settings().media_index_queue_url,
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=retry_backoff_seconds(attempt),
            )
        except Exception:
            logger.exception("could not shorten the failed message's visibility")
        raise
    logger.info("media file handled", file_uuid=message["file_uuid"], run_id=message.get("run_id"))
    metrics.add_metric(name="MediaIndexMessagesHandled", unit=MetricUnit.Count, value=1)


@lambda_entrypoint("MediaIndexerFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
