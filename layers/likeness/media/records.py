"""What the media services share: public shapes of stored items, errors, and the bookkeeping
that keeps files and identities consistent (per-file identity counts, orphaned auto identities)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, Item
from likeness.clock import now_iso
from likeness.errors import Conflict, Forbidden, NotFound, Unprocessable
from likeness.media.audit import add_audit
from likeness.media.models import (
    UUID_HEX,
    Appearance,
    FileIdentity,
    FilePublic,
    FileStatus,
    IdentityPublic,
    IdentitySource,
    IdentityStatus,
    MediaType,
)
from likeness.media.store import (
    IDENTITY_TYPE,
    EnrolledFace,
    Enrollment,
    MediaStore,
    account_pk,
    chunks_key,
    identity_sk,
    index_key,
    name_key,
    profile_prefix,
)
from likeness.media.subtitles import SentenceChunk
from likeness.observability import logger

IDENTITY_ROUTE = "/api/v1/identity/{uuid}"


# ---------------------------------------------------------------------------- access
def require_scope(caller: Caller, scope: Scope) -> None:
    if not caller.can(scope):
        raise Forbidden(f"this API key lacks the '{scope.value}' scope")


def is_uuid(value: str) -> bool:
    return bool(UUID_HEX.match(value))


def identity_not_found(identity_uuid: str) -> NotFound:
    return NotFound(
        f"identity {identity_uuid} not found",
        code="identity_not_found",
        fix="GET /api/v1/identities lists yours.",
    )


def file_not_found(file_uuid: str) -> NotFound:
    return NotFound(
        f"file {file_uuid} not found", code="file_not_found", fix="GET /api/v1/files lists yours."
    )


def face_not_found(file_uuid: str, face_id: str) -> NotFound:
    return NotFound(
        f"file {file_uuid} has no face {face_id}",
        code="face_not_found",
        fix=f"GET /api/v1/files/{file_uuid}/faces lists its faces and their face_id.",
    )


def name_taken(name: str) -> Conflict:
    return Conflict(
        f"an identity named {name!r} already exists in this account",
        code="identity_name_taken",
        fix="Choose another name, or merge the two identities (POST /api/v1/identities/merge).",
    )


def invalid_face_id(face_id: str) -> Unprocessable:
    return Unprocessable(
        f"face_id must look like '{{frame}}_{{idx}}' (e.g. '12_0'), 'face_{{frame}}_{{idx}}' or "
        f"'face_{{frame}}'; got {face_id!r}",
        code="invalid_request",
        fix=f"Take face_id from GET /api/v1/files/{{file_uuid}}/faces. (got {face_id!r})",
    )


def require_identity(store: MediaStore, account_id: str, identity_uuid: str) -> Item:
    item = store.get_identity(account_id, identity_uuid) if is_uuid(identity_uuid) else None
    if item is None:
        raise identity_not_found(identity_uuid)
    return item


def require_file(store: MediaStore, account_id: str, file_uuid: str) -> Item:
    item = store.get_file(account_id, file_uuid) if is_uuid(file_uuid) else None
    if item is None:
        raise file_not_found(file_uuid)
    return item


def require_indexed(file_item: Item) -> None:
    if file_item["status"] != FileStatus.COMPLETED.value:
        raise Conflict(
            f"file {file_item['file_uuid']} is {file_item['status']}, not indexed",
            code="file_not_indexed",
            fix="Wait until GET /api/v1/files/{file_uuid} says status completed.",
        )


# ---------------------------------------------------------------------------- public shapes
def _json_field(item: Item, attr: str) -> dict[str, Any]:
    raw = item.get(attr)
    return dict(json.loads(raw)) if raw else {}


def identity_public(item: Item) -> IdentityPublic:
    uuid = item["identity_uuid"]
    return IdentityPublic(
        identity_uuid=uuid,
        name=item["name"],
        identity_type=item.get("identity_type"),
        source=IdentitySource(item["source"]),
        status=IdentityStatus(item["status"]),
        tmdb_id=item.get("tmdb_id"),
        tmdb_profile=item.get("tmdb_profile"),
        metadata=_json_field(item, "metadata_json"),
        reference_data=_json_field(item, "reference_data_json"),
        created_at=item["created_at"],
        updated_at=item.get("updated_at"),
        profile_image_url=(
            IDENTITY_ROUTE.format(uuid=uuid) + "/profile-image" if item.get("profile_image_key") else None
        ),
    )


def file_public(item: Item, names: dict[str, str]) -> FilePublic:
    """``names``: identity uuid -> name, for the identities in the file (unknown ones are left out)."""
    counts: dict[str, Any] = item.get("identity_counts") or {}
    identities = sorted(
        (
            FileIdentity(identity_uuid=uuid, name=names[uuid], face_count=int(count))
            for uuid, count in counts.items()
            if uuid in names
        ),
        key=lambda i: (-i.face_count, i.name.casefold()),
    )
    return FilePublic(
        file_uuid=item["file_uuid"],
        filename=item["filename"],
        content_type=item["content_type"],
        media_type=MediaType(item["media_type"]),
        size_bytes=int(item["size_bytes"]),
        status=FileStatus(item["status"]),
        duration=item.get("duration"),
        fps=item.get("fps"),
        frames=item.get("frames"),
        width=item.get("width"),
        height=item.get("height"),
        faces_found=int(item.get("faces_found", 0)),
        traces=int(item.get("trace_count", 0)),
        identities=identities,
        subtitles=bool(item.get("subtitles_key")),
        chunk_count=int(item.get("chunk_count", 0)),
        identity_hints=list(item.get("identity_hints") or []),
        error=item.get("error"),
        created_at=item["created_at"],
        updated_at=item.get("updated_at"),
        indexed_at=item.get("indexed_at"),
    )


def identity_names(store: MediaStore, account_id: str, files: Iterable[Item]) -> dict[str, str]:
    wanted = {uuid for f in files for uuid in (f.get("identity_counts") or {})}
    return {u: i["name"] for u, i in store.get_identities(account_id, wanted).items()} if wanted else {}


# ---------------------------------------------------------------------------- time
def frame_time(frame: int, fps: float | None) -> float:
    return round(frame / fps, 3) if fps else 0.0


def appearances(ranges: Iterable[tuple[int, int]], fps: float | None) -> list[Appearance]:
    """On-screen ranges (inclusive frames) merged where they overlap or touch; a range ends
    when its last frame ends (``(end_frame + 1) / fps``)."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [
        Appearance(
            start_frame=s,
            end_frame=e,
            start_time=frame_time(s, fps),
            end_time=frame_time(e + 1, fps) if fps else 0.0,
        )
        for s, e in merged
    ]


# ---------------------------------------------------------------------------- stored documents
class IndexDocument:
    """A file's index.json, read for the routes that need every detection's box."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def detections(self, trace_id: int) -> list[dict[str, Any]]:
        return self._by_trace.get(trace_id, [])

    def trace_of(self, frame_number: int, idx: int) -> int | None:
        return self._faces.get((frame_number, idx))

    def idxs_in_frame(self, frame_number: int) -> list[int]:
        """The idx of every face indexed in this frame, ascending."""
        return sorted(idx for frame, idx in self._faces if frame == frame_number)

    @cached_property
    def _by_trace(self) -> dict[int, list[dict[str, Any]]]:
        return {int(t["trace_id"]): list(t.get("detections") or []) for t in self.data.get("traces", [])}

    @cached_property
    def _faces(self) -> dict[tuple[int, int], int]:
        return {
            (int(d["frame_number"]), int(d["idx"])): trace_id
            for trace_id, detections in self._by_trace.items()
            for d in detections
        }


def load_index(store: MediaStore, account_id: str, file_uuid: str) -> IndexDocument:
    data = store.get_json(index_key(account_id, file_uuid))
    return IndexDocument(data=data if isinstance(data, dict) else {"traces": []})


def sentence_chunk(data: dict[str, Any]) -> SentenceChunk:
    return SentenceChunk(
        index=int(data["index"]),
        start_time=float(data["start_time"]),
        end_time=float(data["end_time"]),
        start_frame=int(data["start_frame"]),
        end_frame=int(data["end_frame"]),
        fps=float(data["fps"]),
        text=str(data["text"]),
    )


def load_chunks(store: MediaStore, account_id: str, file_item: Item) -> list[dict[str, Any]]:
    if not file_item.get("chunk_count"):
        return []
    data = store.get_json(chunks_key(account_id, file_item["file_uuid"]))
    return list(data.get("chunks") or []) if isinstance(data, dict) else []


# ---------------------------------------------------------------------------- bookkeeping
def refresh_file_identities(store: MediaStore, account_id: str, file_uuids: Iterable[str]) -> None:
    """Recount each file's faces per identity from its traces (after assignments changed)."""
    for file_uuid in dict.fromkeys(file_uuids):
        counts: dict[str, int] = {}
        for trace in store.file_traces(account_id, file_uuid):
            uuid = trace.get("identity_uuid")
            if uuid:
                counts[uuid] = counts.get(uuid, 0) + int(trace.get("face_count", 0))
        try:
            store.update_file(account_id, file_uuid, set_fields={"identity_counts": counts})
        except ConditionFailed:
            continue  # the file went meanwhile


def delete_identity_objects(store: MediaStore, account_id: str, identity_uuid: str) -> None:
    try:
        store.blobs.delete_prefix(profile_prefix(account_id, identity_uuid))
    except Exception:
        # the record is gone: an orphan object is left, never a dangling record
        logger.exception("could not delete an identity's profile image", identity_uuid=identity_uuid)


def remove_orphan_autos(
    store: MediaStore, account_id: str, identity_uuids: Sequence[str], *, reason: str, key_id: str | None
) -> list[str]:
    """Delete the ``auto`` identities among these that no trace points at any more and that no
    person ever edited (renamed, bound, merged into, profile image). Returns their uuids."""
    removed: list[str] = []
    for uuid in dict.fromkeys(identity_uuids):
        item = store.get_identity(account_id, uuid)
        if item is None or item["source"] != IdentitySource.AUTO.value or item.get("user_edited"):
            continue
        if store.identity_traces(account_id, uuid, limit=1):
            continue
        try:
            store.delete_identity(account_id, item)
        except ConditionFailed:
            continue
        delete_identity_objects(store, account_id, uuid)
        add_audit(
            store,
            account_id,
            action="delete",
            identity_uuids=[uuid],
            details={"name": item["name"], "reason": reason},
            key_id=key_id,
        )
        removed.append(uuid)
    return removed


# ---------------------------------------------------------------------------- new identities
def identity_item(
    account_id: str,
    identity_uuid: str,
    *,
    name: str,
    source: IdentitySource,
    status: IdentityStatus,
    identity_type: str | None = "people",
    tmdb_id: int | None = None,
    tmdb_profile: str | None = None,
    metadata: dict[str, Any] | None = None,
    reference_data: dict[str, Any] | None = None,
    user_edited: bool = True,
) -> Item:
    """A new identity's item (``updated_at`` stays null until it changes)."""
    return {
        "PK": account_pk(account_id),
        "SK": identity_sk(identity_uuid),
        "type": IDENTITY_TYPE,
        "account_id": account_id,
        "identity_uuid": identity_uuid,
        "name": name,
        "name_key": name_key(name),
        "identity_type": identity_type,
        "source": source.value,
        "status": status.value,
        "tmdb_id": tmdb_id,
        "tmdb_profile": tmdb_profile,
        "metadata_json": json.dumps(metadata or {}, separators=(",", ":")),
        "reference_data_json": json.dumps(reference_data or {}, separators=(",", ":")),
        "user_edited": user_edited,
        "created_at": now_iso(),
    }


def create_identity(store: MediaStore, item: Item, *, enrollment: Enrollment | None = None) -> None:
    """Write a new identity; 409 when its uuid or its name is taken in this account."""
    try:
        store.create_identity(item, enrollment=enrollment)
    except ConditionFailed as exc:
        reasons = exc.reasons + [None, None]
        if reasons[0] == "ConditionalCheckFailed":
            raise Conflict(
                f"identity {item['identity_uuid']} already exists in this account",
                code="identity_uuid_taken",
                fix="Send another identity_uuid, or the existing identity's name to update it.",
            ) from exc
        raise name_taken(item["name"]) from exc


_AUTO_NAME_ATTEMPTS = 20


def create_auto_identity(
    store: MediaStore,
    account_id: str,
    identity_uuid: str,
    *,
    embedding: tuple[float, ...],
    file_uuid: str,
    cluster_id: int,
) -> Item | None:
    """An ``auto`` identity (``Unknown N``, pending) for a recurring unknown face, enrolled with
    its cluster's embedding. None when this uuid exists already (a retried job)."""
    enrollment = Enrollment(
        identity_uuid=identity_uuid,
        faces=[EnrolledFace(embedding=tuple(embedding), kind="cluster", file_uuid=file_uuid)],
    )
    for _ in range(_AUTO_NAME_ATTEMPTS):
        number = store.next_unknown_number(account_id)
        item = identity_item(
            account_id,
            identity_uuid,
            name=f"Unknown {number}",
            source=IdentitySource.AUTO,
            status=IdentityStatus.PENDING,
            reference_data={"origin_file_uuid": file_uuid, "cluster_id": cluster_id},
            user_edited=False,
        )
        try:
            store.create_identity(item, enrollment=enrollment)
        except ConditionFailed as exc:
            if (exc.reasons + [None])[0] == "ConditionalCheckFailed":
                return None
            continue  # someone named a person "Unknown N": take the next number
        return item
    raise Conflict("could not name a new auto identity", code="identity_name_taken")
