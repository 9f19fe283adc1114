"""Test-wide fixtures. The end-to-end stack is one per session: moto server, API, consumers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fakes import FakeFal, FakeGemini, FakeOpenAI
from tests.helpers import FACES, face_bytes

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
        raise pytest.UsageError(f"face fixtures not found at {FACES}; they live in tests/fixtures")


# provider keys the fakes expect: test values, shaped like no real provider's keys
PROVIDER_KEYS = {
    "gemini": "test-gemini-key-not-real-4f1c",
    "openai": "test-openai-key-not-real-9b2e",
    "fal": "test-fal-key-not-real-7d3a",
}


@dataclass
class Providers:
    """The local fakes of the hosted providers the session's stack is configured with."""

    gemini: FakeGemini
    openai: FakeOpenAI
    fal: FakeFal
    keys: dict[str, str]

    def reset(self) -> None:
        for fake in (self.gemini, self.openai, self.fal):
            fake.reset()


@pytest.fixture(scope="session")
def providers() -> Iterator[Providers]:
    """Fake Gemini, OpenAI and fal servers, configured through the base-URL settings."""
    person = face_bytes("obama.jpg")
    fakes = Providers(
        gemini=FakeGemini(api_key=PROVIDER_KEYS["gemini"], default_image=person).start(),
        openai=FakeOpenAI(api_key=PROVIDER_KEYS["openai"], default_image=person).start(),
        fal=FakeFal(api_key=PROVIDER_KEYS["fal"], default_image=person).start(),
        keys=dict(PROVIDER_KEYS),
    )
    variables = {
        "LIKENESS_GEMINI_API_KEY": PROVIDER_KEYS["gemini"],
        "LIKENESS_GEMINI_BASE_URL": fakes.gemini.url,
        "LIKENESS_OPENAI_API_KEY": PROVIDER_KEYS["openai"],
        "LIKENESS_OPENAI_BASE_URL": fakes.openai.url,
        "LIKENESS_FAL_KEY": PROVIDER_KEYS["fal"],
        "LIKENESS_FAL_QUEUE_URL": fakes.fal.url,
        # a parked provider request is checked back after 1 s, not 5
        "LIKENESS_PROVIDER_POLL_SECONDS": "1",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield fakes
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for fake in (fakes.gemini, fakes.openai, fakes.fal):
            fake.close()


@pytest.fixture(scope="session")
def local_stack(providers: Providers) -> Iterator[object]:
    """The whole local stack, started once: what `make run` starts, on free ports, with the
    hosted providers pointed at local fakes."""
    from infra.local.stack import LocalStack

    stack = LocalStack()
    info = stack.start(api_port=0, emulator_port=None, seed=True, seed_api_key="lk_test_dev_key_0123456789")
    try:
        yield stack
    finally:
        stack.stop()
    _ = info
