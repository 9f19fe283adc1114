"""A webhook receiver on loopback for tests: records every POST, answers from a script."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each path from its script of (status, headers), then from ``always``, else 200.

    A path in ``holds`` answers only once its event is set (an attempt kept in flight)."""

    base_url: str
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    always: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    holds: dict[str, threading.Event] = field(default_factory=dict)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str) -> tuple[int, dict[str, str]]:
        with self.lock:
            script = self.scripts.get(path)
            if script:
                return script.pop(0)
            return self.always.get(path, (200, {}))

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, *, timeout: float = 60.0) -> list[Received]:
        """The requests to ``path`` once there are ``count`` of them (AssertionError after ``timeout``)."""
        with self.arrived:
            if not self.arrived.wait_for(
                lambda: sum(r.path == path for r in self.requests) >= count, timeout=timeout
            ):
                raise AssertionError(f"{count} request(s) to {path} did not arrive within {timeout}s")
            return [r for r in self.requests if r.path == path]

    def release(self) -> None:
        """Let every held request answer."""
        for gate in list(self.holds.values()):
            gate.set()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rx = state["rx"]
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with rx.lock:
                rx.requests.append(Received(self.path, headers, body, time.time()))
                rx.arrived.notify_all()
                gate = rx.holds.get(self.path)
            if gate is not None:
                gate.wait(timeout=120)
            status, extra = rx.answer(self.path)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["rx"] = Receiver(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield state["rx"]
    finally:
        state["rx"].release()
        httpd.shutdown()
        httpd.server_close()
