"""moto in server mode: the AWS emulator of the local stack.

Two ways to run it:

* ``isolated=True`` (default): ``python -m moto.server`` in a child process. Its state is its
  own, so a test that enters ``mock_aws()`` in this process (which resets moto's in-process
  backends and would otherwise share them) neither wipes the stack's tables nor gets its
  messages eaten by the stack's consumer threads. ``mock_aws`` leaves requests to a custom
  endpoint alone, so the two coexist.
* ``isolated=False``: ``moto.server.ThreadedMotoServer`` in a thread of this process; a
  little faster to start, but its state is the process-wide moto backend described above.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from infra.local._environ import EnvironmentPatch, reset_caches

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
START_TIMEOUT_S = 20.0

# The child exits when this process goes away, even on SIGKILL (no atexit then).
_CHILD_BOOTSTRAP = """
import os, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()
sys.path.insert(0, sys.argv[2])
from infra.local.moto_scale import install
install()
from moto.server import main
main(sys.argv[3:])
"""
_REPO_ROOT = str(Path(__file__).resolve().parents[2])


class _Server(Protocol):
    def stop(self) -> None: ...


@dataclass
class Emulator:
    """A running moto server; ``stop()`` shuts it down and restores the environment."""

    url: str
    host: str
    port: int
    started_in_s: float
    isolated: bool
    _server: _Server = field(repr=False)
    _environment: EnvironmentPatch = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        """The process that holds the emulated state (this one for the threaded emulator)."""
        process = getattr(self._server, "_process", None)
        return int(process.pid) if process is not None else os.getpid()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self._environment.restore()
        reset_caches()
        log.info("emulator at %s stopped", self.url)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ThreadedServer:
    def __init__(self, host: str, port: int) -> None:
        from moto.server import ThreadedMotoServer  # imported here: it loads every moto backend

        from infra.local.moto_scale import install as make_moto_behave

        make_moto_behave()
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])

    def stop(self) -> None:
        self._server.stop()


class _ChildServer:
    def __init__(self, host: str, port: int) -> None:
        if port:
            _ensure_free(host, port)  # else the readiness probe would find the other server
        self.port = port or _free_port(host)
        handle, log_name = tempfile.mkstemp(prefix="likeness-moto-", suffix=".log")
        self._log_path = Path(log_name)
        with os.fdopen(handle, "wb") as log_file:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CHILD_BOOTSTRAP,
                    str(os.getpid()),
                    _REPO_ROOT,
                    "-H",
                    host,
                    "-p",
                    str(self.port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        atexit.register(self.stop)
        try:
            self._wait_until_listening(host)
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self, host: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto exited with {self._process.returncode}: {self._log_tail()}")
            try:
                with socket.create_connection((host, self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto did not listen on {host}:{self.port}: {self._log_tail()}"
                    ) from None
                time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._log_path.unlink(missing_ok=True)


def _ensure_free(host: str, port: int) -> None:
    """Refuse a port some server listens on; connections of a stopped stack still in TIME_WAIT
    do not count (SO_REUSEADDR, as the servers themselves bind), so a restart works at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"{host}:{port} is already in use (LocalStack? use --external)") from exc


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_emulator(
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    isolated: bool = True,
    configure_environment: bool = True,
    quiet: bool = True,
) -> Emulator:
    """Start moto on ``host:port`` (a free port when ``port`` is None or 0).

    With ``configure_environment`` the process is pointed at it: AWS_ENDPOINT_URL, dummy
    credentials (so real ones never leave the machine) and a default region.
    """
    if quiet and not isolated:
        # werkzeug logs every emulated AWS call at INFO; keep the dev console readable
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    started = time.perf_counter()
    server: _ChildServer | _ThreadedServer
    if isolated:
        try:
            server = _ChildServer(host, port or 0)
        except RuntimeError:
            if port:
                raise
            server = _ChildServer(host, 0)  # the free port was taken meanwhile: once more
    else:
        server = _ThreadedServer(host, port or 0)
    url = f"http://{host}:{server.port}"
    elapsed = time.perf_counter() - started

    environment = EnvironmentPatch()
    if configure_environment:
        environment.update(
            {
                "AWS_ENDPOINT_URL": url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            }
        )
        # a session token from the developer's shell must not mix with the dummies
        for key in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            if key in os.environ:
                environment.set(key, "testing")
        environment.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
        overridden = sorted(k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_"))
        if overridden:
            log.warning("service endpoint overrides bypass the emulator: %s", ", ".join(overridden))
        reset_caches()

    log.info(
        "emulator (moto %s, %s) listening on %s in %.2fs",
        _moto_version(),
        "child process" if isolated else "in-process thread",
        url,
        elapsed,
    )
    return Emulator(url, host, server.port, elapsed, isolated, server, environment)


def _moto_version() -> str:
    try:
        from importlib.metadata import version

        return version("moto")
    except Exception:  # metadata is cosmetic here
        return "?"
