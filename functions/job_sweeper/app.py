"""Scheduled every minute: fail and refund the unfinished jobs whose deadline has passed, and
delete generated files whose availability window has closed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.observability import lambda_entrypoint, logger, metrics
from likeness.wiring import job_service


@lambda_entrypoint("JobSweeperFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    jobs = job_service()
    swept = jobs.sweep_expired()
    expired = jobs.expire_results()
    if swept or expired:
        logger.info("swept jobs and result files", jobs_past_deadline=swept, result_files_expired=expired)
    metrics.add_metric(name="JobsPastDeadline", unit=MetricUnit.Count, value=swept)
    metrics.add_metric(name="ResultFilesExpired", unit=MetricUnit.Count, value=expired)
    return {"swept": swept, "expired": expired}
