"""A job as the Jobs API (avatar-jobs spec) shows it: ``object: "job"``, unix times, status words.

The same shape is the ``data`` of ``job.*`` webhook events, so a subscriber and a poller read
the same fields. Result files are shown as signed URLs made at read time.
"""

from __future__ import annotations

from typing import Any

from likeness.aws.dynamodb import Item
from likeness.aws.s3 import BlobStore
from likeness.jobs.models import JobState, epoch_of

# the avatar-jobs spec's words for the shared states
STATUS_WORDS = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "running",
    JobState.SUCCEEDED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}

# where a job type's results also appear under a name of their own in ``data``
_ALIASES: dict[str, tuple[str, bool]] = {
    "avatar_generation": ("avatar", False),  # data.avatar.image_url, as the spec polls it
    "identity_creation": ("drafts", True),  # data.drafts[].image_result_id
}


def status_word(job: Item) -> str:
    return STATUS_WORDS[JobState(job["state"])]


class JobPresenter:
    def __init__(self, *, blobs: BlobStore, url_ttl_seconds: int) -> None:
        self._blobs = blobs
        self._ttl = url_ttl_seconds

    def result(self, result: Item) -> dict[str, Any]:
        url = self._blobs.signed_url(result["key"], expires_in=self._ttl)
        shown: dict[str, Any] = {
            "result_id": result["result_id"],
            "kind": result["kind"],
            "url": url,
            "content_type": result["content_type"],
            "width": result["width"],
            "height": result["height"],
            "url_expires_in": self._ttl,
            "consistency": result.get("consistency"),
            "details": result.get("details") or {},
        }
        if result["kind"] == "image":
            shown["image_url"] = url
        else:
            shown["video_url"] = url
            shown["duration_seconds"] = result.get("duration_seconds")
        return shown

    def data(self, job: Item) -> dict[str, Any] | None:
        if JobState(job["state"]) is not JobState.SUCCEEDED:
            return None
        results = [self.result(r) for r in (job.get("outputs") or {}).get("results", [])]
        data: dict[str, Any] = {"results": results}
        alias = _ALIASES.get(job["job_type"])
        if alias is not None:
            name, many = alias
            if many:
                data[name] = [{"image_result_id": r["result_id"], **r} for r in results]
            elif results:
                data[name] = results[0]
        return data

    def present(self, job: Item) -> dict[str, Any]:
        error = job.get("error")
        return {
            "id": job["job_id"],
            "job_id": job["job_id"],
            "object": "job",
            "type": job["job_type"],
            "status": status_word(job),
            "created": epoch_of(job["created_at"]),
            "started": epoch_of(job.get("started_at")),
            "completed": epoch_of(job.get("finished_at")),
            "deadline": epoch_of(job.get("deadline_at")),
            "engine": job.get("engine"),
            "cost": job.get("cost", 0),
            "refunded": bool(job.get("refunded")),
            "attempts": job.get("attempts", 0),
            "client_reference_id": job.get("client_reference"),
            "metadata": job.get("metadata") or {},
            "parent_job_id": job.get("parent_job_id"),
            "error": {"code": error.get("code"), "message": error.get("message")} if error else None,
            "data": self.data(job),
        }
