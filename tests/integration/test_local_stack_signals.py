"""`make run`'s process (python -m infra.local) stops on SIGTERM, as a process manager or
`docker stop` sends it: the API and the emulator go, and their ports are free at once for the
next start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
# generous bounds: they only keep a broken stop from hanging the suite
UP_WITHIN_S = 240.0
DOWN_WITHIN_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_the_stack_and_frees_its_ports(tmp_path: Path) -> None:
    api_port, emulator_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LIKENESS_"))}
    log = (tmp_path / "stack.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "--port", str(api_port), "--emulator-port", str(emulator_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + UP_WITHIN_S
        while "Likeness local stack is up" not in (tmp_path / "stack.log").read_text():
            assert process.poll() is None, (tmp_path / "stack.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the stack did not come up"
            time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{api_port}/api/v1/engines", timeout=10).status_code == 403
        assert _listening(emulator_port)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DOWN_WITHIN_S) == 0
        output = (tmp_path / "stack.log").read_text()
        assert "stopping..." in output and "Traceback" not in output
        assert not _listening(api_port) and not _listening(emulator_port)
        # the next `make run` may take the same ports straight away
        from infra.local.emulator import _ensure_free

        _ensure_free("127.0.0.1", api_port)
        _ensure_free("127.0.0.1", emulator_port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
