"""Shared fixtures for the engine tests: one engine, one judge, fixture photos as engine inputs."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from likeness.engines.base import EngineImage
from tests.helpers import face_bytes

PEOPLE = ["obama.jpg", "biden.jpg", "alex-lacamoire.png", "rose_leslie_img1.jpg", "lin-manuel-miranda.png"]


def engine_image(name: str, label: str | None = None) -> EngineImage:
    return EngineImage(data=face_bytes(name), label=label or name)


def shrunk_png(name: str, longest: int) -> bytes:
    """A fixture photo scaled down (keeps the tests fast; PNG so edits compare exactly)."""
    from PIL import Image

    with Image.open(io.BytesIO(face_bytes(name))) as original:
        rgb = original.convert("RGB")
    rgb.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def engine():
    from likeness.engines.classical.engine import ClassicalEngine

    e = ClassicalEngine()
    e.warm_up()
    return e


@pytest.fixture(scope="session")
def judge():
    from likeness.engines.consistency import ConsistencyJudge

    return ConsistencyJudge()


@pytest.fixture(scope="session")
def embeddings(judge) -> dict[str, object]:
    """The reference embedding of each single-person fixture photo."""
    return {name: judge.reference_embeddings([engine_image(name)])[0] for name in PEOPLE + ["obama2.jpg"]}


@pytest.fixture(scope="session")
def decode() -> Callable[[bytes], object]:
    """Encoded output -> numpy array with every channel it has (RGB or RGBA)."""
    import numpy as np
    from PIL import Image

    def _decode(data: bytes):
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return np.array(im)

    return _decode
