"""Process environment helpers shared by the local stack's parts.

Everything the stack exports is recorded so ``stop()`` puts the environment back: pytest runs
the stack inside a process that goes on running other tests afterwards.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

log = logging.getLogger(__name__)

# Per-function overrides change os.environ for the whole process; serialise them.
_override_lock = threading.RLock()


class EnvironmentPatch:
    """Sets environment variables and remembers the previous values for ``restore()``."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        if key not in self._saved:
            self._saved[key] = os.environ.get(key)
        os.environ[key] = value

    def setdefault(self, key: str, value: str) -> None:
        if key not in os.environ:
            self.set(key, value)

    def update(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self.set(key, value)

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


def reset_caches() -> None:
    """Forget cached boto3 clients and settings after the environment changed."""
    try:
        from likeness.aws.clients import reset_clients
        from likeness.settings import get_settings
    except ImportError:  # the layer is not importable: nothing can have been cached
        log.debug("likeness package not importable; no caches to reset")
        return
    reset_clients()
    get_settings.cache_clear()


@contextmanager
def environment_overrides(overrides: Mapping[str, str]) -> Iterator[None]:
    """Apply a function's own Environment variables for the duration of one invocation.

    Lambda gives each function its own process; here they share one, so overrides are
    applied under a lock and undone afterwards (requests served concurrently by the gateway
    may observe them: a documented limit of the local stack).
    """
    if not overrides:
        yield
        return
    with _override_lock:
        patch = EnvironmentPatch()
        patch.update(overrides)
        reset_caches()
        try:
            yield
        finally:
            patch.restore()
            reset_caches()
