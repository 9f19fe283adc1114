"""Shared test helpers: fixture paths and small image builders."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"  # photos, a video and garments, with SOURCES.md and licences
FACES = FIXTURES / "faces"
GARMENTS = FIXTURES / "garments"
EVENTS = ROOT / "events"


def face_bytes(name: str) -> bytes:
    return (FACES / name).read_bytes()


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    data = face_bytes("obama.jpg")
    return data[: len(data) // 2]


def data_url(name: str) -> str:
    """A fixture photo as the data URL an API client would send inline."""
    import base64

    path = FACES / name
    mime = {".png": "image/png", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def error_code(resp: Any, status: int) -> str:
    """The ``detail.code`` of an error response, after checking its status and the error shape."""
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, dict) and detail.get("message"), detail
    return str(detail["code"])


def wait_until(probe: Callable[[], T], *, timeout: float = 30.0, what: str = "the condition") -> T:
    """``probe()``'s first truthy answer, asked every 0.1 s; AssertionError after ``timeout``.

    For waiting on an event (a message visible again, a window closed) instead of sleeping
    for as long as a timer is expected to take."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout}s")
        time.sleep(0.1)
