"""Studio identity rules: upload, visibility, sharing, status, results and deletion.

Layout (PK / SK):
  IDENTITY#<code> / IDENTITY           the identity (GSI1: OWNER#<account> / IDENTITY#<created>#<code>)
  ACCOUNT#<id> / IDENTITYNAME#<name>   the per-account name lock (names are unique, case-insensitively)
  GROUP#<name> / SHARE#<code>          the identity is shared with the group (GSI1: GROUP#<name> /
                                       SHARE#<identity created>#<code>)
  ACCOUNT#<id>, GROUP#<name> / COUNTS#IDENTITY   the counters of the list's total (sharing.py)
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from likeness.accounts.models import PLATFORM_ACCOUNT_ID, Caller, Scope
from likeness.accounts.service import AccountService, account_pk
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.aws.eventbridge import EventPublisher
from likeness.aws.s3 import BlobStore
from likeness.aws.sqs import JobQueue
from likeness.clock import now_iso
from likeness.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientCredits,
    LikenessError,
    NotFound,
    SlotLimitReached,
)
from likeness.identities.listing import IdentityLister
from likeness.identities.models import (
    FacePublic,
    IdentityCreate,
    IdentityPage,
    IdentityPublic,
    IdentityResultImage,
    IdentityResults,
    IdentitySource,
    IdentityStatus,
    PreprocessingStatus,
    QualityProblemPublic,
    Visibility,
)
from likeness.identities.sharing import (
    ShareState,
    count_writes,
    identity_key,
    private_again_writes,
    removal_writes,
    share_row,
    share_writes,
    unshare_writes,
)
from likeness.jobs.models import JobState, job_key, new_job_id, new_job_item, put_job, result_key
from likeness.observability import logger
from likeness.settings import Settings

if TYPE_CHECKING:
    from likeness.faces.pipeline import FacePipeline
    from likeness.faces.types import DetectedFace, FaceAnalysis

# how often a change is planned again when the identity's sharing changed under it
STATE_RETRIES = 5
CHECK_FAILED = "ConditionalCheckFailed"
PREPROCESS_JOB_TYPE = "identity_preprocessing"
DRAFT_JOB_TYPE = "identity_creation"
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def name_lock_key(owner: str, name: str) -> tuple[str, str]:
    return account_pk(owner), f"IDENTITYNAME#{name.casefold()}"


def identity_prefix(code: str) -> str:
    return f"identities/{code}/"


def to_public(item: Item, *, caller: Caller) -> IdentityPublic:
    owned = item["owner_account_id"] == caller.account_id
    face = item.get("face")
    return IdentityPublic(
        identity_code=item["identity_code"],
        name=item["name"],
        visibility=Visibility(item["visibility"]),
        owned=owned,
        shared_with=sorted(item.get("shared_with") or []) if owned else [],
        source=IdentitySource(item.get("source", IdentitySource.UPLOAD.value)),
        preprocessing_status=PreprocessingStatus(item["preprocessing_status"]),
        preprocessing_time=item.get("preprocessing_time"),
        quality_score=item.get("quality_score"),
        quality_problems=[QualityProblemPublic(**p) for p in item.get("quality_problems") or []],
        error_message=item.get("error_message"),
        width=item.get("width"),
        height=item.get("height"),
        face=FacePublic(box=face["box"], score=face["score"]) if face else None,
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )


class IdentityService:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        queue: JobQueue,
        events: EventPublisher,
        accounts: AccountService,
        settings: Settings,
        pipeline: Callable[[], FacePipeline] | None = None,
    ) -> None:
        self._table = table
        self._blobs = blobs
        self._queue = queue
        self._events = events
        self._accounts = accounts
        self._settings = settings
        self._pipeline = pipeline

    # ------------------------------------------------------------------ upload
    def upload_identity(
        self,
        *,
        caller: Caller,
        create: IdentityCreate,
        data: bytes,
        correlation_id: str | None = None,
    ) -> IdentityPublic:
        """Validate the photo, record the identity as pending and queue its preprocessing."""
        return self._create_identity(
            caller=caller,
            create=create,
            data=data,
            source=IdentitySource.UPLOAD,
            correlation_id=correlation_id,
        )

    def promote_generated(
        self,
        *,
        caller: Caller,
        image_result_id: str,
        create: IdentityCreate,
        correlation_id: str | None = None,
    ) -> IdentityPublic:
        """Copy a draft (an identity_creation job's image result) into a new identity.

        Charged (identity_promotion_credits) and counted against the slot cap in the same
        transaction that creates the identity; then preprocessed like an upload.
        """
        self._require(caller, Scope.IDENTITIES_WRITE)
        result = self._table.get(*result_key(image_result_id))
        # another account's draft is indistinguishable from a missing one
        if result is None or result["account_id"] != caller.account_id:
            raise NotFound(f"image result {image_result_id} not found", code="image_result_not_found")
        if result.get("job_type") != DRAFT_JOB_TYPE or result.get("kind") != "image":
            raise Conflict(
                f"image result {image_result_id} is not an identity draft",
                code="not_an_identity_draft",
                fix="Promote an image_result_id from a POST /identity/create job.",
            )
        job = self._table.get(*job_key(result["job_id"]))
        if job is None or job["state"] != JobState.SUCCEEDED.value:
            raise Conflict(f"the draft's job {result['job_id']} did not complete", code="draft_not_ready")
        data = self._blobs.get(result["key"])
        return self._create_identity(
            caller=caller,
            create=create,
            data=data,
            source=IdentitySource.GENERATED,
            cost=self._settings.identity_promotion_credits,
            provenance={"image_result_id": image_result_id, "job_id": result["job_id"]},
            correlation_id=correlation_id,
        )

    def usable_source(self, *, caller: Caller, identity_code: str) -> str:
        """The photo key of an identity the caller may generate from (preprocessed, visible)."""
        item = self._visible_item(caller, identity_code)
        if item["preprocessing_status"] != PreprocessingStatus.COMPLETED.value:
            raise Conflict(
                f"identity {identity_code} is {item['preprocessing_status']}; only completed identities "
                "can be used for generation",
                code="identity_not_ready",
                extra={"identity_code": identity_code},
            )
        return str(item["source_key"])

    def _create_identity(
        self,
        *,
        caller: Caller,
        create: IdentityCreate,
        data: bytes,
        source: IdentitySource,
        cost: int = 0,
        provenance: dict[str, str] | None = None,
        correlation_id: str | None = None,
    ) -> IdentityPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        owner = caller.account_id
        shared_with: list[str] = []
        if create.visibility is Visibility.DEFAULT:
            if not caller.can(Scope.ADMIN):
                raise Forbidden(
                    "only platform administrators can add default identities",
                    fix="Upload with visibility 'private' or 'shared'.",
                )
            owner = PLATFORM_ACCOUNT_ID
        elif create.visibility is Visibility.SHARED:
            shared_with = self._accounts.groups_of(caller.account_id)
            if not shared_with:
                raise BadRequest(
                    "visibility 'shared' shares with your groups, and this account belongs to none",
                    fix="Upload as 'private', or ask an administrator to add the account to a group.",
                )

        # cheap checks first, so a doomed upload does not pay for face detection;
        # the transaction below enforces both again against races
        if self._table.get(*name_lock_key(owner, create.name)) is not None:
            raise self._name_conflict(create.name)
        account = self._accounts.get_account(owner)
        slots = account.plan_info.identity_slots
        if account.identity_count >= slots:
            raise self._slots_exhausted(slots)
        if cost and account.credits < cost:
            raise self._short_of_credits(cost, account.credits)

        analysis, face = self._validate_photo(data)
        decoded = analysis.decoded

        code = "idn_" + secrets.token_hex(10)
        job_id = new_job_id()
        source_key = f"{identity_prefix(code)}source.{EXTENSIONS[decoded.format]}"
        now = now_iso()
        pk, sk = identity_key(code)
        item: Item = {
            "PK": pk,
            "SK": sk,
            "GSI1PK": f"OWNER#{owner}",
            "GSI1SK": f"IDENTITY#{now}#{code}",
            "type": "identity",
            "identity_code": code,
            "owner_account_id": owner,
            "name": create.name,
            "visibility": create.visibility.value,
            "source": source.value,
            "preprocessing_status": PreprocessingStatus.PENDING.value,
            "source_key": source_key,
            "source_format": decoded.format,
            "width": decoded.width,
            "height": decoded.height,
            "face": {"box": [round(v, 1) for v in face.box], "score": round(face.score, 4)},
            "job_id": job_id,
            "created_at": now,
            "updated_at": now,
        }
        if provenance:
            item["provenance"] = provenance
        if shared_with:
            item["shared_with"] = set(shared_with)
        job = new_job_item(
            job_id=job_id,
            job_type=PREPROCESS_JOB_TYPE,
            account_id=owner,
            inputs={"identity_code": code, "source_key": source_key},
            correlation_id=correlation_id,
        )
        lock_pk, lock_sk = name_lock_key(owner, create.name)
        writes = [
            TransactItem(kind="Put", item=item, condition="attribute_not_exists(PK)"),
            TransactItem(
                kind="Put",
                item={"PK": lock_pk, "SK": lock_sk, "type": "identity_name", "identity_code": code},
                condition="attribute_not_exists(PK)",
            ),
            # the slot and (for promotions) the charge: one write, as a transaction may touch
            # an item once
            TransactItem(
                kind="Update",
                key={"PK": account_pk(owner), "SK": "ACCOUNT"},
                update="SET identity_count = identity_count + :one ADD credits :charge",
                condition="identity_count < :slots AND credits >= :cost",
                values={":one": 1, ":slots": slots, ":charge": -cost, ":cost": cost},
            ),
            *put_job(job),
            *[TransactItem(kind="Put", item=share_row(item, group, now=now)) for group in shared_with],
            *count_writes(owner, None, ShareState.of(item)),
        ]

        # the image goes first: a record never points at a missing object
        self._blobs.put(source_key, data, content_type=CONTENT_TYPES[decoded.format])
        try:
            self._table.transact(writes)
        except ConditionFailed as exc:
            self._blobs.delete(source_key)
            if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise self._name_conflict(create.name) from exc
            if exc.reasons[2:3] == ["ConditionalCheckFailed"]:
                now_account = self._accounts.get_account(owner)
                if now_account.identity_count >= slots:
                    raise self._slots_exhausted(slots) from exc
                raise self._short_of_credits(cost, now_account.credits) from exc
            raise
        except Exception:
            self._blobs.delete(source_key)
            raise

        try:
            self._queue.send(
                {"job_id": job_id, "identity_code": code, "correlation_id": correlation_id},
                correlation_id=correlation_id,
            )
        except Exception:
            # no queued work means no identity: undo, so nothing is half-written
            logger.exception("could not queue preprocessing; rolling the upload back", identity_code=code)
            self._remove_records(item)
            self._blobs.delete_prefix(identity_prefix(code))
            raise

        # stamped with the creation time: the consumer may publish "started" before this goes out
        self._publish("identity.created", item, occurred_at=item["created_at"])
        return to_public(item, caller=caller)

    def _validate_photo(self, data: bytes) -> tuple[FaceAnalysis, DetectedFace]:
        pipeline = self._face_pipeline()
        analysis = pipeline.analyze(
            data,
            max_bytes=self._settings.max_upload_bytes,
            max_pixels=self._settings.max_image_pixels,
            min_side=self._settings.min_image_side,
        )
        face = pipeline.require_one_face(analysis)
        return analysis, face

    def _face_pipeline(self) -> FacePipeline:
        if self._pipeline is not None:
            return self._pipeline()
        # imported here: only routes that look at pixels pay for the models
        from likeness.faces.pipeline import get_default_pipeline

        return get_default_pipeline()

    # ------------------------------------------------------------------ reads
    def get_identity(self, *, caller: Caller, identity_code: str) -> IdentityPublic:
        return to_public(self._visible_item(caller, identity_code), caller=caller)

    def get_status(self, *, caller: Caller, identity_code: str) -> IdentityStatus:
        item = self._visible_item(caller, identity_code)
        public = to_public(item, caller=caller)
        return IdentityStatus(
            identity_code=public.identity_code,
            preprocessing_status=public.preprocessing_status,
            preprocessing_time=public.preprocessing_time,
            quality_score=public.quality_score,
            quality_problems=public.quality_problems,
            error_message=public.error_message,
            updated_at=public.updated_at,
        )

    def get_results(self, *, caller: Caller, identity_code: str) -> IdentityResults:
        item = self._visible_item(caller, identity_code)
        status = PreprocessingStatus(item["preprocessing_status"])
        if status is not PreprocessingStatus.COMPLETED:
            message = f"preprocessing is {status.value}; results exist once it is completed"
            if status is PreprocessingStatus.FAILED:
                message = f"preprocessing failed: {item.get('error_message')}"
            raise Conflict(
                message,
                code="preprocessing_not_completed",
                fix="Poll GET /identity/{identity_code}/status until preprocessing_status is 'completed'.",
                extra={"preprocessing_status": status.value},
            )
        ttl = self._settings.result_url_ttl_seconds
        results = [
            IdentityResultImage(
                kind=r["kind"],
                url=self._blobs.signed_url(r["key"], expires_in=ttl),
                content_type=r["content_type"],
                width=r["width"],
                height=r["height"],
            )
            for r in item.get("results", [])
        ]
        return IdentityResults(
            identity_code=identity_code, preprocessing_status=status, expires_in=ttl, results=results
        )

    def list_identities(
        self, *, caller: Caller, visibility: Visibility | None, page: int, page_size: int
    ) -> IdentityPage:
        self._require(caller, Scope.IDENTITIES_READ)
        groups = (
            self._accounts.groups_of(caller.account_id) if visibility in (None, Visibility.SHARED) else []
        )
        items, total = IdentityLister(table=self._table).page(
            caller=caller,
            groups=groups,
            visibility=visibility,
            offset=(page - 1) * page_size,
            limit=page_size,
        )
        return IdentityPage(
            data=[to_public(i, caller=caller) for i in items],
            current_page=page,
            page_size=page_size,
            max_page=max(1, math.ceil(total / page_size)),
            total_count=total,
        )

    # ------------------------------------------------------------------ sharing
    def share(self, *, caller: Caller, identity_code: str, group: str) -> IdentityPublic:
        item = self._owned_item(caller, identity_code, action="share")
        if item["visibility"] == Visibility.DEFAULT.value:
            raise Conflict(
                "default identities are visible through plans and are not shared with groups",
                code="default_identity",
            )
        self._require_group_member(caller, group)
        if not self._change_shares(item, lambda i: share_writes(i, group, now=now_iso())):
            return to_public(self._get_item(identity_code), caller=caller)  # already shared
        updated = self._get_item(identity_code)
        self._publish("identity.shared", updated, group=group)
        return to_public(updated, caller=caller)

    def unshare(self, *, caller: Caller, identity_code: str, group: str) -> IdentityPublic:
        item = self._owned_item(caller, identity_code, action="unshare")
        if not self._change_shares(item, lambda i: unshare_writes(i, group, now=now_iso())):
            raise NotFound(
                f"identity {identity_code} is not shared with group {group}", code="share_not_found"
            )
        # the last group gone: the identity is private again (still shared: the condition fails)
        with contextlib.suppress(ConditionFailed):
            self._table.transact(private_again_writes(item))
        updated = self._get_item(identity_code)
        self._publish("identity.unshared", updated, group=group)
        return to_public(updated, caller=caller)

    def _change_shares(self, item: Item, writes: Callable[[Item], Sequence[TransactItem] | None]) -> bool:
        """Apply ``writes(item)`` (guarded by the share state they were planned from); when the
        identity changed under them, read it again and plan anew. False: nothing to write."""
        for _ in range(STATE_RETRIES):
            planned = writes(item)
            if planned is None:
                return False
            try:
                self._table.transact(planned)
                return True
            except ConditionFailed:
                item = self._get_item(item["identity_code"])
        raise self._busy(item["identity_code"])

    # ------------------------------------------------------------------ delete
    def delete_identity(self, *, caller: Caller, identity_code: str) -> None:
        item = self._owned_item(caller, identity_code, action="delete")
        self._remove_records(item)
        self._blobs.delete_prefix(identity_prefix(identity_code))
        self._publish("identity.deleted", item)

    def _remove_records(self, item: Item) -> None:
        code = item["identity_code"]
        for _ in range(STATE_RETRIES):
            owner = item["owner_account_id"]
            lock_pk, lock_sk = name_lock_key(owner, item["name"])
            [record, *rest] = removal_writes(item)
            writes = [
                record,
                TransactItem(kind="Delete", key={"PK": lock_pk, "SK": lock_sk}),
                TransactItem(
                    kind="Update",
                    key={"PK": account_pk(owner), "SK": "ACCOUNT"},
                    update="SET identity_count = identity_count - :one",
                    condition="identity_count > :zero",
                    values={":one": 1, ":zero": 0},
                ),
                *rest,
            ]
            try:
                self._table.transact(writes)
                return
            except ConditionFailed as exc:
                fresh = self._table.get(*identity_key(code)) if exc.reasons[:1] == [CHECK_FAILED] else None
                if fresh is None or ShareState.of(fresh) == ShareState.of(item):
                    raise NotFound(f"identity {code} not found") from exc
                item = fresh  # shared or unshared meanwhile: remove what is there now
        raise self._busy(code)

    # ------------------------------------------------------------------ helpers
    def _get_item(self, code: str) -> Item:
        item = self._table.get(*identity_key(code))
        if item is None:
            raise NotFound(f"identity {code} not found")
        return item

    def _can_see(self, caller: Caller, item: Item) -> bool:
        if item["owner_account_id"] == caller.account_id:
            return True
        if item["visibility"] == Visibility.DEFAULT.value:
            return caller.plan_info.includes_default_identities or caller.can(Scope.ADMIN)
        shared = item.get("shared_with") or set()
        return bool(shared) and any(
            self._accounts.is_member(group=g, account_id=caller.account_id) for g in shared
        )

    def _visible_item(self, caller: Caller, code: str) -> Item:
        self._require(caller, Scope.IDENTITIES_READ)
        item = self._table.get(*identity_key(code))
        # someone else's private identity is indistinguishable from a missing one
        if item is None or not self._can_see(caller, item):
            raise NotFound(f"identity {code} not found")
        return item

    def _owned_item(self, caller: Caller, code: str, *, action: str) -> Item:
        self._require(caller, Scope.IDENTITIES_WRITE)
        item = self._visible_item(caller, code)
        owner = item["owner_account_id"]
        if owner == caller.account_id or (owner == PLATFORM_ACCOUNT_ID and caller.can(Scope.ADMIN)):
            return item
        raise Forbidden(f"only the owner of identity {code} can {action} it")

    def _require_group_member(self, caller: Caller, group: str) -> None:
        if not self._accounts.group_exists(group):
            raise NotFound(f"group {group} not found", code="group_not_found")
        if not caller.can(Scope.ADMIN) and not self._accounts.is_member(
            group=group, account_id=caller.account_id
        ):
            raise Forbidden(f"this account is not a member of group {group}")

    @staticmethod
    def _busy(code: str) -> LikenessError:
        return Conflict(
            f"identity {code} kept changing while this request changed it",
            code="identity_busy",
            fix="Retry the request.",
        )

    @staticmethod
    def _require(caller: Caller, scope: Scope) -> None:
        if not caller.can(scope):
            raise Forbidden(f"this API key lacks the '{scope.value}' scope")

    @staticmethod
    def _short_of_credits(cost: int, balance: int) -> LikenessError:
        return InsufficientCredits(
            f"promoting a draft costs {cost} credits and the account has {balance}",
            fix="Add credits to the account, then retry.",
            extra={"required": cost, "balance": balance},
        )

    @staticmethod
    def _name_conflict(name: str) -> LikenessError:
        return Conflict(
            f"an identity named {name!r} already exists in this account",
            code="identity_name_taken",
            fix="Choose another name, or delete the existing identity first.",
        )

    @staticmethod
    def _slots_exhausted(slots: int) -> LikenessError:
        return SlotLimitReached(
            f"all {slots} identity slots of this plan are in use",
            fix="Delete an identity you no longer need, or move to a plan with more slots.",
        )

    def _publish(self, detail_type: str, item: Item, **extra: Any) -> None:
        detail = {
            "account_id": item["owner_account_id"],
            "identity_code": item["identity_code"],
            "name": item["name"],
            "visibility": item["visibility"],
            "preprocessing_status": item["preprocessing_status"],
            "occurred_at": now_iso(),
            **extra,
        }
        try:
            self._events.publish(detail_type, detail)
        except Exception:
            # the state change is committed; a lost notification must not undo it
            logger.exception(
                "could not publish event", detail_type=detail_type, identity_code=item["identity_code"]
            )
