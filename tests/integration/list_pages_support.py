"""What the list-page tests share: a clock that ticks, a count of what Query calls return,
and a face pipeline that finds one face in any image (the lists are the subject, not faces)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from likeness.clock import isoformat


class Ticks:
    """A clock one second apart on each call: every record made gets its own creation time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return isoformat(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=self.calls))


def tick_modules(monkeypatch: pytest.MonkeyPatch, *modules: str) -> Ticks:
    """The modules' ``now_iso`` replaced by one shared ``Ticks``."""
    import importlib

    ticks = Ticks()
    for name in modules:
        monkeypatch.setattr(importlib.import_module(name), "now_iso", ticks)
    return ticks


@contextmanager
def query_items() -> Iterator[list[int]]:
    """The number of items each DynamoDB Query call returns, while the block runs."""
    from likeness.aws.clients import get_client

    events = get_client("dynamodb").meta.events
    returned: list[int] = []

    def on_query(parsed: dict[str, Any], **_: Any) -> None:
        returned.append(len(parsed.get("Items", [])))

    events.register("after-call.dynamodb.Query", on_query)
    try:
        yield returned
    finally:
        events.unregister("after-call.dynamodb.Query", on_query)


class OneFacePipeline:
    """Decodes the image for real and reports one face in it."""

    def analyze(self, data: bytes, **limits: Any) -> Any:
        from likeness.faces.decode import decode_image

        return SimpleNamespace(decoded=decode_image(data, **limits))

    def require_one_face(self, analysis: Any) -> Any:
        return SimpleNamespace(box=(8.0, 8.0, 56.0, 56.0), score=0.99)
