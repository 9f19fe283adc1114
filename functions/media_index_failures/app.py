"""Media index runs that died outside the indexer: their files are failed with the reason.

Three SQS sources (template.yaml, MediaIndexFailureFunction): the queue an EventBridge rule
fills with AWS Batch "Job State Change" events of the media index job queue, and the
dead-letter queues of MediaIndexQueue (the Lambda indexer) and MediaBatchQueue (the Pipe). The
work is ``likeness.media.index_failures``: idempotent, and never touching a file completed or
re-indexed meanwhile. A record that is no report at all is logged and dropped; any other error
fails the record, which comes back and, repeated, ends in this function's own dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.media.index_failures import NotAReport, fail_stuck_run, parse_record
from likeness.observability import lambda_entrypoint, logger, metrics
from likeness.settings import get_settings
from likeness.wiring import media_index_job

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    settings = get_settings()
    batch_dead_letters = bool(settings.media_batch_dead_letter_queue_arn) and (
        record.event_source_arn == settings.media_batch_dead_letter_queue_arn
    )
    try:
        run = parse_record(
            record.body,
            from_batch_dead_letters=batch_dead_letters,
            max_attempts=settings.media_index_max_attempts,
            runnable_timeout_seconds=settings.media_index_runnable_timeout_seconds,
        )
    except NotAReport as exc:
        logger.error(
            "media index failure report dropped",
            reason=str(exc),
            message_id=record.message_id,
            body=record.body[:1000],
        )
        metrics.add_metric(name="MediaIndexFailureReportsInvalid", unit=MetricUnit.Count, value=1)
        return
    if run is None:  # a Batch state change that is no failure
        return
    logger.set_correlation_id(run.message["file_uuid"])
    logger.warning(
        "media index run died outside the indexer; failing its file",
        source=run.source,
        reason=run.reason,
        account_id=run.message["account_id"],
        file_uuid=run.message["file_uuid"],
        run_id=run.message["run_id"],
    )
    fail_stuck_run(media_index_job(), run)
    metrics.add_metric(name="MediaIndexRunsFailedFromOutside", unit=MetricUnit.Count, value=1)


@lambda_entrypoint("MediaIndexFailureFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
