"""The index job: one queue message indexes one file. Both consumers run it (the Lambda for
small files, the Batch container for large ones)::

    job = media_index_job()
    job.handle({"account_id": ..., "file_uuid": ..., "run_id": ...})

Idempotent: a message of an older run, for a deleted file, or for a run already finished is
ignored. A file the indexer cannot read (or bad subtitles) fails the file with the reason and
returns; any other error propagates, with nothing irreversible recorded, so the queue retries.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol

from likeness.aws.dynamodb import ConditionFailed, Item
from likeness.aws.eventbridge import EventPublisher
from likeness.clock import now_iso
from likeness.errors import BadRequest, MediaUnreadable
from likeness.media.files import publish_file_event
from likeness.media.index_types import IndexResult, KnownIdentity, Trace
from likeness.media.models import Assignment, FileStatus, IdentityStatus
from likeness.media.records import (
    create_auto_identity,
    file_public,
    identity_names,
    remove_orphan_autos,
)
from likeness.media.store import (
    TRACE_TYPE,
    MediaStore,
    account_pk,
    chunks_key,
    encode_embedding,
    file_prefix,
    file_sk,
    frame_ranges,
    identity_index_pk,
    identity_index_sk,
    index_key,
    trace_sk,
    traces_pk,
)
from likeness.media.subtitles import Cue, load_subtitles, sentence_chunks
from likeness.observability import logger

# auto identities made by a run get uuids derived from it, so a retried run finds its own
_AUTO_NAMESPACE = uuid.UUID("6f1c9a52-54a4-4c5e-9a38-0c1f0e7d2b61")
_IN_PROGRESS = (FileStatus.PENDING.value, FileStatus.PROCESSING.value)


class Indexer(Protocol):
    def index_file(self, path: str, *, kind: Any, known: Sequence[KnownIdentity]) -> IndexResult: ...


def auto_identity_uuid(account_id: str, file_uuid: str, run_id: str, cluster_id: int) -> str:
    return uuid.uuid5(_AUTO_NAMESPACE, f"{account_id}/{file_uuid}/{run_id}/{cluster_id}").hex


class IndexAttemptFailed(Exception):
    """A run failed before its last attempt: the message should come back (after a backoff)."""

    def __init__(self, attempt: int) -> None:
        super().__init__(f"media index attempt {attempt} failed")
        self.attempt = attempt


class MediaIndexJob:
    def __init__(
        self,
        *,
        store: MediaStore,
        events: EventPublisher,
        indexer: Callable[[], Indexer],
        max_attempts: int = 3,
    ) -> None:
        self._store = store
        self._events = events
        self._indexer = indexer
        self._max_attempts = max_attempts

    # ------------------------------------------------------------------ entry points
    def handle(self, message: Mapping[str, Any]) -> None:
        request = _request(message)
        if request is None:
            logger.warning("dropping a malformed media index message", body=dict(message))
            return
        account_id, file_uuid, run_id = request
        item = self._store.get_file(account_id, file_uuid)
        if item is None or item.get("run_id") != run_id or item["status"] not in _IN_PROGRESS:
            logger.info("media index message ignored: stale, finished or deleted", file_uuid=file_uuid)
            return
        try:
            # the run's attempts are counted on the file, one per run that started (a receive
            # that ran nothing, e.g. throttled by the event source, is not an attempt)
            item = self._store.table.update(
                account_pk(account_id),
                file_sk(file_uuid),
                update="SET #status = :processing, processing_started_at = :now, "
                "index_attempts = if_not_exists(index_attempts, :zero) + :one",
                condition="attribute_exists(PK) AND run_id = :run AND #status IN (:pending, :processing)",
                names={"#status": "status"},
                values={
                    ":run": run_id,
                    ":now": now_iso(),
                    ":zero": 0,
                    ":one": 1,
                    ":pending": FileStatus.PENDING.value,
                    ":processing": FileStatus.PROCESSING.value,
                },
            )
        except ConditionFailed:
            return
        try:
            self._run(item)
        except (MediaUnreadable, BadRequest) as exc:
            logger.info("media index failed", file_uuid=file_uuid, reason=exc.message)
            self._fail(item, exc.message)
        except Exception as exc:
            attempt = int(item.get("index_attempts") or 1)
            if attempt < self._max_attempts:
                raise IndexAttemptFailed(attempt) from exc
            # the last attempt: the file must not stay "processing"
            logger.exception("media index gave up", file_uuid=file_uuid, attempt=attempt)
            self._fail(item, f"Indexing failed {attempt} times; last error: {exc}")

    def fail(self, message: Mapping[str, Any], reason: str) -> None:
        """Fail the message's run with ``reason`` (a consumer's last attempt gave up on it)."""
        request = _request(message)
        if request is None:
            return
        item = self._store.get_file(request[0], request[1])
        if item is not None and item.get("run_id") == request[2] and item["status"] in _IN_PROGRESS:
            self._fail(item, reason)

    # ------------------------------------------------------------------ the run
    def _run(self, item: Item) -> None:
        account_id, file_uuid = item["account_id"], item["file_uuid"]
        with tempfile.TemporaryDirectory(prefix="likeness-media-") as workdir:
            ext = os.path.splitext(item["source_key"])[1]
            path = os.path.join(workdir, f"source{ext}")
            self._store.blobs.download(item["source_key"], path)
            cues: list[Cue] | None = None
            if item.get("subtitles_key"):
                cues = load_subtitles(self._store.blobs.get(item["subtitles_key"]))
            known = self._known(account_id, list(item.get("identity_hints") or []))
            started = now_iso()
            result = self._indexer().index_file(path, kind=item["media_type"], known=known)
        logger.info(
            "media file indexed",
            file_uuid=file_uuid,
            traces=len(result.traces),
            auto_clusters=len(result.auto_clusters),
            started_at=started,
        )
        self._store_result(item, result, cues)

    def _known(self, account_id: str, hints: list[str]) -> list[KnownIdentity]:
        """The hinted identities when there are hints, else every identity with enrolled faces
        (auto ones too); inactive identities are never matched."""
        identities = self._store.list_identities(account_id)
        active = {i["identity_uuid"] for i in identities if i["status"] != IdentityStatus.INACTIVE.value}
        wanted = set(hints) & active if hints else active
        return [
            KnownIdentity(identity_uuid=e.identity_uuid, embeddings=e.embeddings)
            for e in self._store.enrollments(account_id)
            if e.identity_uuid in wanted and e.embeddings
        ]

    def _store_result(self, item: Item, result: IndexResult, cues: list[Cue] | None) -> None:
        account_id, file_uuid, run_id = item["account_id"], item["file_uuid"], item["run_id"]
        if not self._current(account_id, file_uuid, run_id):
            return
        media = result.media
        chunks = sentence_chunks(cues, fps=media.fps) if cues and media.fps else []

        # auto identities for the recurring unknown people
        cluster_uuids: dict[int, str] = {}
        for cluster in result.auto_clusters:
            uuid_ = auto_identity_uuid(account_id, file_uuid, run_id, cluster.cluster_id)
            create_auto_identity(
                self._store,
                account_id,
                uuid_,
                embedding=cluster.embedding,
                file_uuid=file_uuid,
                cluster_id=cluster.cluster_id,
            )
            cluster_uuids[cluster.cluster_id] = uuid_
        matched = {t.identity_uuid for t in result.traces if t.identity_uuid}
        existing = set(self._store.get_identities(account_id, matched)) if matched else set()

        # the documents, then the traces (replacing the previous run's)
        self._store.put_json(index_key(account_id, file_uuid), result.to_dict())
        if chunks:
            self._store.put_json(
                chunks_key(account_id, file_uuid), {"fps": media.fps, "chunks": [asdict(c) for c in chunks]}
            )
        else:
            self._store.blobs.delete(chunks_key(account_id, file_uuid))
        previous = self._store.file_traces(account_id, file_uuid)
        counts: dict[str, int] = {}
        items = []
        for trace in result.traces:
            identity, assignment = _assignment(trace, cluster_uuids, existing)
            items.append(_trace_item(account_id, file_uuid, run_id, trace, identity, assignment))
            if identity:
                counts[identity] = counts.get(identity, 0) + trace.face_count
        kept = {trace.trace_id for trace in result.traces}
        stale = [int(old["trace_id"]) for old in previous if int(old["trace_id"]) not in kept]
        self._store.replace_traces(account_id, file_uuid, items, stale_trace_ids=stale)

        now = now_iso()
        fields = {
            "status": FileStatus.COMPLETED.value,
            "error": None,
            "duration": media.duration,
            "fps": media.fps,
            "frames": media.frame_count,
            "width": media.width,
            "height": media.height,
            "decoder": media.decoder,
            "faces_found": sum(t.face_count for t in result.traces),
            "trace_count": len(result.traces),
            "identity_counts": counts,
            "chunk_count": len(chunks),
            "auto_identity_uuids": sorted(set(cluster_uuids.values())),
            "index_seconds": result.stats.seconds.get("total"),
            "indexed_at": now,
            "updated_at": now,
        }
        try:
            completed = self._store.update_file(
                account_id,
                file_uuid,
                set_fields=fields,
                condition="attribute_exists(PK) AND run_id = :run AND #status = :processing",
                names={"#status": "status"},
                values={":run": run_id, ":processing": FileStatus.PROCESSING.value},
            )
        except ConditionFailed:
            self._superseded(item, cluster_uuids)
            return

        # auto identities of the previous run that nothing points at any more
        before = {t["identity_uuid"] for t in previous if t.get("identity_uuid")}
        before |= set(item.get("auto_identity_uuids") or [])
        remove_orphan_autos(
            self._store,
            account_id,
            sorted(before - set(counts)),
            reason=f"file {file_uuid} re-indexed",
            key_id=None,
        )
        public = file_public(completed, identity_names(self._store, account_id, [completed]))
        publish_file_event(self._events, "file.indexed", completed, public)

    def _current(self, account_id: str, file_uuid: str, run_id: str) -> bool:
        item = self._store.get_file(account_id, file_uuid)
        return (
            item is not None
            and item.get("run_id") == run_id
            and item["status"] == FileStatus.PROCESSING.value
        )

    def _superseded(self, item: Item, cluster_uuids: dict[int, str]) -> None:
        """The run lost its file while it ran (deleted, or re-indexed): undo what it wrote."""
        account_id, file_uuid = item["account_id"], item["file_uuid"]
        if self._store.get_file(account_id, file_uuid) is None:
            traces = self._store.file_traces(account_id, file_uuid)
            self._store.delete_traces(account_id, file_uuid, traces)
            self._store.blobs.delete_prefix(file_prefix(account_id, file_uuid))
            involved = [t["identity_uuid"] for t in traces if t.get("identity_uuid")]
            remove_orphan_autos(
                self._store,
                account_id,
                involved + list(cluster_uuids.values()),
                reason=f"file {file_uuid} deleted",
                key_id=None,
            )
        else:
            # a newer run replaces the traces; the auto identities only this run made go
            remove_orphan_autos(
                self._store, account_id, list(cluster_uuids.values()), reason="superseded run", key_id=None
            )
        logger.info("media index result dropped: the file changed while it ran", file_uuid=file_uuid)

    def _fail(self, item: Item, reason: str) -> None:
        account_id, file_uuid = item["account_id"], item["file_uuid"]
        try:
            failed = self._store.update_file(
                account_id,
                file_uuid,
                set_fields={"status": FileStatus.FAILED.value, "error": reason, "updated_at": now_iso()},
                condition="attribute_exists(PK) AND run_id = :run AND #status IN (:pending, :processing)",
                names={"#status": "status"},
                values={
                    ":run": item["run_id"],
                    ":pending": FileStatus.PENDING.value,
                    ":processing": FileStatus.PROCESSING.value,
                },
            )
        except ConditionFailed:
            return
        public = file_public(failed, identity_names(self._store, account_id, [failed]))
        publish_file_event(self._events, "file.failed", failed, public)


def _request(message: Mapping[str, Any]) -> tuple[str, str, str] | None:
    values = [message.get(k) for k in ("account_id", "file_uuid", "run_id")]
    if not all(isinstance(v, str) and v for v in values):
        return None
    return str(values[0]), str(values[1]), str(values[2])


def _assignment(trace: Trace, clusters: dict[int, str], existing: set[str]) -> tuple[str | None, str | None]:
    if trace.identity_uuid and trace.identity_uuid in existing:
        return trace.identity_uuid, Assignment.MATCHED.value
    if trace.auto_cluster is not None and trace.auto_cluster in clusters:
        return clusters[trace.auto_cluster], Assignment.AUTO.value
    return None, None


def _trace_item(
    account_id: str,
    file_uuid: str,
    run_id: str,
    trace: Trace,
    identity_uuid: str | None,
    assignment: str | None,
) -> Item:
    item: Item = {
        "PK": traces_pk(account_id, file_uuid),
        "SK": trace_sk(trace.trace_id),
        "type": TRACE_TYPE,
        "account_id": account_id,
        "file_uuid": file_uuid,
        "trace_id": trace.trace_id,
        "run_id": run_id,
        "start_frame": trace.start_frame,
        "end_frame": trace.end_frame,
        "face_count": trace.face_count,
        "confidence": round(trace.confidence, 4),
        "max_face_px": round(trace.max_face_px, 1),
        "frames": frame_ranges(d.frame_number for d in trace.detections),
        "embedding": encode_embedding(trace.embedding) if trace.embedding else None,
        "embedded_face_ids": list(trace.embedded_face_ids),
        "created_at": now_iso(),
    }
    if identity_uuid:
        item.update(
            {
                "identity_uuid": identity_uuid,
                "assignment": assignment,
                "distance": round(trace.distance, 4) if trace.distance is not None else None,
                "GSI1PK": identity_index_pk(account_id, identity_uuid),
                "GSI1SK": identity_index_sk(file_uuid, trace.trace_id),
            }
        )
    return item
