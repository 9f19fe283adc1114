"""Test-wide fixtures. The end-to-end stack is one per session: moto server, API, consumers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.helpers import FACES

# tests never reach real AWS, whatever the developer's shell says
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)
# webhook retries within seconds, not hours: the local stack's drain waits for delayed messages
os.environ["LIKENESS_WEBHOOK_RETRY_SCHEDULE"] = "[1,2]"
# a failed job attempt comes back after 1 s (not 10 s), so retry tests finish quickly
os.environ.setdefault("LIKENESS_JOB_RETRY_BACKOFF_SECONDS", "1")


def pytest_configure(config: pytest.Config) -> None:
    if not FACES.is_dir():
        raise pytest.UsageError(f"face fixtures not found at {FACES}; the tests read ../shared/fixtures")


@pytest.fixture(scope="session")
def local_stack() -> Iterator[object]:
    """The whole local stack, started once: what `make run` starts, on free ports."""
    from infra.local.stack import LocalStack

    stack = LocalStack()
    info = stack.start(api_port=0, emulator_port=None, seed=True, seed_api_key="lk_test_dev_key_0123456789")
    try:
        yield stack
    finally:
        stack.stop()
    _ = info
