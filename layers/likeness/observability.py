"""Structured logging and metrics (Powertools). The Tracer stays out: it costs ~230 ms of cold start."""

from __future__ import annotations

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics

logger = Logger(service="likeness")
metrics = Metrics(namespace="Likeness", service="likeness")
