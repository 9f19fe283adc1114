"""Structured logging and metrics (Powertools). The Tracer stays out: it costs ~230 ms of cold start.

Every log line names the function that wrote it: ``function`` is its logical id in
template.yaml (``JobWorkerFunction``), and ``function_name``, ``function_arn``,
``function_request_id`` and ``function_memory_size`` come from the invocation that wrote it.
Powertools keeps the Lambda context on the logger, and every Logger of one service shares
that state: on AWS each function has its own process, but the local stack runs them all in
one, so the last function to start an invocation named every line. Here the invocation's
keys live in a context variable instead - one per thread, copied into the worker threads a
request starts - and a filter writes them onto each record.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics

logger = Logger(service="likeness")
metrics = Metrics(namespace="Likeness", service="likeness")

H = TypeVar("H", bound=Callable[..., Any])

_invocation: ContextVar[Mapping[str, Any] | None] = ContextVar("likeness_invocation", default=None)
# on Lambda a process runs one function: its lines name it even outside an invocation (imports)
_process_function: dict[str, str] = {}


def invocation_keys(function: str, context: Any = None) -> dict[str, Any]:
    """The keys of one invocation of ``function`` (a logical id), from its Lambda context."""
    keys: dict[str, Any] = {"function": function}
    if context is not None:
        keys.update(
            function_name=getattr(context, "function_name", None),
            function_arn=getattr(context, "invoked_function_arn", None),
            function_request_id=getattr(context, "aws_request_id", None),
            function_memory_size=getattr(context, "memory_limit_in_mb", None),
        )
    return {k: v for k, v in keys.items() if v is not None}


@contextmanager
def invocation(function: str, context: Any = None) -> Iterator[None]:
    """Log lines written inside (by this thread, or threads started with its context) name
    ``function`` and the invocation's ``context``."""
    token = _invocation.set(invocation_keys(function, context))
    try:
        yield
    finally:
        _invocation.reset(token)


def current_function() -> str | None:
    keys = _invocation.get()
    return keys["function"] if keys else _process_function.get("function")


class _InvocationFilter(logging.Filter):
    """Writes the current invocation's keys onto each record: Powertools prints a record's
    extra attributes over the keys it keeps on the (shared) logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = _invocation.get() or _process_function
        for key, value in keys.items():
            setattr(record, key, value)
        return True


_filter = _InvocationFilter()
# the service's logger (records written through it, as pytest's caplog sees them) and its
# handler (records of child loggers, ``logging.getLogger("likeness.faces...")``, propagate there)
logger.addFilter(_filter)
logger.registered_handler.addFilter(_filter)


def lambda_entrypoint(function: str) -> Callable[[H], H]:
    """Decorates a function's Lambda handler: ``function`` is its logical id in template.yaml.

    Each invocation's lines name it (see the module doc), carry the Lambda context and start
    from a clean logger state; its metrics are flushed as EMF when it returns."""

    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        _process_function["function"] = function

    def decorate(handler: H) -> H:
        inner = logger.inject_lambda_context(clear_state=True)(metrics.log_metrics(handler))

        @functools.wraps(handler)
        def entrypoint(event: Any, context: Any) -> Any:
            with invocation(function, context):
                return inner(event, context)

        entrypoint.function_logical_id = function  # type: ignore[attr-defined]
        return entrypoint  # type: ignore[return-value]

    return decorate


@contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Log lines go to stderr meanwhile: for command-line tools, whose stdout is their output."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        yield
        return
    previous = handler.setStream(sys.stderr)
    try:
        yield
    finally:
        if previous is not None:
            handler.setStream(previous)
