"""Media identities: the people found in files (media-identities spec).

An identity is matched by its enrolled faces: the embedding of its profile image (one face
required) and of the traces bound to it. Binding a face assigns that face's whole trace;
merge moves every trace and enrolled face of the sources into the target; split moves chosen
faces' traces to a new identity. Changes are kept in an audit trail per account and identity.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, Item
from likeness.clock import now_iso
from likeness.errors import (
    BadRequest,
    Conflict,
    ImageRejected,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from likeness.inline_images import sniff_format
from likeness.media.audit import add_audit, audit_page, audit_total
from likeness.media.face_ids import face_id_for, face_trace
from likeness.media.listing import identity_filter, identity_total, page_of
from likeness.media.models import (
    Assignment,
    AuditEntry,
    AuditList,
    BindRequest,
    BindResult,
    ChunkPublic,
    IdentityChunks,
    IdentityCreate,
    IdentityDeleted,
    IdentityFace,
    IdentityFaces,
    IdentityFile,
    IdentityFiles,
    IdentityFileSummary,
    IdentityList,
    IdentityPublic,
    IdentitySearch,
    IdentitySearchHit,
    IdentitySource,
    IdentityStatus,
    IdentityUpdate,
    IdentityUploaded,
    MergeRequest,
    MergeResult,
    ProfileImageSaved,
    SplitRequest,
    SplitResult,
    normalize_uuid,
)
from likeness.media.name_search import name_matcher
from likeness.media.records import (
    IndexDocument,
    appearances,
    create_identity,
    delete_identity_objects,
    identity_item,
    identity_not_found,
    identity_public,
    load_chunks,
    load_index,
    name_taken,
    refresh_file_identities,
    remove_orphan_autos,
    require_identity,
    require_scope,
    sentence_chunk,
)
from likeness.media.store import (
    EnrolledFace,
    Enrollment,
    MediaStore,
    account_pk,
    decode_embedding,
    file_sk,
    name_key,
    new_uuid,
    profile_key,
)
from likeness.media.subtitles import chunk_id_for, format_chunk_text
from likeness.settings import Settings

PROFILE_TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}


class ProfileEmbedder(Protocol):
    def embed_profile(self, data: bytes) -> list[float]: ...


def _face_conflict(identity_uuid: str, face_id: str) -> Conflict:
    return Conflict(
        f"face {face_id} is not bound to identity {identity_uuid}",
        code="face_not_bound",
        fix="GET /api/v1/identity/{identity_uuid}/faces lists the faces it has.",
    )


class MediaIdentityService:
    def __init__(
        self,
        *,
        store: MediaStore,
        settings: Settings,
        indexer: Callable[[], ProfileEmbedder],
    ) -> None:
        self._store = store
        self._settings = settings
        self._indexer = indexer

    # ------------------------------------------------------------------ create, read, change
    def create(self, *, caller: Caller, create: IdentityCreate) -> IdentityPublic:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        item = identity_item(
            caller.account_id,
            new_uuid(),
            name=create.name,
            source=IdentitySource.USER_DEFINED,
            status=create.status,
            identity_type=create.identity_type,
            tmdb_id=create.tmdb_id,
            tmdb_profile=create.tmdb_profile,
            metadata=create.metadata,
        )
        create_identity(self._store, item)
        self._audit(
            caller, "create", [item["identity_uuid"]], {"name": item["name"], "source": item["source"]}
        )
        return identity_public(item)

    def get(self, *, caller: Caller, identity_uuid: str) -> IdentityPublic:
        require_scope(caller, Scope.IDENTITIES_READ)
        return identity_public(require_identity(self._store, caller.account_id, identity_uuid))

    def list_identities(
        self,
        *,
        caller: Caller,
        page: int,
        page_size: int,
        source: IdentitySource | None = None,
        status: IdentityStatus | None = None,
    ) -> IdentityList:
        """By name; the page from the account's identity list, the count from its counters."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        offset, where = (page - 1) * page_size, identity_filter(source, status)
        items = self._store.identity_page(account_id, offset=offset, limit=page_size, where=where)
        return IdentityList(
            count=identity_total(self._store.table, account_id, source, status),
            page=page,
            page_size=page_size,
            identities=[identity_public(i) for i in items],
        )

    def search(self, *, caller: Caller, query: str, page: int, page_size: int) -> IdentitySearch:
        """The spec's ILIKE search of the name (likeness.media.name_search: % and _ are wildcards)."""
        require_scope(caller, Scope.IDENTITIES_READ)
        matches = name_matcher(query)
        # free text has no counter and no index: the count needs every name matched, so this reads
        # the account's identity list once, in name order, and keeps only the page's matches
        hits = (i for i in self._store.identities_by_name(caller.account_id) if matches(i["name_key"]))
        count, shown = page_of(hits, page, page_size)
        return IdentitySearch(
            query=query,
            count=count,
            page=page,
            page_size=page_size,
            identities=[
                IdentitySearchHit(
                    identity_uuid=i["identity_uuid"],
                    name=i["name"],
                    source=IdentitySource(i["source"]),
                    status=IdentityStatus(i["status"]),
                    tmdb_id=i.get("tmdb_id"),
                    file_uuid=self._a_file_of(caller.account_id, i["identity_uuid"]),
                )
                for i in shown
            ],
        )

    def update(self, *, caller: Caller, identity_uuid: str, update: IdentityUpdate) -> IdentityPublic:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        item = require_identity(self._store, caller.account_id, identity_uuid)
        changes = update.changes()
        if not changes:
            return identity_public(item)
        updated = self._change(caller, item, self._fields(changes))
        self._audit(caller, "update", [identity_uuid], {"changes": changes})
        return identity_public(updated)

    def upload(self, *, caller: Caller, identity_file: IdentityFile) -> IdentityUploaded:
        """identity.json: update the identity with the same name (case-insensitively), else create
        one with the given identity_uuid (409 when that uuid is another identity's)."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        sent = identity_file.model_dump(mode="json", exclude_unset=True)
        existing = self._store.identity_by_name(account_id, identity_file.name)
        if existing is not None:
            changes = {
                k: v
                for k, v in sent.items()
                if k in ("name", "identity_type", "source", "status", "tmdb_id", "tmdb_profile", "metadata")
            }
            fields = self._fields(changes)
            if "file_bindings" in sent:
                reference = json.loads(existing.get("reference_data_json") or "{}")
                reference["file_bindings"] = sent["file_bindings"]
                fields["reference_data_json"] = json.dumps(reference, separators=(",", ":"))
            updated = self._change(caller, existing, fields)
            self._audit(
                caller, "upload", [updated["identity_uuid"]], {"name": updated["name"], "created": False}
            )
            return IdentityUploaded(
                identity_uuid=updated["identity_uuid"], name=updated["name"], created=False
            )

        uuid = identity_file.identity_uuid
        if self._store.get_identity(account_id, uuid) is not None:
            raise Conflict(
                f"identity {uuid} already exists in this account under another name",
                code="identity_uuid_taken",
                fix="Send that identity's current name to update it, or another identity_uuid.",
            )
        reference = {"file_bindings": sent["file_bindings"]} if identity_file.file_bindings else {}
        item = identity_item(
            account_id,
            uuid,
            name=identity_file.name,
            source=identity_file.source,
            status=identity_file.status,
            identity_type=identity_file.identity_type,
            tmdb_id=identity_file.tmdb_id,
            tmdb_profile=identity_file.tmdb_profile,
            metadata=identity_file.metadata,
            reference_data=reference,
        )
        create_identity(self._store, item)
        self._audit(caller, "upload", [uuid], {"name": item["name"], "created": True})
        return IdentityUploaded(identity_uuid=uuid, name=item["name"], created=True)

    def delete(self, *, caller: Caller, identity_uuid: str) -> IdentityDeleted:
        """The identity goes; its traces stay, unassigned."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        item = require_identity(self._store, account_id, identity_uuid)
        traces = self._store.identity_traces(account_id, identity_uuid)
        for trace in traces:
            try:
                self._store.assign_trace(
                    account_id,
                    trace["file_uuid"],
                    int(trace["trace_id"]),
                    identity_uuid=None,
                    assignment=None,
                    expected_identity=identity_uuid,
                )
            except ConditionFailed:
                continue
        try:
            self._store.delete_identity(account_id, item)
        except ConditionFailed as exc:
            raise identity_not_found(identity_uuid) from exc
        delete_identity_objects(self._store, account_id, identity_uuid)
        refresh_file_identities(self._store, account_id, [t["file_uuid"] for t in traces])
        self._audit(
            caller, "delete", [identity_uuid], {"name": item["name"], "unassigned_traces": len(traces)}
        )
        return IdentityDeleted(identity_uuid=identity_uuid, unassigned_traces=len(traces))

    # ------------------------------------------------------------------ profile image
    def set_profile_image(
        self, *, caller: Caller, identity_uuid: str, data: bytes | None
    ) -> ProfileImageSaved:
        """JPEG or PNG showing exactly one face: stored, and its embedding enrolled as the profile.
        400 missing or truncated, 404 unknown identity, 415 another type, 422 not one clear face."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        if data is None:
            raise BadRequest(
                "the image field is missing",
                code="image_required",
                fix="Send multipart/form-data with the image in a field named image.",
            )
        account_id = caller.account_id
        item = require_identity(self._store, account_id, identity_uuid)
        if not data:
            raise BadRequest("the image is empty", code="image_required", fix="Send a JPEG or PNG photo.")
        kind = sniff_format(data)
        if kind not in PROFILE_TYPES:
            raise UnsupportedMediaType(
                "unsupported image type: use JPEG or PNG", fix="Send the photo as a JPEG or PNG file."
            )
        limit = self._settings.max_upload_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"the image is larger than {limit // (1024 * 1024)} MB")
        self._check_decodes(data)
        embedding = self._indexer().embed_profile(data)

        content_type, ext = PROFILE_TYPES[kind]
        key = profile_key(account_id, identity_uuid, ext)
        self._store.blobs.put(key, data, content_type=content_type)
        for _, other_ext in PROFILE_TYPES.values():
            if other_ext != ext:
                self._store.blobs.delete(profile_key(account_id, identity_uuid, other_ext))
        # tmdb_profile is the local profile image path (spec), the path this answer gives
        self._change(
            caller, item, {"profile_image_key": key, "profile_image_type": content_type, "tmdb_profile": key}
        )

        def enroll(enrollment: Enrollment) -> None:
            enrollment.profile = tuple(float(v) for v in embedding)

        self._store.modify_enrollment(account_id, identity_uuid, enroll)
        self._audit(caller, "profile_image", [identity_uuid], {"content_type": content_type})
        return ProfileImageSaved(
            identity_uuid=identity_uuid, path=key, message=f"Profile image saved: profile.{ext}"
        )

    def profile_image(self, *, caller: Caller, identity_uuid: str) -> tuple[bytes, str]:
        require_scope(caller, Scope.IDENTITIES_READ)
        item = require_identity(self._store, caller.account_id, identity_uuid)
        key = item.get("profile_image_key")
        if not key or not self._store.blobs.exists(key):
            raise NotFound(
                f"identity {identity_uuid} has no profile image",
                code="profile_image_not_found",
                fix="Upload one: POST /api/v1/identity/{identity_uuid}/profile-image (field image).",
            )
        return self._store.blobs.get(key), str(item.get("profile_image_type") or "image/jpeg")

    def _check_decodes(self, data: bytes) -> None:
        """A truncated or corrupt JPEG/PNG is the spec's 400 (unsupported format), before any model."""
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > self._settings.max_image_pixels:
                    raise ImageRejected(
                        f"the image has {width}x{height} pixels, more than this service accepts"
                    )
                im.load()
        except ImageRejected:
            raise
        except Exception as exc:
            raise BadRequest(
                f"the image could not be decoded: {exc}",
                code="invalid_image",
                fix="Send a complete, valid JPEG or PNG file.",
            ) from exc

    # ------------------------------------------------------------------ where they appear
    def files(self, *, caller: Caller, identity_uuid: str) -> IdentityFiles:
        """Per file: face count, confidence, first and last seen, and frame-accurate appearances."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        require_identity(self._store, account_id, identity_uuid)
        by_file = self._traces_by_file(account_id, identity_uuid)
        files = self._files(account_id, by_file)
        data = []
        for file_item in files:
            traces = by_file[file_item["file_uuid"]]
            shown = appearances(
                ((int(t["start_frame"]), int(t["end_frame"])) for t in traces), file_item.get("fps")
            )
            data.append(
                IdentityFileSummary(
                    file_uuid=file_item["file_uuid"],
                    filename=file_item["filename"],
                    face_count=sum(int(t["face_count"]) for t in traces),
                    confidence=round(max(float(t["confidence"]) for t in traces), 4),
                    first_seen=shown[0].start_time,
                    last_seen=shown[-1].end_time,
                    appearances=shown,
                )
            )
        return IdentityFiles(identity_uuid=identity_uuid, count=len(data), data=data)

    def faces(self, *, caller: Caller, identity_uuid: str, page: int, page_size: int) -> IdentityFaces:
        """Every face detection of the identity's traces, by file then frame (one page of them)."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        require_identity(self._store, account_id, identity_uuid)
        by_file = self._traces_by_file(account_id, identity_uuid)
        files = self._files(account_id, by_file)
        total = sum(int(t["face_count"]) for f in files for t in by_file[f["file_uuid"]])
        first, last = (page - 1) * page_size, page * page_size
        data: list[IdentityFace] = []
        seen = 0
        for file_item in files:
            file_uuid = file_item["file_uuid"]
            traces = by_file[file_uuid]
            count = sum(int(t["face_count"]) for t in traces)
            if seen + count <= first or seen >= last:
                seen += count
                continue  # nothing of this file on the page: its index is not read
            index = load_index(self._store, account_id, file_uuid)
            rows = sorted(
                (
                    (int(d["frame_number"]), int(d["idx"]), int(t["trace_id"]), d)
                    for t in traces
                    for d in index.detections(int(t["trace_id"]))
                ),
                key=lambda r: (r[0], r[1]),
            )
            for frame, idx, trace_id, d in rows:
                if first <= seen < last:
                    data.append(
                        IdentityFace(
                            file_uuid=file_uuid,
                            frame_number=frame,
                            face_id=face_id_for(frame, idx),
                            confidence=round(float(d["score"]), 4),
                            trace_id=trace_id,
                            box=[round(float(v), 1) for v in d["box"]],
                        )
                    )
                seen += 1
        return IdentityFaces(
            identity_uuid=identity_uuid, count=total, page=page, page_size=page_size, data=data
        )

    def chunks(self, *, caller: Caller, identity_uuid: str) -> IdentityChunks:
        """The sentences spoken while the identity's face was on screen, in its name."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        identity = require_identity(self._store, account_id, identity_uuid)
        by_file = self._traces_by_file(account_id, identity_uuid)
        data: list[ChunkPublic] = []
        for file_item in self._files(account_id, by_file):
            file_uuid = file_item["file_uuid"]
            ranges = [(int(t["start_frame"]), int(t["end_frame"])) for t in by_file[file_uuid]]
            for chunk in load_chunks(self._store, account_id, file_item):
                if not any(s <= chunk["end_frame"] and e >= chunk["start_frame"] for s, e in ranges):
                    continue
                sentence = sentence_chunk(chunk)
                data.append(
                    ChunkPublic(
                        id=len(data),
                        file_uuid=file_uuid,
                        chunk_id=chunk_id_for(file_uuid, sentence.index),
                        start_frame=sentence.start_frame,
                        end_frame=sentence.end_frame,
                        fps=sentence.fps,
                        start_time=sentence.start_time,
                        end_time=sentence.end_time,
                        text_content=format_chunk_text(sentence, identity["name"]),
                    )
                )
        return IdentityChunks(identity_uuid=identity_uuid, count=len(data), data=data)

    # ------------------------------------------------------------------ bind, unbind
    def bind(self, *, caller: Caller, identity_uuid: str, request: BindRequest) -> BindResult:
        """The face's whole trace becomes the identity's, and its embedding is enrolled."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        identity = require_identity(self._store, account_id, identity_uuid)
        file_uuid, face_id, trace = face_trace(self._store, account_id, request.file_uuid, request.face_id)
        trace_id = int(trace["trace_id"])
        previous = trace.get("identity_uuid")
        if previous != identity_uuid:
            try:
                self._store.assign_trace(
                    account_id,
                    file_uuid,
                    trace_id,
                    identity_uuid=identity_uuid,
                    assignment=Assignment.BOUND.value,
                    expected_identity=previous,
                )
            except ConditionFailed as exc:
                raise Conflict(
                    f"face {face_id} changed while it was being bound; try again", code="face_busy"
                ) from exc
        else:
            self._store.assign_trace(
                account_id,
                file_uuid,
                trace_id,
                identity_uuid=identity_uuid,
                assignment=Assignment.BOUND.value,
            )
        if previous and previous != identity_uuid:
            self._drop_enrolled(account_id, previous, file_uuid, {trace_id})
        embedding = trace.get("embedding")
        if embedding:
            face = EnrolledFace(
                embedding=decode_embedding(embedding), kind="bound", file_uuid=file_uuid, trace_id=trace_id
            )
            cap = self._settings.media_max_enrolled_faces
            self._store.modify_enrollment(account_id, identity_uuid, lambda e: e.add(face, cap=cap))
        self._touch(identity)
        refresh_file_identities(self._store, account_id, [file_uuid])
        self._audit(
            caller,
            "bind",
            [identity_uuid] + ([previous] if previous and previous != identity_uuid else []),
            {
                "file_uuid": file_uuid,
                "face_id": face_id,
                "trace_id": trace_id,
                "previous_identity_uuid": previous,
                "enrolled": bool(embedding),
            },
        )
        if previous and previous != identity_uuid:
            remove_orphan_autos(
                self._store,
                account_id,
                [previous],
                reason="its faces were bound elsewhere",
                key_id=caller.key_id,
            )
        return BindResult(
            identity_uuid=identity_uuid,
            file_uuid=file_uuid,
            face_id=face_id,
            trace_id=trace_id,
            face_count=int(trace["face_count"]),
            message="Face bound to identity",
        )

    def unbind(self, *, caller: Caller, identity_uuid: str, request: BindRequest) -> BindResult:
        """The face's trace keeps no identity (409 when it is not this identity's)."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        identity = require_identity(self._store, account_id, identity_uuid)
        file_uuid, face_id, trace = face_trace(self._store, account_id, request.file_uuid, request.face_id)
        trace_id = int(trace["trace_id"])
        if trace.get("identity_uuid") != identity_uuid:
            raise _face_conflict(identity_uuid, face_id)
        try:
            self._store.assign_trace(
                account_id,
                file_uuid,
                trace_id,
                identity_uuid=None,
                assignment=None,
                expected_identity=identity_uuid,
            )
        except ConditionFailed as exc:
            raise _face_conflict(identity_uuid, face_id) from exc
        self._drop_enrolled(account_id, identity_uuid, file_uuid, {trace_id})
        self._touch(identity)
        refresh_file_identities(self._store, account_id, [file_uuid])
        self._audit(
            caller,
            "unbind",
            [identity_uuid],
            {"file_uuid": file_uuid, "face_id": face_id, "trace_id": trace_id},
        )
        return BindResult(
            identity_uuid=identity_uuid,
            file_uuid=file_uuid,
            face_id=face_id,
            trace_id=trace_id,
            face_count=int(trace["face_count"]),
            message="Face unbound from identity",
        )

    # ------------------------------------------------------------------ merge, split
    def merge(self, *, caller: Caller, request: MergeRequest) -> MergeResult:
        """Every trace and enrolled face of the sources moves to the target; the sources go."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        target_uuid = self._body_uuid(request.target_identity_uuid, "target_identity_uuid")
        sources = list(dict.fromkeys(self._body_uuid(u, "identity_uuids") for u in request.identity_uuids))
        if target_uuid in sources:
            raise Unprocessable(
                "an identity cannot be merged into itself",
                code="invalid_request",
                fix="Leave target_identity_uuid out of identity_uuids.",
            )
        target = require_identity(self._store, account_id, target_uuid)
        source_items = [require_identity(self._store, account_id, u) for u in sources]

        moved = 0
        touched_files: list[str] = []
        merged_faces: list[EnrolledFace] = []
        for source in source_items:
            uuid = source["identity_uuid"]
            for trace in self._store.identity_traces(account_id, uuid):
                try:
                    self._store.assign_trace(
                        account_id,
                        trace["file_uuid"],
                        int(trace["trace_id"]),
                        identity_uuid=target_uuid,
                        assignment=str(trace.get("assignment") or Assignment.BOUND.value),
                        expected_identity=uuid,
                    )
                except ConditionFailed:
                    continue
                moved += 1
                touched_files.append(trace["file_uuid"])
            enrollment = self._store.get_enrollment(account_id, uuid)
            if enrollment.profile is not None:
                merged_faces.append(EnrolledFace(embedding=enrollment.profile, kind="merged"))
            merged_faces.extend(enrollment.faces)
        cap = self._settings.media_max_enrolled_faces

        def absorb(enrollment: Enrollment) -> None:
            for face in merged_faces:
                enrollment.add(face, cap=cap)

        if merged_faces:
            self._store.modify_enrollment(account_id, target_uuid, absorb)
        for source in source_items:
            try:
                self._store.delete_identity(account_id, source)
            except ConditionFailed:
                continue
            delete_identity_objects(self._store, account_id, source["identity_uuid"])

        reference = json.loads(target.get("reference_data_json") or "{}")
        reference["merged_from"] = list(reference.get("merged_from") or []) + [
            {"identity_uuid": s["identity_uuid"], "name": s["name"]} for s in source_items
        ]
        fields: dict[str, Any] = {"reference_data_json": json.dumps(reference, separators=(",", ":"))}
        if target["source"] == IdentitySource.AUTO.value:
            fields["source"] = IdentitySource.MERGED.value
        updated = self._change(caller, target, fields)
        refresh_file_identities(self._store, account_id, touched_files)
        self._audit(
            caller,
            "merge",
            [target_uuid] + sources,
            {
                "target_identity_uuid": target_uuid,
                "merged": [{"identity_uuid": s["identity_uuid"], "name": s["name"]} for s in source_items],
                "moved_traces": moved,
            },
        )
        return MergeResult(
            identity_uuid=target_uuid,
            merged_identity_uuids=sources,
            moved_traces=moved,
            identity=identity_public(updated),
        )

    def split(self, *, caller: Caller, identity_uuid: str, request: SplitRequest) -> SplitResult:
        """The traces of the chosen faces move to a new user_defined identity (enrolled with them)."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        source = require_identity(self._store, account_id, identity_uuid)
        indexes: dict[str, IndexDocument] = {}
        chosen: dict[tuple[str, int], Item] = {}
        faces_sent: list[dict[str, str]] = []
        for face in request.faces:
            file_uuid, face_id, trace = face_trace(
                self._store, account_id, face.file_uuid, face.face_id, indexes=indexes
            )
            if trace.get("identity_uuid") != identity_uuid:
                raise _face_conflict(identity_uuid, face_id)
            chosen[(file_uuid, int(trace["trace_id"]))] = trace
            faces_sent.append({"file_uuid": file_uuid, "face_id": face_id})
        if self._store.identity_by_name(account_id, request.name) is not None:
            raise name_taken(request.name)

        cap = self._settings.media_max_enrolled_faces
        faces = [
            EnrolledFace(embedding=decode_embedding(t["embedding"]), kind="split", file_uuid=f, trace_id=tid)
            for (f, tid), t in chosen.items()
            if t.get("embedding")
        ][-cap:]
        new_item = identity_item(
            account_id,
            new_uuid(),
            name=request.name,
            source=IdentitySource.USER_DEFINED,
            status=IdentityStatus.CONFIRMED,
            identity_type=source.get("identity_type") or "people",
            reference_data={"split_from": {"identity_uuid": identity_uuid, "name": source["name"]}},
        )
        create_identity(
            self._store, new_item, enrollment=Enrollment(identity_uuid=new_item["identity_uuid"], faces=faces)
        )
        new_uuid_ = new_item["identity_uuid"]
        moved = 0
        for (file_uuid, trace_id), _trace in chosen.items():
            try:
                self._store.assign_trace(
                    account_id,
                    file_uuid,
                    trace_id,
                    identity_uuid=new_uuid_,
                    assignment=Assignment.BOUND.value,
                    expected_identity=identity_uuid,
                )
            except ConditionFailed:
                continue
            moved += 1
        by_file: dict[str, set[int]] = defaultdict(set)
        for file_uuid, trace_id in chosen:
            by_file[file_uuid].add(trace_id)

        def drop(enrollment: Enrollment) -> None:
            for file_uuid, trace_ids in by_file.items():
                enrollment.drop_traces(file_uuid, trace_ids)

        self._store.modify_enrollment(account_id, identity_uuid, drop)
        self._touch(source)
        refresh_file_identities(self._store, account_id, list(by_file))
        self._audit(
            caller,
            "split",
            [identity_uuid, new_uuid_],
            {
                "new_identity_uuid": new_uuid_,
                "name": request.name,
                "faces": faces_sent,
                "moved_traces": moved,
            },
        )
        return SplitResult(
            identity_uuid=identity_uuid, new_identity=identity_public(new_item), moved_traces=moved
        )

    # ------------------------------------------------------------------ audit
    def audit(
        self,
        *,
        caller: Caller,
        identity_uuid: str | None,
        page: int,
        page_size: int,
        must_exist: bool = False,
    ) -> AuditList:
        """Newest first. ``identity_uuid`` narrows it to one identity (deleted ones too, unless
        ``must_exist``: the /identity/{uuid}/audit route)."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        if identity_uuid is not None:
            if must_exist:
                require_identity(self._store, account_id, identity_uuid)
            else:
                identity_uuid = self._body_uuid(identity_uuid, "identity_uuid")
        items = audit_page(
            self._store, account_id, identity_uuid, offset=(page - 1) * page_size, limit=page_size
        )
        return AuditList(
            count=audit_total(self._store, account_id, identity_uuid),
            page=page,
            page_size=page_size,
            entries=[
                AuditEntry(
                    audit_id=i["audit_id"],
                    action=i["action"],
                    identity_uuid=i.get("identity_uuid"),
                    identity_uuids=list(i.get("identity_uuids") or []),
                    details=json.loads(i.get("details_json") or "{}"),
                    key_id=i.get("key_id"),
                    created_at=i["created_at"],
                )
                for i in items
            ],
        )

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _body_uuid(value: str, field: str) -> str:
        try:
            return normalize_uuid(value)
        except ValueError as exc:
            raise Unprocessable(f"{field}: {exc}", code="invalid_request") from None

    @staticmethod
    def _fields(changes: dict[str, Any]) -> dict[str, Any]:
        """API fields -> item attributes."""
        fields = {k: v for k, v in changes.items() if k != "metadata"}
        if "metadata" in changes:
            fields["metadata_json"] = json.dumps(changes["metadata"] or {}, separators=(",", ":"))
        if "name" in fields:
            fields["name_key"] = name_key(fields["name"])
        return fields

    def _change(self, caller: Caller, item: Item, fields: dict[str, Any]) -> Item:
        """Write changes a person made (the identity is then never garbage-collected as an orphan)."""
        fields = {**fields, "updated_at": now_iso(), "user_edited": True}
        try:
            return self._store.update_identity(caller.account_id, item, fields)
        except ConditionFailed as exc:
            reasons = exc.reasons + [None, None, None]
            if reasons[2] == "ConditionalCheckFailed":
                raise name_taken(fields["name"]) from exc
            raise identity_not_found(item["identity_uuid"]) from exc

    def _touch(self, item: Item) -> None:
        if not item.get("user_edited"):
            with contextlib.suppress(ConditionFailed):
                self._store.update_identity(item["account_id"], item, {"user_edited": True})

    def _audit(self, caller: Caller, action: str, uuids: Sequence[str], details: dict[str, Any]) -> None:
        add_audit(
            self._store,
            caller.account_id,
            action=action,
            identity_uuids=uuids,
            details=details,
            key_id=caller.key_id,
        )

    def _drop_enrolled(
        self, account_id: str, identity_uuid: str, file_uuid: str, trace_ids: set[int]
    ) -> None:
        if self._store.get_identity(account_id, identity_uuid) is None:
            return
        self._store.modify_enrollment(
            account_id, identity_uuid, lambda e: e.drop_traces(file_uuid, trace_ids)
        )

    def _traces_by_file(self, account_id: str, identity_uuid: str) -> dict[str, list[Item]]:
        by_file: dict[str, list[Item]] = defaultdict(list)
        for trace in self._store.identity_traces(account_id, identity_uuid):
            by_file[trace["file_uuid"]].append(trace)
        return by_file

    def _files(self, account_id: str, by_file: dict[str, list[Item]]) -> list[Item]:
        """The file items (oldest first) of the files these traces are in."""
        if not by_file:
            return []
        pk = account_pk(account_id)
        items = self._store.table.batch_get([(pk, file_sk(u)) for u in by_file])
        return sorted(items, key=lambda f: (f["created_at"], f["file_uuid"]))

    def _a_file_of(self, account_id: str, identity_uuid: str) -> str | None:
        traces = self._store.identity_traces(account_id, identity_uuid, limit=1)
        return str(traces[0]["file_uuid"]) if traces else None


__all__ = ["MediaIdentityService", "ProfileEmbedder"]
