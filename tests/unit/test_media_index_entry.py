"""The media index batch job's container entry (gpu_jobs/media_index): messages, exit codes, device."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from typing import Any

import pytest

from gpu_jobs.media_index import app
from tests.helpers import EVENTS, ROOT

MESSAGE = {"account_id": "acc_1", "file_uuid": "f-1", "run_id": "r-1"}


class _FakeJob:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.handled: list[dict[str, Any]] = []
        self.failed: list[tuple[dict[str, Any], str]] = []

    def fail(self, message: dict[str, Any], reason: str) -> None:
        self.failed.append((message, reason))

    def handle(self, message: dict[str, Any]) -> None:
        self.handled.append(message)
        if self.error is not None:
            raise self.error


@pytest.fixture
def job(monkeypatch: pytest.MonkeyPatch) -> _FakeJob:
    from likeness import wiring

    fake = _FakeJob()
    monkeypatch.setattr(wiring, "media_index_job", lambda: fake)
    monkeypatch.setattr(app, "cuda_available", lambda: False)
    monkeypatch.delenv(app.DEVICE_ENV, raising=False)
    return fake


def test_a_message_json_is_handled_and_exits_0(job: _FakeJob) -> None:
    assert app.main([json.dumps(MESSAGE)]) == app.EXIT_OK
    assert job.handled == [MESSAGE]


def test_the_job_definitions_flags_make_the_same_message(job: _FakeJob) -> None:
    argv = ["--account-id", "acc_1", "--file-uuid", "f-1", "--run-id", "r-1"]
    assert app.main(argv) == app.EXIT_OK
    assert job.handled == [MESSAGE]


def test_the_canonical_batch_parameters_are_a_message() -> None:
    parameters = json.loads((EVENTS / "media_index_batch_job.json").read_text())["parameters"]
    [record] = json.loads((EVENTS / "media_batch_pipe_sqs.json").read_text())
    assert app.parse_message(parameters) == json.loads(record["body"])


def test_a_transient_error_exits_75_so_batch_retries(job: _FakeJob) -> None:
    job.error = ConnectionError("S3 is away")
    assert app.main([json.dumps(MESSAGE)]) == app.EXIT_RETRY == 75
    assert job.failed == []


def test_on_batchs_last_attempt_the_file_is_failed_with_the_error(
    job: _FakeJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.error = ConnectionError("S3 is away")
    monkeypatch.setenv("AWS_BATCH_JOB_ATTEMPT", "3")
    assert app.main([json.dumps(MESSAGE)]) == app.EXIT_OK
    [(message, reason)] = job.failed
    assert message == MESSAGE and "3 times" in reason and "S3 is away" in reason


@pytest.mark.parametrize(
    "argv",
    [
        ["{not json"],
        [json.dumps(["a list"])],
        [json.dumps({"file_uuid": "f-1"})],
        ["--account-id", "acc_1", "--file-uuid", "Ref::file_uuid"],  # a parameter nobody set
    ],
)
def test_an_unusable_message_exits_2_which_batch_does_not_retry(job: _FakeJob, argv: list[str]) -> None:
    assert app.main(argv) == app.EXIT_INVALID == 2
    assert job.handled == []


@pytest.mark.parametrize(
    "argv",
    [[], [json.dumps(MESSAGE), "--drain-queue", "http://q"], [json.dumps(MESSAGE), "--file-uuid", "x"]],
)
def test_exactly_one_mode_is_required(job: _FakeJob, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        app.main(argv)
    assert exited.value.code == 2


def test_auto_selects_the_cpu_without_cuda_and_exports_it(job: _FakeJob) -> None:
    import os

    assert app.select_device() == "cpu"
    assert os.environ[app.DEVICE_ENV] == "cpu"


def test_auto_selects_cuda_when_pytorch_sees_a_gpu(job: _FakeJob, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    torch = types.SimpleNamespace(
        __version__="2.5.1",
        version=types.SimpleNamespace(cuda="12.4"),
        cuda=types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda index: "NVIDIA H100"),
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(app, "cuda_available", lambda: True)
    monkeypatch.setenv(app.DEVICE_ENV, "auto")
    assert app.main([json.dumps(MESSAGE)]) == app.EXIT_OK
    assert os.environ[app.DEVICE_ENV] == "cuda"


def test_the_real_probe_says_no_gpu_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    assert app.cuda_available() is False


def test_cuda_demanded_on_a_host_without_one_is_retried_elsewhere(job: _FakeJob) -> None:
    assert app.main([json.dumps(MESSAGE), "--device", "cuda"]) == app.EXIT_RETRY
    assert job.handled == []


def test_an_unknown_device_setting_is_not_retried(job: _FakeJob, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(app.DEVICE_ENV, "tpu")
    assert app.main([json.dumps(MESSAGE)]) == app.EXIT_INVALID


class _FakeSqs:
    """receive/delete/change_message_visibility on an in-memory queue (no visibility clock)."""

    def __init__(self, bodies: list[str]) -> None:
        self.waiting = [
            {"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": b} for i, b in enumerate(bodies)
        ]
        self.deleted: list[str] = []
        self.extended: list[str] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"VisibilityTimeout": "300"}}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        taken, self.waiting = (
            self.waiting[: kwargs["MaxNumberOfMessages"]],
            self.waiting[kwargs["MaxNumberOfMessages"] :],
        )
        return {"Messages": taken} if taken else {}

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> None:  # noqa: N803 - boto3's names
        self.deleted.append(ReceiptHandle)

    def change_message_visibility(self, **kwargs: Any) -> None:
        self.extended.append(kwargs["ReceiptHandle"])


def test_drain_queue_handles_until_empty_and_leaves_failures(
    job: _FakeJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = {**MESSAGE, "file_uuid": "f-bad"}
    sqs = _FakeSqs(
        [json.dumps(MESSAGE), json.dumps(failing), "garbage", json.dumps({**MESSAGE, "file_uuid": "f-2"})]
    )

    class _Picky(_FakeJob):
        def handle(self, message: dict[str, Any]) -> None:
            super().handle(message)
            if message["file_uuid"] == "f-bad":
                raise TimeoutError("DynamoDB")

    picky = _Picky()
    from likeness import wiring

    monkeypatch.setattr(wiring, "media_index_job", lambda: picky)
    assert app.drain_queue("http://queue", wait_seconds=0, sqs=sqs) == app.EXIT_RETRY
    assert [m["file_uuid"] for m in picky.handled] == ["f-1", "f-bad", "f-2"]
    assert sqs.deleted == ["h0", "h3"]  # the failure and the garbage stay for redelivery / the DLQ

    clean = _FakeSqs([json.dumps(MESSAGE)])
    assert app.drain_queue("http://queue", wait_seconds=0, sqs=clean, max_messages=5) == app.EXIT_OK
    assert clean.deleted == ["h0"]


def test_the_module_runs_as_python_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gpu_jobs.media_index", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0 and "--drain-queue" in out.stdout and "--file-uuid" in out.stdout
