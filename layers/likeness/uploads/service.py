"""Presigned image uploads: ``POST /uploads``, then an ``upload_id`` in place of the bytes.

A request carries at most about 4.45 MB of body (likeness.http.limits), less than the images some
routes take. ``POST /uploads {"content_type", "size"}`` answers with a presigned S3 PUT whose
signature binds that Content-Type and Content-Length, and an ``upload_id``; every route that takes
an image accepts the ``upload_id`` in place of the bytes and validates them exactly as it
validates inline ones (docs/uploads.md).

Layout (PK / SK):
  UPLOAD#<account>#<upload_id> / UPLOAD   the upload; ``expires_at`` (epoch seconds) is the TTL
  uploads/<account>/<upload_id>           the bytes (S3); template.yaml's lifecycle rule on
                                          uploads/ removes what nobody used

An upload is used once. A route *claims* it for the request (a lease, so two requests cannot use
it at once); when the request succeeds the upload is *used*, its object deleted and its record
kept until it expires, so a second use is 409 ``upload_already_used``; when the request fails
(a face rule, a taken name, credits) the claim is released and the same ``upload_id`` may be sent
again. Another account's upload is 404, as an unknown one; past ``expires_at`` it is 410.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item
from likeness.aws.s3 import BlobStore
from likeness.clock import isoformat
from likeness.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from likeness.http.limits import shown_size
from likeness.inline_images import InlineImage, check_image, decode_inline_image
from likeness.observability import logger
from likeness.settings import Settings

UPLOAD_ROOT = "uploads"
UPLOAD_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
# a claim outlives any API function's timeout; one left by a crashed request lapses after this
LEASE_SECONDS = 120
_UPLOAD_ID = re.compile(r"^up_[0-9a-f]{32}$")

UploadId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class UploadCreate(BaseModel):
    """POST /uploads: what will be PUT (both are signed into the URL)."""

    model_config = ConfigDict(extra="forbid")

    content_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    size: int = Field(ge=1, description="bytes the PUT will send (its Content-Length)")


class UploadTicket(BaseModel):
    """The 201 answer: PUT the bytes to ``url`` with exactly ``headers``, before ``expires_at``."""

    upload_id: str
    url: str
    headers: dict[str, str]
    expires_at: str


class UploadRef(BaseModel):
    """``{"upload_id": "up_..."}``: in a JSON body, in place of an inline (base64) image."""

    model_config = ConfigDict(extra="forbid")

    upload_id: UploadId


def upload_key(account_id: str, upload_id: str) -> str:
    return f"{UPLOAD_ROOT}/{account_id}/{upload_id}"


def upload_record_key(account_id: str, upload_id: str) -> tuple[str, str]:
    return f"UPLOAD#{account_id}#{upload_id}", "UPLOAD"


def one_image_source(*, file_field: str, sent_file: bool, upload_field: str, upload_id: str | None) -> None:
    """400 when a request sends an image both as bytes and as an upload_id."""
    if sent_file and upload_id:
        raise BadRequest(
            f"both {file_field} and {upload_field} were sent; send the image one way",
            code="image_source_conflict",
            fix=f"Send the bytes as {file_field}, or the upload_id of POST /uploads as {upload_field}; "
            "not both.",
        )


@dataclass(frozen=True)
class _Claim:
    field: str
    upload_id: str
    key: tuple[str, str]
    object_key: str
    token: str
    data: bytes = b""


class UploadService:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._blobs = blobs
        self._settings = settings
        self._clock = clock

    # ------------------------------------------------------------------ create
    def create(self, *, caller: Caller, request: UploadCreate) -> UploadTicket:
        """A presigned PUT under the caller's own prefix, bound to the declared type and size."""
        _require_write(caller)
        content_type = request.content_type.lower()
        if content_type not in UPLOAD_CONTENT_TYPES:
            raise UnsupportedMediaType(
                f"content_type {request.content_type!r} is not an image this API takes",
                fix="Upload a JPEG, PNG or WebP image: content_type one of "
                f"{', '.join(UPLOAD_CONTENT_TYPES)}.",
            )
        limit = self._settings.upload_max_bytes
        if request.size > limit:
            raise PayloadTooLarge(
                f"size {request.size} is larger than {shown_size(limit)}, the largest image any route takes",
                fix="Send a smaller or more compressed image.",
            )
        ttl = self._settings.upload_ttl_seconds
        now = int(self._clock())
        upload_id = "up_" + secrets.token_hex(16)
        object_key = upload_key(caller.account_id, upload_id)
        url = self._blobs.signed_upload_url(
            object_key, expires_in=ttl, content_type=content_type, content_length=request.size
        )
        pk, sk = upload_record_key(caller.account_id, upload_id)
        self._table.put(
            {
                "PK": pk,
                "SK": sk,
                "type": "upload",
                "upload_id": upload_id,
                "account_id": caller.account_id,
                "object_key": object_key,
                "content_type": content_type,
                "size": request.size,
                "state": "pending",
                "created_at": isoformat(datetime.fromtimestamp(now, UTC)),
                "expires_at": now + ttl,
            },
            condition="attribute_not_exists(PK)",
        )
        return UploadTicket(
            upload_id=upload_id,
            url=url,
            headers={"Content-Type": content_type, "Content-Length": str(request.size)},
            expires_at=isoformat(datetime.fromtimestamp(now + ttl, UTC)),
        )

    # ------------------------------------------------------------------ use
    @contextmanager
    def claimed(self, *, caller: Caller, uploads: Mapping[str, str]) -> Iterator[dict[str, bytes]]:
        """The bytes of each upload named (request field -> upload_id), for the ``with`` block:
        used and deleted when the block succeeds, released for another try when it raises."""
        if not uploads:
            yield {}
            return
        _require_write(caller)
        seen: dict[str, str] = {}
        for field, upload_id in uploads.items():
            if upload_id in seen:
                raise Unprocessable(
                    f"{field} names the same upload as {seen[upload_id]}; an upload is used once",
                    code="duplicate_upload_id",
                    fix="Create one upload per image (POST /uploads).",
                )
            seen[upload_id] = field
        claims: list[_Claim] = []
        try:
            for field, upload_id in uploads.items():
                claims.append(self._claim(caller.account_id, upload_id, field))
            yield {claim.field: claim.data for claim in claims}
        except BaseException:
            for claim in claims:
                self._release(claim)
            raise
        for claim in claims:
            self._finish(claim)

    def _claim(self, account_id: str, upload_id: str, field: str) -> _Claim:
        upload_id = upload_id.strip()
        if not _UPLOAD_ID.match(upload_id):
            raise _not_found(field, upload_id)
        key = upload_record_key(account_id, upload_id)
        now = int(self._clock())
        token = secrets.token_hex(8)
        try:
            item = self._table.update(
                *key,
                update="SET lease_token = :token, leased_until = :until",
                condition="attribute_exists(PK) AND #state = :pending AND expires_at > :now "
                "AND (attribute_not_exists(leased_until) OR leased_until < :now)",
                names={"#state": "state"},
                values={":token": token, ":until": now + LEASE_SECONDS, ":pending": "pending", ":now": now},
            )
        except ConditionFailed:
            raise self._refusal(key, field, upload_id, now) from None
        claim = _Claim(field=field, upload_id=upload_id, key=key, object_key=item["object_key"], token=token)
        try:
            return replace(claim, data=self._read(item, field))
        except BaseException:
            self._release(claim)
            raise

    def _read(self, item: Item, field: str) -> bytes:
        """The uploaded bytes, once S3 holds exactly what the upload was created for."""
        upload_id, size, content_type = item["upload_id"], int(item["size"]), item["content_type"]
        head = self._blobs.head(item["object_key"])
        if head is None:
            raise Conflict(
                f"{field}: nothing has been uploaded to {upload_id} yet",
                code="upload_not_received",
                fix="PUT the image to the upload's url with its headers before expires_at, then send "
                "the upload_id.",
            )
        if head.size != size or head.content_type.split(";")[0].strip().lower() != content_type:
            # S3 refuses such a PUT (the signature binds both headers); an emulator may not
            raise Unprocessable(
                f"{field}: {upload_id} holds {head.size} bytes of {head.content_type or 'no type'}, not the "
                f"{size} bytes of {content_type} it was created for",
                code="upload_mismatch",
                fix="PUT exactly the declared bytes with the headers POST /uploads answered, or create "
                "a new upload.",
            )
        return self._blobs.get(item["object_key"])

    def _refusal(self, key: tuple[str, str], field: str, upload_id: str, now: int) -> Exception:
        item = self._table.get(*key)
        if item is None:
            return _not_found(field, upload_id)
        if item["state"] == "used":
            return Conflict(
                f"{field}: {upload_id} was already used; an upload is used once",
                code="upload_already_used",
                fix="Create a new upload (POST /uploads) for this image.",
            )
        expires_at = int(item["expires_at"])
        if expires_at <= now:
            return Gone(
                f"{field}: {upload_id} expired at {isoformat(datetime.fromtimestamp(expires_at, UTC))}",
                code="upload_expired",
                fix="Create a new upload (POST /uploads) and use it before its expires_at.",
            )
        return Conflict(
            f"{field}: {upload_id} is being used by another request",
            code="upload_in_use",
            fix="Wait for that request to finish; if it failed, send this one again.",
        )

    def _finish(self, claim: _Claim) -> None:
        """The request succeeded: the upload is used, and its bytes (now copied) go."""
        try:
            self._table.update(
                *claim.key,
                update="SET #state = :used, used_at = :at REMOVE lease_token, leased_until",
                condition="lease_token = :token",
                names={"#state": "state"},
                values={":used": "used", ":at": int(self._clock()), ":token": claim.token},
            )
        except Exception:
            # the request's work is done; the upload stays claimable until it expires
            logger.exception("could not mark an upload used", upload_id=claim.upload_id)
        try:
            self._blobs.delete(claim.object_key)
        except Exception:
            logger.exception("could not delete a used upload", upload_id=claim.upload_id)

    def _release(self, claim: _Claim) -> None:
        """The request failed: the upload may be sent again."""
        try:
            self._table.update(
                *claim.key,
                update="REMOVE lease_token, leased_until",
                condition="lease_token = :token",
                values={":token": claim.token},
            )
        except ConditionFailed:
            pass
        except Exception:
            # never hide the request's own error; the lease lapses after LEASE_SECONDS
            logger.exception("could not release an upload", upload_id=claim.upload_id)


def _not_found(field: str, upload_id: str) -> NotFound:
    return NotFound(
        f"{field}: upload {upload_id!r} not found",
        code="upload_not_found",
        fix="Send the upload_id POST /uploads answered with, with the same API key's account.",
    )


def _require_write(caller: Caller) -> None:
    if not caller.can(Scope.IDENTITIES_WRITE):
        raise Forbidden(f"this API key lacks the '{Scope.IDENTITIES_WRITE.value}' scope")


def upload_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The ``UploadRef`` values of a mapping of request fields, as field -> upload_id."""
    return {field: value.upload_id for field, value in values.items() if isinstance(value, UploadRef)}


def image_input(
    value: str | UploadRef, *, label: str, uploaded: Mapping[str, bytes], max_bytes: int, max_pixels: int
) -> InlineImage:
    """An image of a JSON body, inline (data URL / base64) or an upload claimed as ``label``:
    the same checks either way."""
    if isinstance(value, UploadRef):
        return check_image(uploaded[label], label=label, max_bytes=max_bytes, max_pixels=max_pixels)
    return decode_inline_image(value, label=label, max_bytes=max_bytes, max_pixels=max_pixels)


def claimed_or_none(
    uploads: UploadService | None, *, caller: Caller, named: Mapping[str, str]
) -> AbstractContextManager[dict[str, bytes]]:
    """``uploads.claimed``, for a service built without uploads when a request names none."""
    if not named:
        return nullcontext({})
    if uploads is None:
        raise Unprocessable("upload ids are not accepted here", code="uploads_unavailable")
    return uploads.claimed(caller=caller, uploads=named)
