"""Engine calls within one run of a job, and parking a job while a provider works.

A deferred engine (a provider queue: a fal video can take minutes) is submitted, and its handle
(request id and URLs, never a key) goes into the job's ``engine_state``; when the provider is not
done yet the run raises ``EngineWaiting``, the runner stores the state on the job and sends the
job a delayed check message, and the worker is free. The next run rebuilds the same request,
finds the handle, and collects. The job's deadline covers the whole wait (the sweeper fails it,
and the next check cancels what is still running at the provider).

Steps are named by the caller (``generate/0``, ``generate/1`` for a re-roll...), so a run that
resumes replays the finished steps from what was recorded instead of asking again.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from likeness.aws.dynamodb import Item
from likeness.engines.base import Engine, EngineOutput, EngineRequest, is_deferred

MAX_POLL_SECONDS = 60


class EngineWaiting(Exception):  # noqa: N818 - control flow, not an error
    """The job waits on a provider: store ``state`` on the job and check back after ``delay`` s."""

    def __init__(self, *, state: dict[str, Any], delay: int, started: list[dict[str, Any]]) -> None:
        super().__init__(f"waiting {delay}s on a provider")
        self.state = state
        self.delay = delay
        self.started = started  # handles this run submitted (cancelled if the state cannot be stored)


class EngineSession:
    def __init__(self, *, state: Mapping[str, Any] | None = None, poll_seconds: int = 5) -> None:
        self.state: dict[str, Any] = copy.deepcopy(dict(state or {}))
        self.state.setdefault("version", 0)
        self.state.setdefault("steps", {})
        self.state.setdefault("checks", 0)
        self._poll = poll_seconds
        self._started: list[dict[str, Any]] = []

    @classmethod
    def for_job(cls, job: Item, *, poll_seconds: int) -> EngineSession:
        return cls(state=job.get("engine_state"), poll_seconds=poll_seconds)

    def run(self, engine: Engine, request: EngineRequest, *, step: str) -> list[EngineOutput]:
        """The engine's outputs for ``request``; a deferred engine may park the job instead."""
        if not is_deferred(engine):
            return engine.run(request)
        steps: dict[str, Any] = self.state["steps"]
        entry = steps.get(step)
        if entry is None:
            handle = engine.submit(request)  # type: ignore[attr-defined]
            entry = {"handle": handle, "submitted_at": int(time.time()), "done": False}
            steps[step] = entry
            self._started.append(handle)
        outputs: list[EngineOutput] | None = engine.collect(entry["handle"], request)  # type: ignore[attr-defined]
        if outputs is None:
            checks = int(self.state.get("checks", 0))
            self.state["checks"] = checks + 1
            delay = min(MAX_POLL_SECONDS, self._poll * 2 ** min(checks // 5, 4))
            raise EngineWaiting(state=self.state, delay=int(delay), started=list(self._started))
        entry["done"] = True
        return outputs

    def record(self, step: str, data: Mapping[str, Any]) -> None:
        """Remember what a finished step decided (verdicts), for the runs that replay it."""
        self.state.setdefault("records", {})[step] = dict(data)

    def recorded(self, step: str) -> dict[str, Any] | None:
        value = (self.state.get("records") or {}).get(step)
        return dict(value) if value is not None else None


def pending_handles(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Provider requests a job submitted and never collected (to cancel when it ends otherwise)."""
    if not state:
        return []
    return [
        dict(entry["handle"])
        for entry in (state.get("steps") or {}).values()
        if not entry.get("done") and not entry.get("cancelled") and entry.get("handle")
    ]
