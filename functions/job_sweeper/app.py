"""Scheduled every minute: fail and refund the unfinished jobs whose deadline has passed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.observability import logger, metrics
from likeness.wiring import job_service


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    swept = job_service().sweep_expired()
    if swept:
        logger.info("failed jobs past their deadline", count=swept)
    metrics.add_metric(name="JobsPastDeadline", unit=MetricUnit.Count, value=swept)
    return {"swept": swept}
