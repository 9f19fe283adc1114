"""Media files: upload (in the request or from S3), the index job's queue message, reads, delete.

A file is ``pending`` until the index job takes it (``processing``), then ``completed`` or
``failed`` (``error`` says why). Every (re)index gets a new ``run_id``; the job ignores messages
of older runs. Files up to ``media_lambda_max_bytes`` go to the Lambda consumer's queue, larger
ones to the queue that feeds AWS Batch.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, Item
from likeness.aws.eventbridge import EventPublisher
from likeness.aws.sqs import JobQueue
from likeness.clock import now_iso
from likeness.counters import read_count
from likeness.errors import (
    BadRequest,
    LikenessError,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from likeness.inline_images import sniff_format
from likeness.media.face_ids import face_id_for
from likeness.media.listing import FILES_COUNTER
from likeness.media.models import (
    FaceDetection,
    FileChunk,
    FileChunks,
    FileDeleted,
    FileFaces,
    FileFromS3,
    FileList,
    FilePublic,
    FileStatus,
    FileTrace,
    MediaType,
    UploadTicket,
    parse_hints,
)
from likeness.media.records import (
    file_not_found,
    file_public,
    frame_time,
    identity_names,
    load_chunks,
    load_index,
    remove_orphan_autos,
    require_file,
    require_scope,
    sentence_chunk,
)
from likeness.media.store import (
    FILE_TYPE,
    MediaStore,
    account_pk,
    file_prefix,
    file_sk,
    new_uuid,
    source_key,
    subtitles_key,
    upload_prefix,
)
from likeness.media.subtitles import chunk_id_for, format_chunk_text, load_subtitles
from likeness.observability import logger
from likeness.settings import Settings

# enough of a file's head to tell its container
SNIFF_BYTES = 64
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
_ACCEPTED = "MP4, MOV, Matroska/WebM or AVI video, or a JPEG, PNG or WebP image"


class QueueUnavailable(LikenessError):
    status_code = 503
    code = "index_queue_unavailable"


@dataclass(frozen=True)
class Sniffed:
    media_type: MediaType
    content_type: str
    ext: str


_IMAGES = {
    "JPEG": Sniffed(MediaType.IMAGE, "image/jpeg", ".jpg"),
    "PNG": Sniffed(MediaType.IMAGE, "image/png", ".png"),
    "WEBP": Sniffed(MediaType.IMAGE, "image/webp", ".webp"),
}


def sniff_media(head: bytes) -> Sniffed | None:
    """The container from the file's first bytes (never its name or declared type)."""
    image = sniff_format(head)
    if image is not None:
        return _IMAGES[image]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return Sniffed(MediaType.VIDEO, "video/quicktime", ".mov")
        return Sniffed(MediaType.VIDEO, "video/mp4", ".mp4")
    if head[4:8] in (b"moov", b"mdat", b"wide"):  # QuickTime files from before the ftyp atom
        return Sniffed(MediaType.VIDEO, "video/quicktime", ".mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM by its DocType
        if b"webm" in head:
            return Sniffed(MediaType.VIDEO, "video/webm", ".webm")
        return Sniffed(MediaType.VIDEO, "video/x-matroska", ".mkv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed(MediaType.VIDEO, "video/x-msvideo", ".avi")
    return None


def clean_filename(name: str | None, fallback: str) -> str:
    text = _UNSAFE_NAME.sub("_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return text[:255] or fallback


def _unsupported(what: str = "the file") -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"{what} is not a video or image this service indexes", fix=f"Send an {_ACCEPTED}."
    )


def _hints(value: Any) -> list[str]:
    try:
        return parse_hints(value)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="invalid_request", fix="Send identity uuids.") from None


class FileService:
    def __init__(
        self,
        *,
        store: MediaStore,
        index_queue: JobQueue,
        batch_queue: JobQueue | None,
        events: EventPublisher,
        settings: Settings,
    ) -> None:
        self._store = store
        self._index_queue = index_queue
        self._batch_queue = batch_queue
        self._events = events
        self._settings = settings

    # ------------------------------------------------------------------ create
    def upload(
        self,
        *,
        caller: Caller,
        data: bytes,
        filename: str | None,
        subtitles: bytes | None = None,
        identity_hints: Any = None,
        correlation_id: str | None = None,
    ) -> FilePublic:
        """A file sent in the request (multipart). 400 empty, 413 too big, 415 not a video/image."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        limit = self._settings.media_max_upload_bytes
        if len(data) > limit:
            raise PayloadTooLarge(
                f"the file is larger than {limit // (1024 * 1024)} MB",
                fix="Upload it with POST /api/v1/files/uploads (a presigned PUT), then send its s3_key.",
            )
        if not data:
            raise BadRequest("the file is empty", code="empty_file", fix=f"Send an {_ACCEPTED}.")
        sniffed = sniff_media(data[:SNIFF_BYTES])
        if sniffed is None:
            raise _unsupported()
        hints = self._check_hints(account_id, identity_hints)
        subtitle_format = self._check_subtitles(subtitles, sniffed)

        file_uuid = new_uuid()
        key = source_key(account_id, file_uuid, sniffed.ext)
        self._store.blobs.put(key, data, content_type=sniffed.content_type)
        sub_key = None
        if subtitles is not None and subtitle_format is not None:
            sub_key = subtitles_key(account_id, file_uuid, subtitle_format)
            self._store.blobs.put(sub_key, subtitles, content_type=f"text/{subtitle_format}")
        item = self._file_item(
            account_id,
            file_uuid,
            filename=clean_filename(filename, f"file{sniffed.ext}"),
            sniffed=sniffed,
            size=len(data),
            key=key,
            sub_key=sub_key,
            hints=hints,
        )
        return self._submit(item, correlation_id=correlation_id)

    def create_from_s3(
        self, *, caller: Caller, request: FileFromS3, correlation_id: str | None = None
    ) -> FilePublic:
        """A file uploaded to S3 with a presigned URL from ``create_upload``: claimed (moved under
        the file's own prefix) and queued. 422 for a key outside the caller's upload prefix, 404 for
        one that does not exist."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        blobs = self._store.blobs
        source = self._own_upload(account_id, request.s3_key, "s3_key")
        size = blobs.size(source)
        if size is None:
            raise self._upload_missing("s3_key", request.s3_key)
        if size == 0:
            raise BadRequest("the uploaded file is empty", code="empty_file", fix=f"Upload an {_ACCEPTED}.")
        if size > self._settings.media_max_source_bytes:
            raise PayloadTooLarge(
                f"the file is larger than {self._settings.media_max_source_bytes // (1024 * 1024)} MB"
            )
        sniffed = sniff_media(blobs.get_head(source, SNIFF_BYTES))
        if sniffed is None:
            raise _unsupported("the uploaded file")
        hints = self._check_hints(account_id, request.identity_hints)
        subtitles = None
        sub_source = None
        if request.subtitles_s3_key is not None:
            sub_source = self._own_upload(account_id, request.subtitles_s3_key, "subtitles_s3_key")
            sub_size = blobs.size(sub_source)
            if sub_size is None:
                raise self._upload_missing("subtitles_s3_key", request.subtitles_s3_key)
            if sub_size > self._settings.media_max_subtitles_bytes:
                raise PayloadTooLarge(
                    f"the subtitles are larger than {self._settings.media_max_subtitles_bytes // 1024} KB"
                )
            subtitles = blobs.get(sub_source)
        subtitle_format = self._check_subtitles(subtitles, sniffed)

        file_uuid = new_uuid()
        key = source_key(account_id, file_uuid, sniffed.ext)
        blobs.copy(source, key)
        sub_key = None
        if subtitles is not None and subtitle_format is not None:
            sub_key = subtitles_key(account_id, file_uuid, subtitle_format)
            blobs.put(sub_key, subtitles, content_type=f"text/{subtitle_format}")
        fallback = request.s3_key.rsplit("/", 1)[-1]
        item = self._file_item(
            account_id,
            file_uuid,
            filename=clean_filename(request.filename or fallback, f"file{sniffed.ext}"),
            sniffed=sniffed,
            size=size,
            key=key,
            sub_key=sub_key,
            hints=hints,
        )
        submitted = self._submit(item, correlation_id=correlation_id)
        # claimed: the upload area is for unclaimed files only
        for claimed in filter(None, (source, sub_source)):
            try:
                blobs.delete(claimed)
            except Exception:
                logger.exception("could not delete a claimed upload", key=claimed)
        return submitted

    def create_upload(self, *, caller: Caller, filename: str | None) -> UploadTicket:
        """A presigned PUT under the caller's own upload prefix, for files too big for a request."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        name = clean_filename(filename, "source").replace(" ", "_")
        key = f"{upload_prefix(caller.account_id)}{secrets.token_hex(12)}/{name}"
        ttl = self._settings.media_upload_url_ttl_seconds
        return UploadTicket(
            s3_key=key,
            upload_url=self._store.blobs.signed_upload_url(key, expires_in=ttl),
            expires_in=ttl,
            max_bytes=self._settings.media_max_source_bytes,
        )

    def _own_upload(self, account_id: str, key: str, field: str) -> str:
        prefix = upload_prefix(account_id)
        if not key.startswith(prefix) or ".." in key.split("/") or len(key) <= len(prefix):
            raise Unprocessable(
                f"{field} must be a key handed out by POST /api/v1/files/uploads for this account",
                code="invalid_s3_key",
                fix="Ask POST /api/v1/files/uploads for an upload URL, PUT the file there, then send "
                "its s3_key.",
            )
        return key

    @staticmethod
    def _upload_missing(field: str, key: str) -> NotFound:
        return NotFound(
            f"nothing was uploaded to {field} {key!r}",
            code="upload_not_found",
            fix="PUT the file to the upload_url first (it expires after expires_in seconds).",
        )

    def _check_hints(self, account_id: str, value: Any) -> list[str]:
        hints = _hints(value)
        if hints:
            found = self._store.get_identities(account_id, hints)
            unknown = [h for h in hints if h not in found]
            if unknown:
                raise Unprocessable(
                    f"identity_hints names identities this account does not have: {', '.join(unknown)}",
                    code="unknown_identity",
                    fix="GET /api/v1/identities lists yours.",
                )
        return hints

    @staticmethod
    def _check_subtitles(data: bytes | None, sniffed: Sniffed) -> str | None:
        """Parse them now so bad subtitles are a 400 here, not a failed job later; 'srt' or 'vtt'."""
        if data is None:
            return None
        if sniffed.media_type is not MediaType.VIDEO:
            raise Unprocessable(
                "subtitles go with a video, not an image", code="subtitles_need_video", fix="Leave them out."
            )
        load_subtitles(data)
        head = data.lstrip(b"\xef\xbb\xbf").lstrip()
        return "vtt" if head.startswith(b"WEBVTT") else "srt"

    def _file_item(
        self,
        account_id: str,
        file_uuid: str,
        *,
        filename: str,
        sniffed: Sniffed,
        size: int,
        key: str,
        sub_key: str | None,
        hints: list[str],
    ) -> Item:
        return {
            "PK": account_pk(account_id),
            "SK": file_sk(file_uuid),
            "type": FILE_TYPE,
            "account_id": account_id,
            "file_uuid": file_uuid,
            "filename": filename,
            "content_type": sniffed.content_type,
            "media_type": sniffed.media_type.value,
            "size_bytes": size,
            "source_key": key,
            "subtitles_key": sub_key,
            "identity_hints": hints,
            "status": FileStatus.PENDING.value,
            "run_id": secrets.token_hex(8),
            "created_at": now_iso(),
        }

    def _submit(self, item: Item, *, correlation_id: str | None) -> FilePublic:
        self._store.put_file(item)
        return file_public(self._queue(item, correlation_id=correlation_id), {})

    def _queue(self, item: Item, *, correlation_id: str | None) -> Item:
        """Send the index message; when that fails the file is failed with the reason (503)."""
        account_id, file_uuid = item["account_id"], item["file_uuid"]
        big = int(item["size_bytes"]) > self._settings.media_lambda_max_bytes
        queue = self._batch_queue if big and self._batch_queue is not None else self._index_queue
        route = "batch" if queue is self._batch_queue else "lambda"
        try:
            if not queue.queue_url:
                raise RuntimeError("no media index queue is configured")
            queue.send(
                {"account_id": account_id, "file_uuid": file_uuid, "run_id": item["run_id"]},
                correlation_id=correlation_id,
            )
        except Exception as exc:
            logger.exception("could not queue a media index job", file_uuid=file_uuid)
            reason = f"the index job could not be queued: {exc}"
            try:
                failed = self._store.update_file(
                    account_id,
                    file_uuid,
                    set_fields={"status": FileStatus.FAILED.value, "error": reason, "updated_at": now_iso()},
                    condition="attribute_exists(PK) AND run_id = :run",
                    values={":run": item["run_id"]},
                )
                self._publish("file.failed", failed)
            except ConditionFailed:
                pass
            raise QueueUnavailable(
                "the file was stored but its index job could not be queued",
                fix=f"Try again: POST /api/v1/files/{file_uuid}/reindex.",
                extra={"file_uuid": file_uuid},
            ) from exc
        try:
            return self._store.update_file(
                account_id,
                file_uuid,
                set_fields={"queue": route, "queued_at": now_iso()},
                condition="attribute_exists(PK) AND run_id = :run",
                values={":run": item["run_id"]},
            )
        except ConditionFailed:
            return item

    def _publish(self, detail_type: str, item: Item) -> None:
        publish_file_event(self._events, detail_type, item, file_public(item, {}))

    # ------------------------------------------------------------------ reads
    def list_files(self, *, caller: Caller, page: int, page_size: int) -> FileList:
        """Newest first: the page from the account's file list, the count from its counter."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        shown = self._store.file_page(account_id, offset=(page - 1) * page_size, limit=page_size)
        names = identity_names(self._store, account_id, shown)
        return FileList(
            count=read_count(self._store.table, account_id, FILES_COUNTER),
            page=page,
            page_size=page_size,
            files=[file_public(f, names) for f in shown],
        )

    def get_file(self, *, caller: Caller, file_uuid: str) -> FilePublic:
        require_scope(caller, Scope.IDENTITIES_READ)
        item = require_file(self._store, caller.account_id, file_uuid)
        return file_public(item, identity_names(self._store, caller.account_id, [item]))

    def faces(self, *, caller: Caller, file_uuid: str) -> FileFaces:
        """Every trace of the file with its detections and its identity."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        item = require_file(self._store, account_id, file_uuid)
        traces = sorted(self._store.file_traces(account_id, file_uuid), key=lambda t: int(t["trace_id"]))
        if not traces:
            return FileFaces(file_uuid=file_uuid, count=0, traces=[])
        index = load_index(self._store, account_id, file_uuid)
        uuids = {t["identity_uuid"] for t in traces if t.get("identity_uuid")}
        names = (
            {u: i["name"] for u, i in self._store.get_identities(account_id, uuids).items()} if uuids else {}
        )
        fps = item.get("fps")
        out = []
        for trace in traces:
            trace_id = int(trace["trace_id"])
            uuid = trace.get("identity_uuid")
            out.append(
                FileTrace(
                    trace_id=trace_id,
                    identity_uuid=uuid,
                    name=names.get(uuid) if uuid else None,
                    assignment=trace.get("assignment"),
                    distance=trace.get("distance"),
                    start_frame=int(trace["start_frame"]),
                    end_frame=int(trace["end_frame"]),
                    start_time=frame_time(int(trace["start_frame"]), fps),
                    end_time=frame_time(int(trace["end_frame"]) + 1, fps) if fps else 0.0,
                    face_count=int(trace["face_count"]),
                    confidence=float(trace["confidence"]),
                    faces=[
                        FaceDetection(
                            face_id=face_id_for(int(d["frame_number"]), int(d["idx"])),
                            frame_number=int(d["frame_number"]),
                            box=[round(float(v), 1) for v in d["box"]],
                            confidence=round(float(d["score"]), 4),
                        )
                        for d in index.detections(trace_id)
                    ],
                )
            )
        return FileFaces(file_uuid=file_uuid, count=len(out), traces=out)

    def chunks(self, *, caller: Caller, file_uuid: str) -> FileChunks:
        """The file's sentence chunks, each with the identities on screen while it is spoken."""
        require_scope(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        item = require_file(self._store, account_id, file_uuid)
        chunks = load_chunks(self._store, account_id, item)
        ranges = [
            (int(t["start_frame"]), int(t["end_frame"]), t["identity_uuid"])
            for t in (self._store.file_traces(account_id, file_uuid) if chunks else [])
            if t.get("identity_uuid")
        ]
        data = []
        for position, chunk in enumerate(chunks):
            on_screen = sorted(
                {
                    uuid
                    for start, end, uuid in ranges
                    if start <= chunk["end_frame"] and end >= chunk["start_frame"]
                }
            )
            data.append(
                FileChunk(
                    id=position,
                    file_uuid=file_uuid,
                    chunk_id=chunk_id_for(file_uuid, int(chunk["index"])),
                    start_frame=int(chunk["start_frame"]),
                    end_frame=int(chunk["end_frame"]),
                    fps=float(chunk["fps"]),
                    start_time=float(chunk["start_time"]),
                    end_time=float(chunk["end_time"]),
                    text_content=format_chunk_text(sentence_chunk(chunk), None),
                    identity_uuids=on_screen,
                )
            )
        return FileChunks(file_uuid=file_uuid, count=len(data), data=data)

    # ------------------------------------------------------------------ changes
    def reindex(
        self, *, caller: Caller, file_uuid: str, identity_hints: Any = None, correlation_id: str | None = None
    ) -> FilePublic:
        """Back to pending with a new run; ``identity_hints`` (when sent) replace the file's hints."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        require_file(self._store, account_id, file_uuid)
        fields: dict[str, Any] = {
            "status": FileStatus.PENDING.value,
            "run_id": secrets.token_hex(8),
            "index_attempts": 0,  # a new run starts its count again
            "error": None,
            "updated_at": now_iso(),
        }
        if identity_hints is not None:
            fields["identity_hints"] = self._check_hints(account_id, identity_hints)
        try:
            item = self._store.update_file(account_id, file_uuid, set_fields=fields)
        except ConditionFailed as exc:
            raise NotFound(f"file {file_uuid} not found", code="file_not_found") from exc
        queued = self._queue(item, correlation_id=correlation_id)
        return file_public(queued, identity_names(self._store, account_id, [queued]))

    def delete_file(self, *, caller: Caller, file_uuid: str) -> FileDeleted:
        """The file, its objects, its traces, and the auto identities it leaves with nothing."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        item = require_file(self._store, account_id, file_uuid)
        traces = self._store.file_traces(account_id, file_uuid)
        involved = [t["identity_uuid"] for t in traces if t.get("identity_uuid")]
        involved += list(item.get("auto_identity_uuids") or [])
        # the record first: a job still running finds no file and stores nothing
        try:
            self._store.delete_file_item(account_id, file_uuid)
        except ConditionFailed as exc:
            raise file_not_found(file_uuid) from exc
        self._store.delete_traces(account_id, file_uuid, traces)
        self._store.blobs.delete_prefix(file_prefix(account_id, file_uuid))
        removed = remove_orphan_autos(
            self._store, account_id, involved, reason=f"file {file_uuid} deleted", key_id=caller.key_id
        )
        return FileDeleted(file_uuid=file_uuid, deleted_identities=removed)


def publish_file_event(events: EventPublisher, detail_type: str, item: Item, public: FilePublic) -> None:
    """``file.indexed`` / ``file.failed`` on the bus; a lost notification never undoes the change."""
    detail = {
        "account_id": item["account_id"],
        "occurred_at": now_iso(),
        "data": public.model_dump(mode="json"),
    }
    try:
        events.publish(detail_type, detail)
    except Exception:
        logger.exception("could not publish event", detail_type=detail_type, file_uuid=item["file_uuid"])
