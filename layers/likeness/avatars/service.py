"""Avatar jobs: accept a generation request, and save, list and read finished avatars.

Layout: AVATAR#<id> / AVATAR (GSI1: ACCOUNT#<account> / AVATAR#<created>#<id>). A saved
avatar owns a copy of its image (avatars/<id>.<ext>), so it outlives the job's files. The
list's total is the account's ``avatars`` counter, moved with each save.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.avatars.generation import FACE_IN_SCENE, avatar_plan
from likeness.avatars.models import (
    AVATAR_JOB_TYPE,
    AvatarGenerate,
    AvatarList,
    AvatarPublic,
    AvatarSave,
    JobAccepted,
)
from likeness.aws.dynamodb import DynamoTable, Item, TransactItem
from likeness.aws.s3 import BlobStore
from likeness.clock import now_iso
from likeness.counters import count_change, read_count
from likeness.engines.base import EngineError, Operation
from likeness.engines.selection import require_engine
from likeness.errors import Conflict, NotFound, Unprocessable
from likeness.inline_images import InlineImage
from likeness.jobs.generation import resolve_identity_check
from likeness.jobs.idempotency import request_fingerprint
from likeness.jobs.models import JobState, epoch_of
from likeness.jobs.service import InputBlob, JobService, JobSubmission, Submitted
from likeness.library import ReferenceLibrary
from likeness.settings import Settings
from likeness.uploads.service import UploadService, claimed_or_none, image_input, upload_fields

# saved avatars of the account (there is no delete: an avatar stays until the account goes)
AVATARS_COUNTER = "avatars"


def avatar_key(avatar_id: str) -> tuple[str, str]:
    return f"AVATAR#{avatar_id}", "AVATAR"


class AvatarService:
    def __init__(
        self,
        *,
        jobs: JobService,
        table: DynamoTable,
        blobs: BlobStore,
        settings: Settings,
        library: ReferenceLibrary | None = None,
        uploads: UploadService | None = None,
    ) -> None:
        self._jobs = jobs
        self._table = table
        self._blobs = blobs
        self._settings = settings
        self._library = library
        self._uploads = uploads

    # ------------------------------------------------------------------ generate
    def generate(
        self,
        *,
        caller: Caller,
        request: AvatarGenerate,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> Submitted:
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        fingerprint = self.fingerprint(request) if idempotency_key is not None else None
        labelled = {f"reference_images[{i}]": value for i, value in enumerate(request.reference_images or [])}
        named = upload_fields(labelled)
        if named and idempotency_key is not None and fingerprint is not None:
            # a retry of a request that went through: its uploads are used, its answer stored
            replay = self._jobs.replayed(
                caller=caller, idempotency_key=idempotency_key, fingerprint=fingerprint
            )
            if replay is not None:
                return replay
        # {"upload_id"} references are claimed for the request: used once it is accepted
        with claimed_or_none(self._uploads, caller=caller, named=named) as uploaded:
            references = [
                image_input(
                    value,
                    label=label,
                    uploaded=uploaded,
                    max_bytes=self._settings.max_reference_image_bytes,
                    max_pixels=self._settings.max_image_pixels,
                )
                for label, value in labelled.items()
            ]
            return self._submit(
                caller=caller,
                request=request,
                references=references,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                correlation_id=correlation_id,
            )

    def _submit(
        self,
        *,
        caller: Caller,
        request: AvatarGenerate,
        references: list[InlineImage],
        idempotency_key: str | None,
        fingerprint: str | None,
        correlation_id: str | None,
    ) -> Submitted:
        if request.hints.get("composition") == FACE_IN_SCENE and len(references) != 2:
            raise Unprocessable(
                f"hints.composition {FACE_IN_SCENE!r} needs exactly 2 reference_images (the person, "
                f"then the scene); got {len(references)}",
                code="invalid_hint",
            )
        slug = request.engine or self._settings.default_image_model
        capabilities = require_engine(slug, Operation.PORTRAIT if references else Operation.NEW_FACE)
        try:
            # with references the library is skipped: one face makes a portrait, several a blend
            plan = avatar_plan(
                capabilities=capabilities,
                references=len(references),
                composition=request.hints.get("composition"),
                library_size=len(self._library.faces()) if not references and self._library else 0,
            )
        except EngineError as exc:
            raise Unprocessable(exc.reason, code=exc.code) from exc
        require_engine(slug, plan.operation, faces=len(references))
        submission = JobSubmission(
            job_type=AVATAR_JOB_TYPE,
            engine=slug,
            cost=self._settings.avatar_generation_credits,
            inputs={
                "prompt": request.prompt,
                "hints": request.hints,
                "output": request.output.model_dump(mode="json", exclude_unset=True),
                "reference_count": len(references),
                "mode": "references" if references else "library",
                "identity_check": resolve_identity_check(
                    request.identity_check, has_identity=plan.same_person
                ),
            },
            input_blobs=[
                InputBlob(name=f"reference_{i}.{ref.extension}", data=ref.data, content_type=ref.content_type)
                for i, ref in enumerate(references)
            ],
            client_reference=request.client_reference_id,
            metadata=request.metadata or {},
        )
        return self._jobs.submit(
            caller=caller,
            submission=submission,
            respond=self._accepted,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            correlation_id=correlation_id,
        )

    @staticmethod
    def fingerprint(request: AvatarGenerate) -> str:
        """What makes two generate requests the same (defaults filled in)."""
        return request_fingerprint("POST /api/v1/avatars/generate", request.model_dump(mode="json"))

    @staticmethod
    def _accepted(job: Item) -> dict[str, Any]:
        return JobAccepted(
            request_id="req_" + secrets.token_hex(12),
            created=epoch_of(job["created_at"]) or 0,
            job_id=job["job_id"],
        ).model_dump(mode="json")

    # ------------------------------------------------------------------ saved avatars
    def save(self, *, caller: Caller, save: AvatarSave) -> AvatarPublic:
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        job = self._jobs.get_job(caller=caller, job_id=save.job_id, job_type=AVATAR_JOB_TYPE)
        if JobState(job["state"]) is not JobState.SUCCEEDED:
            word = self._jobs.presenter.present(job)["status"]
            raise Conflict(
                f"job {save.job_id} is {word}; only a completed avatar job can be saved",
                code="job_not_completed",
                fix="Poll GET /api/v1/jobs/{job_id} until its status is 'completed'.",
                extra={"status": word},
            )
        result = job["outputs"]["results"][0]
        avatar_id = str(uuid.uuid4())
        extension = result["key"].rsplit(".", 1)[-1]
        key = f"avatars/{avatar_id}.{extension}"
        self._blobs.put(key, self._blobs.get(result["key"]), content_type=result["content_type"])
        created = now_iso()
        pk, sk = avatar_key(avatar_id)
        item: Item = {
            "PK": pk,
            "SK": sk,
            "GSI1PK": f"ACCOUNT#{caller.account_id}",
            "GSI1SK": f"AVATAR#{created}#{avatar_id}",
            "type": "avatar",
            "avatar_id": avatar_id,
            "account_id": caller.account_id,
            "name": save.text,
            "job_id": save.job_id,
            "key": key,
            "content_type": result["content_type"],
            "width": result["width"],
            "height": result["height"],
            "created_at": created,
        }
        try:
            self._table.transact(
                [
                    TransactItem(kind="Put", item=item, condition="attribute_not_exists(PK)"),
                    count_change(caller.account_id, {AVATARS_COUNTER: 1}),
                ]
            )
        except Exception:
            # no record, no copy
            self._blobs.delete(key)
            raise
        return self._public(item)

    def list_avatars(self, *, caller: Caller, limit: int, offset: int) -> AvatarList:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        # newest first from the account's index, reading only the page; the total is a counter
        page = self._table.query_page(
            f"ACCOUNT#{caller.account_id}",
            sk_prefix="AVATAR#",
            index="GSI1",
            forward=False,
            offset=offset,
            limit=limit,
        )
        total = read_count(self._table, caller.account_id, AVATARS_COUNTER)
        return AvatarList(
            data=[self._public(i) for i in page],
            total=total,
            limit=limit,
            offset=offset,
            has_more=offset + len(page) < total,
        )

    def get_avatar(self, *, caller: Caller, avatar_id: str) -> AvatarPublic:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        item = self._table.get(*avatar_key(avatar_id))
        if item is None or item["account_id"] != caller.account_id:
            raise NotFound(f"avatar {avatar_id} not found", code="avatar_not_found")
        return self._public(item)

    def _public(self, item: Item) -> AvatarPublic:
        return AvatarPublic(
            id=item["avatar_id"],
            label=item["name"],
            name=item["name"],
            image_url=self._blobs.signed_url(
                item["key"], expires_in=self._settings.job_result_url_ttl_seconds
            ),
            job_id=item["job_id"],
            created=epoch_of(item["created_at"]) or 0,
            width=item["width"],
            height=item["height"],
            content_type=item["content_type"],
        )
