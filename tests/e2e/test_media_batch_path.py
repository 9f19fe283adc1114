"""A large media file through the GPU path of the local stack: API -> MediaBatchQueue ->
MediaIndexPipe -> the job definition's command (`python -m gpu_jobs.media_index ...`), run by
the local stack as a CPU subprocess -> the file's index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser
from tests.helpers import face_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture
def everything_goes_to_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every file counts as large: the API sends it to the batch queue instead of the Lambda's."""
    from likeness.settings import get_settings

    monkeypatch.setenv("LIKENESS_MEDIA_LAMBDA_MAX_BYTES", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _wait_for_file(user: ApiUser, file_uuid: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = user.client.get(f"/api/v1/files/{file_uuid}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in ("completed", "failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"file {file_uuid} still {body['status']} after {timeout}s")
        time.sleep(0.25)


def test_a_large_file_is_indexed_by_the_batch_job_through_the_pipe(
    local_stack: Any, alice: ApiUser, everything_goes_to_batch: None
) -> None:
    pipes = local_stack.pipes
    assert pipes is not None and [p.logical_id for p in pipes.pipes] == ["MediaIndexPipe"]
    resp = alice.client.post(
        "/api/v1/files", files={"file": ("obama.jpg", face_bytes("obama.jpg"), "image/jpeg")}
    )
    assert resp.status_code == 202, resp.text
    file_uuid = resp.json()["file_uuid"]

    indexed = _wait_for_file(alice, file_uuid)
    assert indexed["status"] == "completed", indexed
    assert indexed["faces_found"] >= 1
    # it was the pipe's subprocess that did it, with the message's fields on its command line
    local_stack.drain(timeout=60)  # the job records the file before its process exits
    [run] = [r for r in pipes.history if file_uuid in r.command]
    assert run.exit_code == 0
    assert run.command[1:3] == ["-m", "gpu_jobs.media_index"]
    assert run.command[run.command.index("--account-id") + 1] == alice.account_id
