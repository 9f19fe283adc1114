"""Preprocessing consumer: SQS batches in, partial batch failures out (Powertools)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.identities.preprocessing import Outcome, PreprocessRequest
from likeness.observability import lambda_entrypoint, logger, metrics
from likeness.wiring import identity_preprocessor

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    body: dict[str, Any] = json.loads(record.body)
    logger.set_correlation_id(body.get("correlation_id") or record.message_id)
    # the identity counts its attempts: the receive count also counts throttled receives
    request = PreprocessRequest(job_id=body["job_id"], identity_code=body["identity_code"])
    outcome = identity_preprocessor().run(request)
    logger.info("preprocessing finished", identity_code=request.identity_code, outcome=outcome.value)
    metrics.add_metric(name=f"Preprocessing{outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    if outcome is Outcome.FAILED:
        logger.warning("identity preprocessing failed", identity_code=request.identity_code)


@lambda_entrypoint("IdentityPreprocessFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
