"""The admin CLI as an operator runs it (a process of its own): its stdout is its JSON alone,
so it can be piped into jq; log lines go to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import FACES, ROOT

pytestmark = pytest.mark.e2e


def _admin(*args: str) -> subprocess.CompletedProcess[str]:
    # the stack exported its endpoint, table and queues to this process's environment
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "likeness.admin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_stdout_is_only_the_json_even_when_the_command_logs(local_stack: Any) -> None:
    created = _admin("account-create", "--name", "cli-output", "--credits", "5")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    assert account["api_key"].startswith("lk_") and account["credits"] == 5

    # seeding a default identity detects the face, queues preprocessing and publishes an event
    name = f"cli-default-{account['account_id'][-6:]}"
    seeded = _admin("default-identity-add", "--name", name, "--file", str(FACES / "obama_small.jpg"))
    assert seeded.returncode == 0, seeded.stderr
    identity = json.loads(seeded.stdout)
    assert identity["name"] == name and identity["visibility"] == "default"
    logged = [json.loads(line) for line in seeded.stderr.splitlines() if line.startswith("{")]
    assert logged and all(line["service"] == "likeness" for line in logged), seeded.stderr

    # a refused command: the reason on stderr, nothing on stdout
    again = _admin("default-identity-add", "--name", name, "--file", str(FACES / "obama_small.jpg"))
    assert again.returncode == 2
    assert again.stdout == ""
    assert "already exists" in again.stderr
