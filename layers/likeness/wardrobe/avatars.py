"""Wardrobe avatars (wardrobe spec, /avatar(s)): saved model photos reused across generations.

Layout (PK / SK):
  WAVATAR#<id> / WARDROBE_AVATAR   the avatar (GSI1: ACCOUNT#<account> / WAVATAR#<created>#<id>)

The list's total is the account's ``wardrobe_avatars`` counter, moved with each create and
delete; an avatar's ``count_generation_results`` is a counter the results move (store.py).

(The avatar-jobs surface keeps its own ``AVATAR#`` records; these are a different kind.)

An avatar owns copies of its image and a 256 px JPEG thumbnail under
``wardrobe-avatars/<account>/<id>/``, so it outlives the URL or the generation result it came
from. Every avatar shows exactly one face: the face pipeline's one-face rule decides.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.aws.s3 import BlobStore
from likeness.clock import now_iso
from likeness.counters import count_change, counted_delete, read_count
from likeness.errors import BadRequest, Forbidden, NotFound, Unprocessable
from likeness.settings import Settings
from likeness.uploads.service import UploadId, UploadService, claimed_or_none
from likeness.wardrobe.clothing import CONTENT_TYPES, EXTENSIONS, fetch_image
from likeness.wardrobe.ids import IdAllocator
from likeness.wardrobe.pages import Page, page_from, page_offset
from likeness.wardrobe.store import GenerationStore, avatar_results_counter

if TYPE_CHECKING:
    from likeness.faces.pipeline import FacePipeline
    from likeness.faces.types import DecodedImage

THUMBNAIL_SIDE = 256
AVATARS_COUNTER = "wardrobe_avatars"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)]


# ---------------------------------------------------------------------------- models


class AvatarDescription(BaseModel):
    body: Body | None = None
    age: int | None = Field(default=None, ge=0, le=130)


class WardrobeAvatarPublic(BaseModel):
    avatar_id: int
    avatar_name: str
    avatar_url: str
    thumbnail_url: str
    avatar_description: AvatarDescription
    count_generation_results: int
    generation_result_id: int | None
    created_at: str
    updated_at: str


class WardrobeAvatarCreate(BaseModel):
    """POST /avatar. The image comes from ``avatar_url`` or, when given, from one of the
    caller's own ``generation_result_id`` (which then wins: the URL is not fetched), or from
    ``upload_id``, an image uploaded with POST /uploads (sent with neither of the others)."""

    avatar_name: Name
    avatar_url: Url | None = None
    upload_id: UploadId | None = None
    generation_result_id: int | None = Field(default=None, ge=1)
    avatar_description: AvatarDescription | None = None
    avatar_enhancement: bool = False


class WardrobeAvatarUpdate(BaseModel):
    """PUT /avatar/{id}: name and description only. Inside ``avatar_description`` the fields
    sent replace the stored ones (``null`` clears one); fields not sent stay."""

    avatar_name: Name | None = None
    avatar_description: AvatarDescription | None = None


# the hook a future engine fills: image bytes -> body type and age read from the photo
AvatarDescriber = Callable[[bytes], AvatarDescription]


def wardrobe_avatar_key(avatar_id: int) -> tuple[str, str]:
    return f"WAVATAR#{avatar_id}", "WARDROBE_AVATAR"


def avatar_prefix(account_id: str, avatar_id: int) -> str:
    return f"wardrobe-avatars/{account_id}/{avatar_id}/"


def thumbnail_jpeg(decoded: DecodedImage, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG whose longer side is at most ``side`` pixels (orientation already applied)."""
    image = decoded.image.copy()
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class WardrobeAvatarService:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        ids: IdAllocator,
        generations: GenerationStore,
        settings: Settings,
        pipeline: Callable[[], FacePipeline] | None = None,
        describer: AvatarDescriber | None = None,
        uploads: UploadService | None = None,
    ) -> None:
        self._uploads = uploads
        self._table = table
        self._blobs = blobs
        self._ids = ids
        self._generations = generations
        self._settings = settings
        self._pipeline = pipeline
        # None: no engine here can read body type or age from a photo (the classical one cannot)
        self._describer = describer

    # ------------------------------------------------------------------ create
    def create(self, *, caller: Caller, create: WardrobeAvatarCreate) -> WardrobeAvatarPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        if create.avatar_enhancement and self._describer is None:
            # refusing beats inventing a body type and an age nobody measured
            raise Unprocessable(
                "avatar_enhancement is not available: this deployment has no engine that can "
                "estimate body type or age from a photo",
                code="enhancement_unavailable",
                fix="Send avatar_description with body and age yourself, or set avatar_enhancement to false.",
            )
        upload_id = create.upload_id
        if upload_id and (create.avatar_url or create.generation_result_id is not None):
            raise BadRequest(
                "upload_id was sent with avatar_url or generation_result_id; send the image one way",
                code="image_source_conflict",
                fix="Send one of avatar_url, generation_result_id and upload_id.",
            )
        # an upload is claimed for the request (used once the avatar is saved); its bytes are
        # checked exactly as a fetched image's
        with claimed_or_none(
            self._uploads, caller=caller, named={"upload_id": upload_id} if upload_id else {}
        ) as uploaded:
            if upload_id:
                return self._create(caller, create, uploaded["upload_id"], "")
            return self._create(caller, create, *self._source_image(caller.account_id, create))

    def _create(
        self, caller: Caller, create: WardrobeAvatarCreate, data: bytes, source_url: str
    ) -> WardrobeAvatarPublic:
        account_id = caller.account_id
        analysis = self._face_pipeline().analyze(
            data,
            max_bytes=self._settings.max_upload_bytes,
            max_pixels=self._settings.max_image_pixels,
            min_side=self._settings.min_image_side,
        )
        self._face_pipeline().require_one_face(analysis)
        decoded = analysis.decoded
        description = create.avatar_description or AvatarDescription()
        if create.avatar_enhancement and self._describer is not None:
            # the spec: what the vision reads overwrites manual input
            description = self._describer(data)

        avatar_id = self._ids.allocate("wardrobe_avatar")
        prefix = avatar_prefix(account_id, avatar_id)
        token = secrets.token_hex(4)
        image_key = f"{prefix}avatar-{token}.{EXTENSIONS[decoded.format]}"
        thumbnail_key = f"{prefix}thumbnail-{token}.jpg"
        now = now_iso()
        pk, sk = wardrobe_avatar_key(avatar_id)
        item: Item = {
            "PK": pk,
            "SK": sk,
            "GSI1PK": f"ACCOUNT#{account_id}",
            "GSI1SK": f"WAVATAR#{now}#{avatar_id:012d}",
            "type": "wardrobe_avatar",
            "avatar_id": avatar_id,
            "account_id": account_id,
            "name": create.avatar_name,
            "body": description.body,
            "age": description.age,
            "image_key": image_key,
            "content_type": CONTENT_TYPES[decoded.format],
            "thumbnail_key": thumbnail_key,
            "width": decoded.width,
            "height": decoded.height,
            "source_url": source_url,
            "generation_result_id": create.generation_result_id,
            "created_at": now,
            "updated_at": now,
        }
        # the images go first: a record never points at a missing object
        try:
            self._blobs.put(image_key, data, content_type=CONTENT_TYPES[decoded.format])
            self._blobs.put(thumbnail_key, thumbnail_jpeg(decoded), content_type="image/jpeg")
            self._table.transact(
                [
                    TransactItem(kind="Put", item=item, condition="attribute_not_exists(PK)"),
                    count_change(account_id, {AVATARS_COUNTER: 1}),
                ]
            )
        except Exception:
            self._blobs.delete_prefix(prefix)
            raise
        return self._public(item, count=0)

    def _source_image(self, account_id: str, create: WardrobeAvatarCreate) -> tuple[bytes, str]:
        if create.generation_result_id is not None:
            stored = self._generations.result_file(
                account_id=account_id, generation_result_id=create.generation_result_id
            )
            if stored is None:
                raise NotFound(
                    f"generation result {create.generation_result_id} not found, or its files have expired",
                    code="generation_result_not_found",
                    fix="Use the id of one of your own generation results while it is still available, "
                    "or send avatar_url.",
                )
            return stored.data, ""
        if not create.avatar_url:
            raise Unprocessable(
                "avatar_url is required",
                code="image_required",
                fix="Send the URL of a JPEG, PNG or WebP photo of one person as avatar_url, or the "
                "upload_id of one uploaded with POST /uploads.",
            )
        return fetch_image(create.avatar_url, field="avatar_url", settings=self._settings), create.avatar_url

    # ------------------------------------------------------------------ reads
    def get(self, *, caller: Caller, avatar_id: int) -> WardrobeAvatarPublic:
        self._require(caller, Scope.IDENTITIES_READ)
        item = self._owned(caller.account_id, avatar_id)
        count = self._generations.count_results_for_avatar(account_id=caller.account_id, avatar_id=avatar_id)
        return self._public(item, count=count)

    def list(self, *, caller: Caller, page: int, items_per_page: int) -> Page[WardrobeAvatarPublic]:
        self._require(caller, Scope.IDENTITIES_READ)
        account_id = caller.account_id
        # newest first from the account's index, reading only the page; the total is a counter
        items = self._table.query_page(
            f"ACCOUNT#{account_id}",
            sk_prefix="WAVATAR#",
            index="GSI1",
            forward=False,
            offset=page_offset(page, items_per_page),
            limit=items_per_page,
        )
        total = read_count(self._table, account_id, AVATARS_COUNTER)
        # each avatar's result count is a counter too: one item read for the whole page
        counts = self._generations.result_counts(
            account_id, [avatar_results_counter(i["avatar_id"]) for i in items]
        )
        return page_from(
            [self._public(i, count=counts[avatar_results_counter(i["avatar_id"])]) for i in items],
            page=page,
            items_per_page=items_per_page,
            total=total,
        )

    def exists(self, *, account_id: str, avatar_id: int) -> bool:
        item = self._table.get(*wardrobe_avatar_key(avatar_id))
        return item is not None and item["account_id"] == account_id

    def image_for_generation(self, *, account_id: str, avatar_id: int) -> bytes:
        """The avatar's stored image (NotFound ``avatar_not_found`` for unknown or others')."""
        item = self._owned(account_id, avatar_id)
        return self._blobs.get(item["image_key"])

    # ------------------------------------------------------------------ update / delete
    def update(self, *, caller: Caller, avatar_id: int, update: WardrobeAvatarUpdate) -> WardrobeAvatarPublic:
        self._require(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        self._owned(account_id, avatar_id)
        assignments: dict[str, Any] = {"updated_at": now_iso()}
        if update.avatar_name is not None:
            assignments["name"] = update.avatar_name
        if update.avatar_description is not None:
            sent = update.avatar_description.model_fields_set
            if "body" in sent:
                assignments["body"] = update.avatar_description.body
            if "age" in sent:
                assignments["age"] = update.avatar_description.age
        try:
            updated = self._table.update(
                *wardrobe_avatar_key(avatar_id),
                update="SET " + ", ".join(f"#{k} = :{k}" for k in assignments),
                condition="attribute_exists(PK) AND account_id = :owner",
                names={f"#{k}": k for k in assignments},
                values={**{f":{k}": v for k, v in assignments.items()}, ":owner": account_id},
            )
        except ConditionFailed as exc:
            raise self._not_found(avatar_id) from exc
        count = self._generations.count_results_for_avatar(account_id=account_id, avatar_id=avatar_id)
        return self._public(updated, count=count)

    def delete(self, *, caller: Caller, avatar_id: int) -> None:
        """Delete the avatar and its files; generation results made with it stay (they are the
        caller's images, and expire on their own)."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        self._owned(account_id, avatar_id)
        try:
            self._table.transact(counted_delete(account_id, wardrobe_avatar_key(avatar_id), AVATARS_COUNTER))
        except ConditionFailed as exc:
            raise self._not_found(avatar_id) from exc
        self._blobs.delete_prefix(avatar_prefix(account_id, avatar_id))

    # ------------------------------------------------------------------ helpers
    def _owned(self, account_id: str, avatar_id: int) -> Item:
        item = self._table.get(*wardrobe_avatar_key(avatar_id))
        # another account's avatar is indistinguishable from a missing one
        if item is None or item["account_id"] != account_id:
            raise self._not_found(avatar_id)
        return item

    def _public(self, item: Item, *, count: int) -> WardrobeAvatarPublic:
        ttl = self._settings.job_result_url_ttl_seconds
        source_result = item.get("generation_result_id")
        return WardrobeAvatarPublic(
            avatar_id=int(item["avatar_id"]),
            avatar_name=item["name"],
            avatar_url=self._blobs.signed_url(item["image_key"], expires_in=ttl),
            thumbnail_url=self._blobs.signed_url(item["thumbnail_key"], expires_in=ttl),
            avatar_description=AvatarDescription(
                body=item.get("body"), age=int(item["age"]) if item.get("age") is not None else None
            ),
            count_generation_results=count,
            generation_result_id=int(source_result) if source_result is not None else None,
            created_at=item["created_at"],
            updated_at=item["updated_at"],
        )

    def _face_pipeline(self) -> FacePipeline:
        if self._pipeline is not None:
            return self._pipeline()
        # imported here: only the routes that look at pixels pay for the models
        from likeness.faces.pipeline import get_default_pipeline

        return get_default_pipeline()

    @staticmethod
    def _not_found(avatar_id: int) -> NotFound:
        return NotFound(
            f"avatar {avatar_id} not found",
            code="avatar_not_found",
            fix="List your avatars with GET /avatars.",
        )

    @staticmethod
    def _require(caller: Caller, scope: Scope) -> None:
        if not caller.can(scope):
            raise Forbidden(f"this API key lacks the '{scope.value}' scope")
