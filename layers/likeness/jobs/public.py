"""A job as the Jobs API (avatar-jobs spec) shows it: ``object: "job"``, unix times, status words.

The same shape is the ``data`` of ``job.*`` webhook events, so a subscriber and a poller read
the same fields. Result files are shown as signed URLs made at read time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


@dataclass(frozen=True)
class SurfaceView:
    """How a surface shows its own job type: its event names and its payload shape."""

    event_prefix: str  # "generation" -> generation.completed, generation.failed, ...
    present: Callable[[Item], dict[str, Any]]


def available_until(result: Mapping[str, Any], retention_seconds: int) -> datetime:
    created = datetime.fromisoformat(str(result["created_at"]).replace("Z", "+00:00"))
    return created + timedelta(seconds=retention_seconds)


class JobPresenter:
    """Jobs as the Jobs API shows them; surfaces registered in ``surfaces`` name their own events.

    Generated files are served for ``retention_seconds`` after they were made: a signed URL
    never outlives that window, and after it ``available`` is false and no URL is given.
    """

    def __init__(
        self,
        *,
        blobs: BlobStore,
        url_ttl_seconds: int,
        retention_seconds: int | None = None,
        surfaces: Mapping[str, SurfaceView] | None = None,
    ) -> None:
        self._blobs = blobs
        self._ttl = url_ttl_seconds
        self.retention_seconds = retention_seconds or url_ttl_seconds
        self.surfaces = dict(surfaces or {})

    def event(self, job: Item, status: str) -> tuple[str, dict[str, Any]]:
        """The event name and payload of a job's state change."""
        surface = self.surfaces.get(job["job_type"])
        if surface is None:
            return f"job.{status}", self.present(job)
        return f"{surface.event_prefix}.{status}", surface.present(job)

    def file_url(self, result: Mapping[str, Any]) -> tuple[str | None, int]:
        """A signed URL of a result's file that expires with its availability window (or None)."""
        left = int((available_until(result, self.retention_seconds) - datetime.now(UTC)).total_seconds())
        if left <= 0:
            return None, 0
        ttl = min(self._ttl, left)
        return self._blobs.signed_url(result["key"], expires_in=ttl), ttl

    def result(self, result: Item) -> dict[str, Any]:
        url, ttl = self.file_url(result)
        shown: dict[str, Any] = {
            "result_id": result["result_id"],
            "kind": result["kind"],
            "url": url,
            "available": url is not None,
            "content_type": result["content_type"],
            "width": result["width"],
            "height": result["height"],
            "url_expires_in": ttl,
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
        outputs = job.get("outputs") or {}
        # generated files are result summaries; older preprocessing jobs kept bare keys: not shown
        results = [self.result(r) for r in outputs.get("results", []) if isinstance(r, dict)]
        data: dict[str, Any] = {k: v for k, v in outputs.items() if k != "results"}
        data["results"] = results
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
