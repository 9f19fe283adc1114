"""What the provider fakes share: a threaded loopback HTTP server, call recording, a behaviour script.

A fake is a ``FakeServer`` subclass that implements ``handle(request, call) -> Response``. The server
reads every request whole (so keep-alive connections stay in step), records it as a ``Call`` before
handling it, and answers whatever ``handle`` returns. ``handle`` raises ``HttpError`` for an error in
the provider's own shape; any other exception becomes the provider's 500 shape (see ``internal_error``)
and is kept in ``fake.errors`` so a test can see what broke, never a traceback on the wire.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from PIL import Image

NOT_AN_IMAGE = b"this is not an image"

IMAGE_MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "application/octet-stream": "bin",
}


# ---------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Echo:
    """Answer with the request's input image number ``index``, fitted to the requested size."""

    index: int = 0


@dataclass(frozen=True)
class Return:
    """Answer with exactly these bytes (an image, or a video for fal video models)."""

    data: bytes


@dataclass(frozen=True)
class Fail:
    """Answer an error with this HTTP status in the provider's shape (empty message: its usual words)."""

    status: int
    message: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class Refuse:
    """A content-policy refusal in the provider's shape; ``kind`` picks which one where it has several."""

    kind: str = "prompt"


@dataclass(frozen=True)
class Malformed:
    """A 200 answer in JSON that lacks the image."""


@dataclass(frozen=True)
class NotAnImage:
    """A 200 answer whose image payload is bytes that are not an image."""


@dataclass(frozen=True)
class Pending:
    """fal only: stay IN_QUEUE / IN_PROGRESS for ``polls`` status polls, then complete with ``then``."""

    polls: int
    then: Behaviour = field(default_factory=Echo)


Behaviour = Echo | Return | Fail | Refuse | Malformed | NotAnImage | Pending


# ---------------------------------------------------------------- requests, calls, answers


@dataclass
class UploadedFile:
    """One file part of a multipart/form-data request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One request the fake received, and the status it answered (0 while still being handled)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any | None = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    status: int = 0
    generation: bool = False
    received_at: float = 0.0  # time.time() when the request arrived
    answered_at: float = 0.0  # time.time() when the answer was ready


@dataclass
class Request:
    """A parsed request as the handlers see it. ``json_error`` says why a JSON body did not parse."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None = None
    json_error: str | None = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    form_error: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass
class Response:
    """What the fake answers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", dict(headers or {}))


class HttpError(Exception):
    """Raised by a handler to answer ``payload`` as JSON with ``status``."""

    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = json_response(status, payload, headers)


def retry_after_headers(retry_after: float | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    return {"retry-after": f"{retry_after:g}"}


# ---------------------------------------------------------------- body parsing


def parse_multipart(body: bytes, content_type_header: str) -> tuple[dict[str, list[str]], list[UploadedFile]]:
    """Text fields and file parts of a multipart/form-data body; ValueError when it is not one."""
    boundary = ""
    for param in content_type_header.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body is not terminated by its closing boundary")
    form: dict[str, list[str]] = {}
    files: list[UploadedFile] = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise ValueError("multipart part is not framed by CRLF")
        head, sep, data = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part has no header/body separator")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        params = _disposition_params(headers.get("content-disposition", ""))
        if "name" not in params:
            raise ValueError("multipart part has no field name")
        if "filename" in params:
            files.append(
                UploadedFile(
                    field=params["name"],
                    filename=params["filename"],
                    content_type=headers.get("content-type", "application/octet-stream"),
                    data=data,
                )
            )
        else:
            form.setdefault(params["name"], []).append(data.decode("utf-8", "replace"))
    return form, files


def _disposition_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in value.split(";")[1:]:
        name, _, raw = item.strip().partition("=")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"')
        params[name.strip().lower()] = raw
    return params


# ---------------------------------------------------------------- images


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of PNG / JPEG / WebP bytes from their magic number, else None."""
    from likeness.inline_images import CONTENT_TYPES, sniff_format

    return CONTENT_TYPES.get(sniff_format(data) or "")


def sniff_media_type(data: bytes) -> str:
    """An image's MIME type, video/mp4 for an ISO media file, else application/octet-stream."""
    image_type = sniff_image_type(data)
    if image_type:
        return image_type
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


def decode_image(data: bytes) -> Image.Image:
    """The RGB image these bytes hold; ValueError when they are not a readable image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = opened
            if image.mode in ("RGBA", "LA", "P", "PA"):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                return flat
            return image.convert("RGB")
    except Exception as exc:  # PIL raises many kinds for bad bytes
        raise ValueError(f"not a readable image ({type(exc).__name__})") from exc


def encode_image(image: Image.Image, fmt: str = "png") -> bytes:
    """``image`` encoded as png / jpeg / webp (fast settings)."""
    out = io.BytesIO()
    fmt = fmt.lower()
    if fmt == "png":
        image.save(out, format="PNG", compress_level=1)
    elif fmt in ("jpeg", "jpg"):
        image.convert("RGB").save(out, format="JPEG", quality=90)
    elif fmt == "webp":
        image.save(out, format="WEBP", quality=85, method=0)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return out.getvalue()


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of image bytes, or None when they are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            return opened.size
    except Exception:
        return None


def default_png(size: int = 512) -> bytes:
    """A plain square gradient PNG, the stand-in default image."""
    ramp = [int(80 + 120 * i / max(1, size - 1)) for i in range(size)]
    image = Image.new("RGB", (size, size))
    image.putdata([(r, 140, 200 - r // 2) for _ in range(size) for r in ramp])
    return encode_image(image, "png")


def b64decode_strict(data: Any) -> bytes:
    """Standard (or URL-safe) base64 to bytes; ValueError on anything else."""
    if not isinstance(data, str) or not data:
        raise ValueError("expected a non-empty base64 string")
    compact = "".join(data.split())
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64") from exc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- the server


class FakeServer:
    """A provider fake on 127.0.0.1 (a free port), serving from a daemon thread.

    Subclasses set ``url_prefix`` (appended to the base URL in ``url``), ``refuse_kinds`` (the
    ``Refuse.kind`` values they know) and ``supports_pending``, and implement ``handle``.
    """

    url_prefix = ""
    refuse_kinds: frozenset[str] = frozenset({"prompt"})
    supports_pending = False

    def __init__(self, api_key: str, default_image: bytes | None = None, max_side: int = 1024) -> None:
        if max_side < 16:
            raise ValueError("max_side must be at least 16")
        self.api_key = api_key
        self.default_image = default_image if default_image is not None else default_png()
        decode_image(self.default_image)  # fail early on a bad default
        self.max_side = max_side
        self.lock = threading.RLock()
        self._script: deque[Behaviour] = deque()
        self._calls: list[Call] = []
        self.errors: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Start serving (idempotent); returns self."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name=type(self).__name__, daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without any API prefix."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The base URL an adapter is configured with."""
        return self.base_url + self.url_prefix

    # -- script and records

    def script(self, *behaviours: Behaviour) -> Self:
        """Queue behaviours, one per generation call, after any already queued; empty queue: Echo()."""
        for behaviour in behaviours:
            self._check_behaviour(behaviour)
        with self.lock:
            self._script.extend(behaviours)
        return self

    def _check_behaviour(self, behaviour: Behaviour) -> None:
        if isinstance(behaviour, Pending):
            if not self.supports_pending:
                raise ValueError(f"{type(self).__name__} does not support Pending")
            if behaviour.polls < 0:
                raise ValueError("Pending.polls must be >= 0")
            if isinstance(behaviour.then, Pending):
                raise ValueError("Pending cannot wrap another Pending")
            self._check_behaviour(behaviour.then)
        elif isinstance(behaviour, Refuse) and behaviour.kind not in self.refuse_kinds:
            raise ValueError(f"{type(self).__name__} knows Refuse kinds {sorted(self.refuse_kinds)}")
        elif isinstance(behaviour, Echo) and behaviour.index < 0:
            raise ValueError("Echo.index must be >= 0")
        elif isinstance(behaviour, Fail) and not 400 <= behaviour.status <= 599:
            raise ValueError("Fail.status must be an HTTP error status (400-599)")
        elif not isinstance(behaviour, Behaviour):
            raise TypeError(f"not a behaviour: {behaviour!r}")

    def next_behaviour(self) -> Behaviour:
        """The next scripted behaviour, or Echo() when the script is empty."""
        with self.lock:
            return self._script.popleft() if self._script else Echo()

    @property
    def pending_script(self) -> list[Behaviour]:
        """The behaviours not yet consumed."""
        with self.lock:
            return list(self._script)

    @property
    def calls(self) -> list[Call]:
        """Every request received, in order."""
        with self.lock:
            return list(self._calls)

    @property
    def generation_calls(self) -> list[Call]:
        """Only the requests to the generation endpoint (whatever they were answered)."""
        with self.lock:
            return [call for call in self._calls if call.generation]

    def reset(self) -> None:
        """Forget the script, the recorded calls and errors."""
        with self.lock:
            self._script.clear()
            self._calls.clear()
            self.errors.clear()

    # -- handling

    def handle(self, request: Request, call: Call) -> Response:
        """Answer one request; set ``call.generation`` for generation endpoints."""
        raise NotImplementedError

    def internal_error(self, message: str) -> Response:
        """The provider's 500 shape, for a bug in the fake itself."""
        return json_response(500, {"error": {"message": message}})

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"error": {"message": f"no route for {request.method} {request.path}"}})

    def _dispatch(self, request: Request) -> Response:
        call = Call(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=request.json,
            form={name: list(values) for name, values in request.form.items()},
            files=list(request.files),
            received_at=time.time(),
        )
        with self.lock:
            self._calls.append(call)
        try:
            response = self.handle(request, call)
        except HttpError as exc:
            response = exc.response
        except Exception as exc:
            with self.lock:
                self.errors.append(traceback.format_exc())
            response = self.internal_error(f"fake {type(self).__name__} failed: {type(exc).__name__}")
        call.status = response.status
        call.answered_at = time.time()
        return response


def _make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LikenessFake/1.0"
        sys_version = ""

        def _serve(self) -> None:
            try:
                body = self._read_body()
            except ValueError:
                self.close_connection = True
                self._answer(Response(400, b'{"error": "unreadable body"}'), head=False)
                return
            split = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(
                method=self.command,
                path=split.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=headers,
                body=body,
            )
            content_type = request.content_type
            if body and (content_type in ("", "application/json") or content_type.endswith("+json")):
                try:
                    request.json = json.loads(body)
                except (UnicodeDecodeError, ValueError) as exc:
                    request.json_error = f"invalid JSON body: {exc}"
            elif body and content_type == "multipart/form-data":
                try:
                    request.form, request.files = parse_multipart(body, headers.get("content-type", ""))
                except ValueError as exc:
                    request.form_error = str(exc)
            response = fake._dispatch(request)
            self._answer(response, head=self.command == "HEAD")

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                parts: list[bytes] = []
                while True:
                    size_line = self.rfile.readline(1024)
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline(1024)
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError("negative content-length")
            return self.rfile.read(length) if length else b""

        def _answer(self, response: Response, *, head: bool) -> None:
            self.send_response(response.status)
            self.send_header("content-type", response.content_type)
            self.send_header("content-length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet, and never echo request lines or headers (API keys)

    return Handler
