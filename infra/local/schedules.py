"""Local stand-in for the template's Schedule events (EventBridge rules that invoke a function).

Each ``Schedule`` event with a ``rate(...)`` expression becomes a timer thread that calls the
function's handler with a "Scheduled Event" payload, as EventBridge would. ``cron(...)``
expressions are not emulated (they are logged and skipped).
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from infra.local.consumers import LocalLambdaContext
from infra.local.template import Template
from likeness.clock import now_iso

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


@dataclass(frozen=True)
class ScheduledFunction:
    function_logical_id: str
    event_name: str
    entrypoint: str
    function_name: str
    interval_seconds: int
    timeout: int


def scheduled_functions(template: Template) -> list[ScheduledFunction]:
    found: list[ScheduledFunction] = []
    for logical_id, spec in template.functions().items():
        for name, event in spec.events_of_type("Schedule").items():
            props = template.resolve(event.properties)
            expression = str(props.get("Schedule", ""))
            seconds = rate_seconds(expression)
            if seconds is None or spec.entrypoint is None:
                log.warning("%s.%s: %r is not emulated locally", logical_id, name, expression)
                continue
            if str(props.get("Enabled", True)).lower() == "false":
                continue
            found.append(
                ScheduledFunction(
                    function_logical_id=logical_id,
                    event_name=name,
                    entrypoint=spec.entrypoint,
                    function_name=template.function_name(logical_id),
                    interval_seconds=seconds,
                    timeout=spec.timeout,
                )
            )
    return found


def scheduled_event(rule_name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now_iso(),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule_name}"],
        "detail": {},
    }


class ScheduleRunner:
    def __init__(self, template: Template) -> None:
        self.schedules = scheduled_functions(template)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def invoke(self, schedule: ScheduledFunction) -> Any:
        module_name, _, attribute = schedule.entrypoint.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        context = LocalLambdaContext(function_name=schedule.function_name, timeout_seconds=schedule.timeout)
        return handler(scheduled_event(f"{schedule.function_name}-{schedule.event_name}"), context)

    def _work(self, schedule: ScheduledFunction) -> None:
        while not self._stop.wait(schedule.interval_seconds):
            try:
                self.invoke(schedule)
            except Exception:
                log.exception("scheduled run of %s failed", schedule.function_logical_id)

    def start(self) -> None:
        for schedule in self.schedules:
            thread = threading.Thread(
                target=self._work,
                args=(schedule,),
                name=f"schedule-{schedule.function_logical_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
            log.info("scheduled %s every %ds", schedule.entrypoint, schedule.interval_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
