"""A loopback HTTP server for tests that make the service fetch URLs: serves what it is given.

with serving_files() as server:
    url = server.serve("/dress.jpg", data, "image/jpeg")
    url = server.serve("/gone.jpg", b"", "text/plain", status=404)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Served:
    status: int
    content_type: str
    data: bytes


@dataclass
class FileServer:
    base_url: str
    routes: dict[str, Served] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, path: str, data: bytes, content_type: str, *, status: int = 200) -> str:
        """Answer GET ``path`` with these bytes; returns the full URL."""
        with self.lock:
            self.routes[path] = Served(status=status, content_type=content_type, data=data)
        return self.base_url + path

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.count(path)


@contextmanager
def serving_files() -> Iterator[FileServer]:
    state: dict[str, FileServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server = state["server"]
            with server.lock:
                server.hits.append(self.path)
                served = server.routes.get(self.path, Served(404, "text/plain", b"not found"))
            self.send_response(served.status)
            self.send_header("content-type", served.content_type)
            self.send_header("content-length", str(len(served.data)))
            self.end_headers()
            self.wfile.write(served.data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["server"] = FileServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, name="image-server", daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
