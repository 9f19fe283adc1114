"""lambda_entrypoint: each invocation's log lines name its function, even when two functions
run at once in one process (as in the local stack), and on Lambda so do lines outside one."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

from tests.helpers import ROOT


class _Context:
    def __init__(self, name: str) -> None:
        self.function_name = f"likeness-test-{name}"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:likeness-test-{name}"
        self.aws_request_id = f"req-{name}"
        self.memory_limit_in_mb = 256
        self.function_version = "$LATEST"


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_two_functions_invoked_at_once_each_name_their_own_lines(caplog: pytest.LogCaptureFixture) -> None:
    from likeness.observability import lambda_entrypoint, logger

    caplog.set_level(logging.INFO)
    both_started = threading.Barrier(2, timeout=10)

    def make(name: str) -> Any:
        @lambda_entrypoint(name)
        def handler(event: dict[str, Any], context: Any) -> None:
            logger.info("before", writer=name)
            both_started.wait()  # the other function's invocation has started meanwhile
            logger.info("after", writer=name)
            logging.getLogger("likeness.child").warning("child logger", extra={"writer": name})

        return handler

    threads = [
        threading.Thread(target=make(name), args=({}, _Context(name)))
        for name in ("FirstFunction", "SecondFunction")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    lines = [json.loads(logger.registered_handler.format(r)) for r in caplog.records if hasattr(r, "writer")]
    assert len(lines) == 6
    for line in lines:
        assert line["function"] == line["writer"], line
        assert line["function_name"] == f"likeness-test-{line['writer']}", line
        assert line["function_request_id"] == f"req-{line['writer']}", line


def test_on_lambda_lines_outside_an_invocation_name_the_function_too() -> None:
    probe = (
        "from likeness.observability import lambda_entrypoint, logger\n"
        "lambda_entrypoint('SweeperFunction')(lambda event, context: None)\n"
        "logger.info('loaded')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers"), str(ROOT)]),
        "AWS_LAMBDA_FUNCTION_NAME": "likeness-prod-SweeperFunction-x1",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.splitlines()[-1])["function"] == "SweeperFunction"
