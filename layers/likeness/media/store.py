"""Where media files, identities, traces and the audit trail live.

DynamoDB (the single table; PK / SK):
  MEDIA#<account> / FILE#<file_uuid>            a file: status, run_id, media info, counts, and
                                                ``identity_counts`` ({uuid: faces}) kept current;
                                                GSI1: MEDIAFILES#<account> / <created_at>#<file_uuid>
  MEDIA#<account> / IDENTITY#<uuid>             an identity (spec fields; metadata as JSON text);
                                                GSI1: MEDIAIDENTITIES#<account> / <name key><NUL><uuid>
  MEDIA#<account> / IDNAME#<casefolded name>    the name lock: names are unique per account,
                                                case-insensitively (identity.json upload matches by it)
  MEDIA#<account> / ENROLL#<uuid>               the faces an identity is matched by: its profile
                                                image's embedding and bound / merged / cluster faces
  MEDIA#<account> / COUNTER#unknown             numbers the "Unknown N" auto identities
  MEDIA#<account> / COUNTER#audit#<uuid>        how many audit entries name this identity
  MEDIAFILE#<account>#<file_uuid> / TRACE#<000012>
                                                one trace of one file: frames, counts, embedding,
                                                assignment; when assigned also
                                                GSI1: MEDIAIDENTITY#<account>#<uuid> / <file_uuid>#<000012>
  MEDIAAUDIT#<account> / <iso time>#<audit id>  the audit trail, newest last; a copy of each entry per
                                                identity it names under MEDIAAUDIT#<account>#<uuid>

An identity is scoped by its account's partition: another account's uuid is simply not found.
The lists read their page from the GSI1 indexes and their totals from counters moved in the
same transaction as the writes (likeness.media.listing names them).

S3 (the media bucket):
  media/<account>/<file_uuid>/source<ext>       the uploaded file
  media/<account>/<file_uuid>/subtitles.srt|vtt its subtitles, as uploaded
  media/<account>/<file_uuid>/index.json        the whole IndexResult (every detection's box)
  media/<account>/<file_uuid>/chunks.json       the sentence chunks of its subtitles
  media/<account>/identities/<uuid>/profile.jpg|png
  media-uploads/<account>/<upload id>/<name>    presigned uploads, until POST /api/v1/files claims them
"""

from __future__ import annotations

import json
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Filter, Item, TransactItem
from likeness.aws.s3 import BlobStore
from likeness.clock import now_iso
from likeness.counters import count_change
from likeness.media.listing import (
    FILES_COUNTER,
    file_list_keys,
    file_list_pk,
    identity_count_changes,
    identity_list_keys,
    identity_list_pk,
)

FILE_TYPE = "media_file"
IDENTITY_TYPE = "media_identity"
TRACE_TYPE = "media_trace"
AUDIT_TYPE = "media_audit"
UPLOAD_ROOT = "media-uploads"
_ENROLL_ATTEMPTS = 8


# ---------------------------------------------------------------------------- keys
def account_pk(account_id: str) -> str:
    return f"MEDIA#{account_id}"


def file_sk(file_uuid: str) -> str:
    return f"FILE#{file_uuid}"


def identity_sk(identity_uuid: str) -> str:
    return f"IDENTITY#{identity_uuid}"


def name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def name_sk(name: str) -> str:
    return f"IDNAME#{name_key(name)}"


def enroll_sk(identity_uuid: str) -> str:
    return f"ENROLL#{identity_uuid}"


def traces_pk(account_id: str, file_uuid: str) -> str:
    return f"MEDIAFILE#{account_id}#{file_uuid}"


def trace_sk(trace_id: int) -> str:
    return f"TRACE#{trace_id:06d}"


def identity_index_pk(account_id: str, identity_uuid: str) -> str:
    return f"MEDIAIDENTITY#{account_id}#{identity_uuid}"


def identity_index_sk(file_uuid: str, trace_id: int) -> str:
    return f"{file_uuid}#{trace_id:06d}"


def audit_pk(account_id: str, identity_uuid: str | None = None) -> str:
    return f"MEDIAAUDIT#{account_id}" + (f"#{identity_uuid}" if identity_uuid else "")


# ---------------------------------------------------------------------------- object keys
def file_prefix(account_id: str, file_uuid: str) -> str:
    return f"media/{account_id}/{file_uuid}/"


def source_key(account_id: str, file_uuid: str, ext: str) -> str:
    return f"{file_prefix(account_id, file_uuid)}source{ext}"


def subtitles_key(account_id: str, file_uuid: str, fmt: str) -> str:
    return f"{file_prefix(account_id, file_uuid)}subtitles.{fmt}"


def index_key(account_id: str, file_uuid: str) -> str:
    return f"{file_prefix(account_id, file_uuid)}index.json"


def chunks_key(account_id: str, file_uuid: str) -> str:
    return f"{file_prefix(account_id, file_uuid)}chunks.json"


def profile_prefix(account_id: str, identity_uuid: str) -> str:
    return f"media/{account_id}/identities/{identity_uuid}/"


def profile_key(account_id: str, identity_uuid: str, ext: str) -> str:
    return f"{profile_prefix(account_id, identity_uuid)}profile.{ext}"


def upload_prefix(account_id: str) -> str:
    return f"{UPLOAD_ROOT}/{account_id}/"


# ---------------------------------------------------------------------------- values
def encode_embedding(values: Sequence[float]) -> bytes:
    """An embedding as little-endian float32 bytes (128-d: 512 bytes)."""
    return struct.pack(f"<{len(values)}f", *values)


def decode_embedding(data: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(data) // 4}f", data)


def frame_ranges(frames: Iterable[int]) -> list[list[int]]:
    """Sorted frame numbers as inclusive runs: [1, 2, 3, 7] -> [[1, 3], [7, 7]]."""
    runs: list[list[int]] = []
    for frame in sorted(set(frames)):
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return runs


def new_uuid() -> str:
    return secrets.token_hex(16)


@dataclass
class EnrolledFace:
    """One embedding an identity is matched by, and where it came from."""

    embedding: tuple[float, ...]
    kind: str  # bound | cluster | merged | split
    file_uuid: str | None = None
    trace_id: int | None = None

    def to_item(self) -> Item:
        return {
            "embedding": encode_embedding(self.embedding),
            "kind": self.kind,
            "file_uuid": self.file_uuid,
            "trace_id": self.trace_id,
        }

    @classmethod
    def from_item(cls, item: Item) -> EnrolledFace:
        trace_id = item.get("trace_id")
        return cls(
            embedding=decode_embedding(item["embedding"]),
            kind=str(item.get("kind", "bound")),
            file_uuid=item.get("file_uuid"),
            trace_id=int(trace_id) if trace_id is not None else None,
        )


@dataclass
class Enrollment:
    identity_uuid: str
    profile: tuple[float, ...] | None = None
    faces: list[EnrolledFace] = field(default_factory=list)
    revision: int = 0

    @property
    def embeddings(self) -> tuple[tuple[float, ...], ...]:
        found = [self.profile] if self.profile is not None else []
        return tuple(found + [f.embedding for f in self.faces])

    @property
    def count(self) -> int:
        return len(self.faces) + (1 if self.profile is not None else 0)

    def add(self, face: EnrolledFace, *, cap: int) -> None:
        """Add (or replace the same trace's) face; past ``cap`` the oldest faces go."""
        if face.trace_id is not None:
            self.drop_traces(face.file_uuid, {face.trace_id})
        self.faces.append(face)
        if len(self.faces) > cap:
            del self.faces[: len(self.faces) - cap]

    def drop_traces(self, file_uuid: str | None, trace_ids: set[int] | None = None) -> list[EnrolledFace]:
        """Remove the faces of these traces of one file (every trace of it when ``trace_ids`` is None)."""
        kept, dropped = [], []
        for face in self.faces:
            hit = face.file_uuid == file_uuid and face.trace_id is not None
            if hit and (trace_ids is None or face.trace_id in trace_ids):
                dropped.append(face)
            else:
                kept.append(face)
        self.faces = kept
        return dropped


class MediaStore:
    """DynamoDB items and S3 objects of the media surface; no rules beyond key layout."""

    def __init__(self, *, table: DynamoTable, blobs: BlobStore) -> None:
        self.table = table
        self.blobs = blobs

    # ------------------------------------------------------------------ files
    def put_file(self, item: Item) -> None:
        """The file, in the account's file list (newest first) and its count."""
        listed = {**item, **file_list_keys(item["account_id"], item["created_at"], item["file_uuid"])}
        self.table.transact(
            [
                TransactItem(kind="Put", item=listed, condition="attribute_not_exists(PK)"),
                count_change(item["account_id"], {FILES_COUNTER: 1}),
            ]
        )

    def get_file(self, account_id: str, file_uuid: str) -> Item | None:
        return self.table.get(account_pk(account_id), file_sk(file_uuid))

    def file_page(self, account_id: str, *, offset: int, limit: int) -> list[Item]:
        """Newest first (created_at, then file_uuid): only the page is read."""
        pk = file_list_pk(account_id)
        return self.table.query_page(pk, index="GSI1", forward=False, offset=offset, limit=limit)

    def update_file(
        self,
        account_id: str,
        file_uuid: str,
        *,
        set_fields: dict[str, Any] | None = None,
        remove: Sequence[str] = (),
        condition: str = "attribute_exists(PK)",
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> Item:
        """SET ``set_fields`` (None values are REMOVEd) under ``condition``; ConditionFailed if it fails."""
        expression, all_names, all_values = _update_expression(set_fields or {}, remove)
        all_names.update(names or {})
        all_values.update(values or {})
        return self.table.update(
            account_pk(account_id),
            file_sk(file_uuid),
            update=expression,
            condition=condition,
            names=all_names or None,
            values=all_values or None,
        )

    def delete_file_item(self, account_id: str, file_uuid: str) -> None:
        """ConditionFailed when it is gone already (counted out once)."""
        key = {"PK": account_pk(account_id), "SK": file_sk(file_uuid)}
        self.table.transact(
            [
                TransactItem(kind="Delete", key=key, condition="attribute_exists(PK)"),
                count_change(account_id, {FILES_COUNTER: -1}),
            ]
        )

    # ------------------------------------------------------------------ identities
    def get_identity(self, account_id: str, identity_uuid: str) -> Item | None:
        return self.table.get(account_pk(account_id), identity_sk(identity_uuid))

    def get_identities(self, account_id: str, identity_uuids: Iterable[str]) -> dict[str, Item]:
        pk = account_pk(account_id)
        items = self.table.batch_get([(pk, identity_sk(u)) for u in identity_uuids])
        return {i["identity_uuid"]: i for i in items}

    def list_identities(self, account_id: str) -> list[Item]:
        """Every identity of the account, for the index job's matching (never a request's list)."""
        return self.table.query(account_pk(account_id), sk_prefix="IDENTITY#")

    def identity_page(self, account_id: str, *, offset: int, limit: int, where: Filter | None) -> list[Item]:
        """By name: only the page is read (``where`` filters it)."""
        pk = identity_list_pk(account_id)
        return self.table.query_page(pk, index="GSI1", offset=offset, limit=limit, where=where)

    def identities_by_name(self, account_id: str) -> Iterator[Item]:
        return self.table.iter_query(identity_list_pk(account_id), index="GSI1")

    def identity_by_name(self, account_id: str, name: str) -> Item | None:
        lock = self.table.get(account_pk(account_id), name_sk(name))
        return self.get_identity(account_id, lock["identity_uuid"]) if lock else None

    def create_identity(self, item: Item, *, enrollment: Enrollment | None = None) -> None:
        """The identity (in its list, counted), its name lock (and enrollment) at once.
        ConditionFailed with ``reasons`` [identity, name]: which one exists already."""
        pk, account_id = item["PK"], item["account_id"]
        listed = {**item, **identity_list_keys(account_id, item["name_key"], item["identity_uuid"])}
        writes = [
            TransactItem(kind="Put", item=listed, condition="attribute_not_exists(PK)"),
            TransactItem(
                kind="Put",
                item={"PK": pk, "SK": name_sk(item["name"]), "identity_uuid": item["identity_uuid"]},
                condition="attribute_not_exists(PK)",
            ),
        ]
        if enrollment is not None:
            writes.append(TransactItem(kind="Put", item=self._enrollment_item(pk, enrollment, revision=1)))
        writes.append(count_change(account_id, identity_count_changes(None, item)))
        self.table.transact(writes)

    def update_identity(
        self, account_id: str, identity: Item, set_fields: dict[str, Any], remove: Sequence[str] = ()
    ) -> Item:
        """Change an identity; a new name moves its name lock and its place in the list, a new
        source or status its counters, in the same transaction. ConditionFailed with ``reasons``
        [identity, old name, new name] when something moved."""
        for _ in range(_ENROLL_ATTEMPTS):
            moves = identity_count_changes(identity, {**identity, **set_fields})
            try:
                return self._update_identity(account_id, identity, set_fields, remove, moves)
            except ConditionFailed:
                current = self.get_identity(account_id, identity["identity_uuid"]) if moves else None
                if current is None or _listed_as(current) == _listed_as(identity):
                    raise
                identity = current  # its source or status changed meanwhile: count from what it is
        raise ConditionFailed(["ConditionalCheckFailed"])

    def _update_identity(
        self,
        account_id: str,
        identity: Item,
        set_fields: dict[str, Any],
        remove: Sequence[str],
        moves: dict[str, int],
    ) -> Item:
        pk = account_pk(account_id)
        fields = dict(set_fields)
        new_name = fields.get("name")
        if new_name is not None:
            fields.update(identity_list_keys(account_id, name_key(new_name), identity["identity_uuid"]))
        expression, names, values = _update_expression(fields, remove)
        condition = "attribute_exists(PK)"
        if moves:  # counted from the source and status it has
            condition += " AND #was_src = :was_src AND #was_st = :was_st"
            names.update({"#was_src": "source", "#was_st": "status"})
            values.update({":was_src": identity["source"], ":was_st": identity["status"]})
        renamed = new_name is not None and name_key(new_name) != name_key(identity["name"])
        if not renamed and not moves:
            return self.table.update(
                pk, identity["SK"], update=expression, condition=condition, names=names, values=values
            )
        key = {"PK": pk, "SK": identity["SK"]}
        writes = [
            TransactItem(
                kind="Update", key=key, update=expression, condition=condition, names=names, values=values
            )
        ]
        if renamed and new_name is not None:
            writes += [
                TransactItem(kind="Delete", key={"PK": pk, "SK": name_sk(identity["name"])}),
                TransactItem(
                    kind="Put",
                    item={"PK": pk, "SK": name_sk(new_name), "identity_uuid": identity["identity_uuid"]},
                    condition="attribute_not_exists(PK)",
                ),
            ]
        if moves:
            writes.append(count_change(account_id, moves))
        self.table.transact(writes)
        updated = self.get_identity(account_id, identity["identity_uuid"])
        if updated is None:
            raise ConditionFailed(["ConditionalCheckFailed"])
        return updated

    def delete_identity(self, account_id: str, identity: Item) -> None:
        """The identity (counted out of its list), its name lock and its enrollment (its traces:
        see the services). ConditionFailed when it is gone."""
        pk = account_pk(account_id)
        names = {"#src": "source", "#st": "status", "#name": "name"}
        for _ in range(_ENROLL_ATTEMPTS):
            was = {":src": identity["source"], ":st": identity["status"], ":name": identity["name"]}
            uuid = identity["identity_uuid"]
            try:
                self.table.transact(
                    [
                        TransactItem(
                            kind="Delete",
                            key={"PK": pk, "SK": identity["SK"]},
                            condition="attribute_exists(PK) AND #src = :src AND #st = :st AND #name = :name",
                            names=names,
                            values=was,
                        ),
                        TransactItem(kind="Delete", key={"PK": pk, "SK": name_sk(identity["name"])}),
                        TransactItem(kind="Delete", key={"PK": pk, "SK": enroll_sk(uuid)}),
                        count_change(account_id, identity_count_changes(identity, None)),
                    ]
                )
                return
            except ConditionFailed:
                current = self.get_identity(account_id, identity["identity_uuid"])
                if current is None:
                    raise
                identity = current  # renamed or recounted meanwhile: delete what it is now
        raise ConditionFailed(["ConditionalCheckFailed"])

    def next_unknown_number(self, account_id: str) -> int:
        item = self.table.update(
            account_pk(account_id),
            "COUNTER#unknown",
            update="ADD next_number :one",
            values={":one": 1},
        )
        return int(item["next_number"])

    # ------------------------------------------------------------------ enrollment
    def get_enrollment(self, account_id: str, identity_uuid: str) -> Enrollment:
        item = self.table.get(account_pk(account_id), enroll_sk(identity_uuid))
        return self._enrollment(item) if item else Enrollment(identity_uuid=identity_uuid)

    def enrollments(self, account_id: str) -> list[Enrollment]:
        return [self._enrollment(i) for i in self.table.query(account_pk(account_id), sk_prefix="ENROLL#")]

    def modify_enrollment(
        self, account_id: str, identity_uuid: str, change: Callable[[Enrollment], object]
    ) -> Enrollment:
        """Read, ``change`` in place, write back; retried when another writer got there first."""
        pk = account_pk(account_id)
        for _ in range(_ENROLL_ATTEMPTS):
            current = self.get_enrollment(account_id, identity_uuid)
            change(current)
            item = self._enrollment_item(pk, current, revision=current.revision + 1)
            try:
                if current.revision:
                    self.table.put(item, condition="revision = :rev", values={":rev": current.revision})
                else:
                    self.table.put(item, condition="attribute_not_exists(PK)")
            except ConditionFailed:
                continue
            current.revision += 1
            return current
        raise ConditionFailed(["enrollment is being changed by other requests"])

    @staticmethod
    def _enrollment_item(pk: str, enrollment: Enrollment, *, revision: int) -> Item:
        return {
            "PK": pk,
            "SK": enroll_sk(enrollment.identity_uuid),
            "type": "media_enrollment",
            "identity_uuid": enrollment.identity_uuid,
            "profile": encode_embedding(enrollment.profile) if enrollment.profile is not None else None,
            "faces": [f.to_item() for f in enrollment.faces],
            "revision": revision,
            "updated_at": now_iso(),
        }

    @staticmethod
    def _enrollment(item: Item) -> Enrollment:
        profile = item.get("profile")
        return Enrollment(
            identity_uuid=item["identity_uuid"],
            profile=decode_embedding(profile) if profile else None,
            faces=[EnrolledFace.from_item(f) for f in item.get("faces") or []],
            revision=int(item.get("revision", 0)),
        )

    # ------------------------------------------------------------------ traces
    def file_traces(self, account_id: str, file_uuid: str) -> list[Item]:
        return self.table.query(traces_pk(account_id, file_uuid), sk_prefix="TRACE#")

    def get_trace(self, account_id: str, file_uuid: str, trace_id: int) -> Item | None:
        return self.table.get(traces_pk(account_id, file_uuid), trace_sk(trace_id))

    def identity_traces(self, account_id: str, identity_uuid: str, *, limit: int | None = None) -> list[Item]:
        """The traces assigned to an identity, every file, ordered by file then trace."""
        return self.table.query(identity_index_pk(account_id, identity_uuid), index="GSI1", limit=limit)

    def replace_traces(
        self, account_id: str, file_uuid: str, items: list[Item], *, stale_trace_ids: list[int]
    ) -> None:
        """Write a run's traces and drop the previous run's that it no longer has, in batches."""
        pk = traces_pk(account_id, file_uuid)
        self.table.batch_write(puts=items, deletes=[(pk, trace_sk(t)) for t in stale_trace_ids])

    def delete_traces(self, account_id: str, file_uuid: str, traces: list[Item]) -> None:
        self.replace_traces(account_id, file_uuid, [], stale_trace_ids=[int(t["trace_id"]) for t in traces])

    def assign_trace(
        self,
        account_id: str,
        file_uuid: str,
        trace_id: int,
        *,
        identity_uuid: str | None,
        assignment: str | None,
        expected_identity: str | None | bool = False,
    ) -> Item:
        """Point a trace at an identity (or at none). ``expected_identity`` (unless False) must be
        the trace's current identity (None: unassigned), else ConditionFailed."""
        values: dict[str, Any] = {}
        condition = "attribute_exists(PK)"
        if expected_identity is None:
            condition += " AND attribute_not_exists(identity_uuid)"
        elif expected_identity is not False:
            condition += " AND identity_uuid = :expected"
            values[":expected"] = expected_identity
        if identity_uuid is None:
            update = "REMOVE identity_uuid, assignment, distance, GSI1PK, GSI1SK SET updated_at = :now"
        else:
            update = (
                "SET identity_uuid = :identity, assignment = :assignment, GSI1PK = :gpk, GSI1SK = :gsk, "
                "updated_at = :now REMOVE distance"
            )
            values.update(
                {
                    ":identity": identity_uuid,
                    ":assignment": assignment,
                    ":gpk": identity_index_pk(account_id, identity_uuid),
                    ":gsk": identity_index_sk(file_uuid, trace_id),
                }
            )
        values[":now"] = now_iso()
        return self.table.update(
            traces_pk(account_id, file_uuid),
            trace_sk(trace_id),
            update=update,
            condition=condition,
            values=values,
        )

    # ------------------------------------------------------------------ objects
    def put_json(self, key: str, value: Any) -> None:
        data = json.dumps(value, separators=(",", ":")).encode()
        self.blobs.put(key, data, content_type="application/json")

    def get_json(self, key: str) -> Any | None:
        if not self.blobs.exists(key):
            return None
        return json.loads(self.blobs.get(key))


def _listed_as(identity: Item) -> tuple[str, str]:
    return identity["source"], identity["status"]


def _update_expression(
    set_fields: dict[str, Any], remove: Sequence[str] = ()
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET #f0 = :f0, ... REMOVE #r0, ...`` for plain attribute names; None values are removed."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    removes: list[str] = []
    for i, (attr, value) in enumerate(set_fields.items()):
        names[f"#f{i}"] = attr
        if value is None:
            removes.append(f"#f{i}")
        else:
            values[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
    for i, attr in enumerate(remove):
        names[f"#r{i}"] = attr
        removes.append(f"#r{i}")
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if removes:
        parts.append("REMOVE " + ", ".join(removes))
    return " ".join(parts), names, values
