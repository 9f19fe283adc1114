"""Webhook delivery consumer: WebhookQueue batches (bus events and scheduled retries) in,
signed POSTs out, partial batch failures back to SQS (Powertools)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.observability import lambda_entrypoint, logger, metrics
from likeness.webhooks.delivery import parse_message
from likeness.wiring import webhook_dispatcher

processor = BatchProcessor(event_type=EventType.SQS)
# stop starting attempts this long before Lambda's own timeout
SAFETY_SECONDS = 2.0


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    message = parse_message(record.body)
    logger.set_correlation_id(str(message.get("id") or message.get("delivery_id") or record.message_id))
    deadline = None
    if lambda_context is not None:
        deadline = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    metrics.add_metric(name="WebhookMessages", unit=MetricUnit.Count, value=1)
    # a crash raises: Powertools reports the record as failed and SQS delivers it again
    for outcome in webhook_dispatcher().handle(message, deadline=deadline):
        metrics.add_metric(name=f"Webhook_{outcome.value}", unit=MetricUnit.Count, value=1)


@lambda_entrypoint("WebhookDeliveryFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
