"""Local fakes of the model providers' HTTP APIs (Gemini, OpenAI Images, fal queue) for adapter tests.

with FakeGemini(api_key="k") as fake:
    fake.script(Fail(429, retry_after=0), Echo())
    ...  # point the adapter at fake.url
    assert len(fake.generation_calls) == 2
"""

from tests.fakes.base import (
    Behaviour,
    Call,
    Echo,
    Fail,
    FakeServer,
    Malformed,
    NotAnImage,
    Pending,
    Refuse,
    Return,
    UploadedFile,
)
from tests.fakes.fal import FAL_MODELS, FakeFal, FalRequest
from tests.fakes.gemini import GEMINI_MODELS, FakeGemini
from tests.fakes.openai import OPENAI_MODELS, FakeOpenAI

__all__ = [
    "FAL_MODELS",
    "GEMINI_MODELS",
    "OPENAI_MODELS",
    "Behaviour",
    "Call",
    "Echo",
    "Fail",
    "FakeFal",
    "FakeGemini",
    "FakeOpenAI",
    "FakeServer",
    "FalRequest",
    "Malformed",
    "NotAnImage",
    "Pending",
    "Refuse",
    "Return",
    "UploadedFile",
]
