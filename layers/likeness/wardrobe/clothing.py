"""Clothing items (wardrobe spec): garment photos, their cut-outs and descriptions.

Layout (PK / SK):
  CLOTHING#<id> / CLOTHING_ITEM   the item (GSI1: ACCOUNT#<account> / CLOTHING#<created>#<id>)

The list's total is the account's ``clothing_items`` counter, moved with each create and delete.

Images live in S3 under ``clothing-items/<account>/<id>/``: the cut-out PNG (with enhancement)
or the image as sent, front and optionally back. Responses show them as signed URLs; the URLs a
caller sent are kept as ``external_clothing_item_url`` / ``external_clothing_item_back_url``.

Enhancement (1 credit) runs the garment vision on each side: the background is removed and,
where the caller gave none, the description is written from what was measured. The charge and
the item are one DynamoDB transaction, so a short balance writes nothing.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import BaseModel, StringConstraints

from likeness.accounts.models import Caller, Scope
from likeness.accounts.service import AccountService, charge_write
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.aws.s3 import BlobStore
from likeness.clock import now_iso
from likeness.counters import count_change, counted_delete, read_count
from likeness.errors import BadRequest, Forbidden, InsufficientCredits, LikenessError, NotFound, Unprocessable
from likeness.observability import logger
from likeness.settings import Settings
from likeness.wardrobe.ids import IdAllocator
from likeness.wardrobe.pages import Page, page_from, page_offset
from likeness.wardrobe.store import GenerationStore

if TYPE_CHECKING:
    from likeness.faces.types import DecodedImage

ENHANCEMENT_CREDITS = 1
CLOTHING_ITEMS_COUNTER = "clothing_items"
# what a fetched image may be served as; the bytes are sniffed again when decoded
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/jpg", "image/png", "image/webp")
FETCH_TIMEOUT_SECONDS = 10.0
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)]


# ---------------------------------------------------------------------------- models


class ClothingItemPublic(BaseModel):
    clothing_item_id: int
    clothing_item_name: str
    description: str
    description_back: str
    clothing_item_url: str
    clothing_item_back_url: str
    external_clothing_item_url: str
    external_clothing_item_back_url: str
    created_at: str
    updated_at: str


class ClothingItemCreate(BaseModel):
    """POST /clothing-item's form fields (the files travel beside it)."""

    clothing_item_name: Name
    description: Description | None = None
    description_back: Description | None = None
    clothing_item_url: Url | None = None
    clothing_item_back_url: Url | None = None
    use_image_enhancement: bool = True


class ClothingItemUpdate(BaseModel):
    """PUT /clothing-item/{id}: every field optional; what is absent stays as it is.

    New image URLs are fetched and stored as sent (no enhancement, no charge); for a cut-out,
    create a new item with use_image_enhancement.
    """

    clothing_item_name: Name | None = None
    description: Description | None = None
    description_back: Description | None = None
    clothing_item_url: Url | None = None
    clothing_item_back_url: Url | None = None


class DeletedMessage(BaseModel):
    message: str


class GarmentCutout(Protocol):
    """What the garment vision returns (likeness.engines.classical.garments.GarmentAnalysis)."""

    @property
    def cutout_png(self) -> bytes: ...

    @property
    def description(self) -> str: ...


GarmentAnalyzer = Callable[..., GarmentCutout]


# ---------------------------------------------------------------------------- images in


def clothing_item_key(clothing_item_id: int) -> tuple[str, str]:
    return f"CLOTHING#{clothing_item_id}", "CLOTHING_ITEM"


def clothing_prefix(account_id: str, clothing_item_id: int) -> str:
    return f"clothing-items/{account_id}/{clothing_item_id}/"


def _about(field: str, exc: LikenessError) -> LikenessError:
    """The same typed error, naming the request field it is about."""
    exc.message = f"{field}: {exc.message}"
    exc.args = (exc.message,)
    exc.extra.setdefault("field", field)
    return exc


def fetch_image(url: str, *, field: str, settings: Settings) -> bytes:
    """GET an image URL through the outbound guard (size, time and content type bounded)."""
    from likeness.net.urlguard import fetch_url

    try:
        fetched = fetch_url(
            url,
            allow_private=settings.allow_private_urls,
            max_bytes=settings.max_upload_bytes,
            timeout=FETCH_TIMEOUT_SECONDS,
            allowed_content_types=IMAGE_CONTENT_TYPES,
        )
    except LikenessError as exc:
        raise _about(field, exc) from exc
    return fetched.data


def decode_upload(data: bytes, *, field: str, settings: Settings) -> DecodedImage:
    """Validate bytes as a JPEG / PNG / WebP image (415 wrong type, 422 truncated, 413 too big)."""
    # Pillow only, and only here: listing items never pays for it
    from likeness.faces.decode import decode_image

    try:
        return decode_image(
            data,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            min_side=settings.min_image_side,
        )
    except LikenessError as exc:
        raise _about(field, exc) from exc


@dataclass(frozen=True)
class _Side:
    """One side of a garment as it will be stored."""

    data: bytes
    content_type: str
    extension: str
    external_url: str
    description: str | None  # from the analysis, when enhanced


@dataclass(frozen=True)
class _Source:
    field: str
    data: bytes | None
    url: str | None


def _pick_source(
    *, file_field: str, data: bytes | None, url_field: str, url: str | None, required: bool
) -> _Source | None:
    url = url or None  # an empty form field is no URL
    if data is not None and url is not None:
        raise BadRequest(
            f"both {file_field} and {url_field} were sent; send the image one way",
            code="image_source_conflict",
            fix=f"Upload the image as {file_field} or give its address in {url_field}, not both.",
        )
    if data is None and url is None:
        if required:
            raise Unprocessable(
                f"the front image is missing: upload it as {file_field} or give {url_field}",
                code="image_required",
                fix=f"Send a JPEG, PNG or WebP image as {file_field} (or upload_id, from POST /uploads), "
                f"or its URL as {url_field}.",
            )
        return None
    return _Source(field=file_field if data is not None else url_field, data=data, url=url)


# ---------------------------------------------------------------------------- service


class ClothingService:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        accounts: AccountService,
        ids: IdAllocator,
        generations: GenerationStore,
        settings: Settings,
        garment_analyzer: GarmentAnalyzer | None = None,
    ) -> None:
        self._table = table
        self._blobs = blobs
        self._accounts = accounts
        self._ids = ids
        self._generations = generations
        self._settings = settings
        self._garment_analyzer = garment_analyzer

    # ------------------------------------------------------------------ create
    def create(
        self,
        *,
        caller: Caller,
        create: ClothingItemCreate,
        front_file: bytes | None = None,
        back_file: bytes | None = None,
        front_field: str = "file",
        back_field: str = "back_file",
    ) -> ClothingItemPublic:
        """Store a garment from uploaded files or image URLs, enhanced (1 credit) or as sent.
        ``front_field`` / ``back_field``: the request fields the files came in (for errors)."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        front_source = _pick_source(
            file_field=front_field,
            data=front_file,
            url_field="clothing_item_url",
            url=create.clothing_item_url,
            required=True,
        )
        back_source = _pick_source(
            file_field=back_field,
            data=back_file,
            url_field="clothing_item_back_url",
            url=create.clothing_item_back_url,
            required=False,
        )
        assert front_source is not None
        enhance = create.use_image_enhancement
        account_id = caller.account_id
        # cheap before costly: a short balance is refused before any fetch or vision work
        # (the transaction below enforces it again against races)
        if enhance:
            balance = self._accounts.get_account(account_id).credits
            if balance < ENHANCEMENT_CREDITS:
                raise self._short_of_credits(balance)

        front = self._prepare(front_source, label="front", enhance=enhance)
        back = self._prepare(back_source, label="back", enhance=enhance) if back_source else None

        clothing_item_id = self._ids.allocate("clothing_item")
        prefix = clothing_prefix(account_id, clothing_item_id)
        front_key = f"{prefix}front-{secrets.token_hex(4)}.{front.extension}"
        back_key = f"{prefix}back-{secrets.token_hex(4)}.{back.extension}" if back else None
        now = now_iso()
        pk, sk = clothing_item_key(clothing_item_id)
        item: Item = {
            "PK": pk,
            "SK": sk,
            "GSI1PK": f"ACCOUNT#{account_id}",
            "GSI1SK": f"CLOTHING#{now}#{clothing_item_id:012d}",
            "type": "clothing_item",
            "clothing_item_id": clothing_item_id,
            "account_id": account_id,
            "name": create.clothing_item_name,
            # a caller-given description wins over the measured one
            "description": create.description or front.description or "",
            "description_back": create.description_back or (back.description if back else None) or "",
            "front_key": front_key,
            "front_content_type": front.content_type,
            "external_url": front.external_url,
            "external_back_url": back.external_url if back else "",
            "enhanced": enhance,
            "created_at": now,
            "updated_at": now,
        }
        if back is not None and back_key is not None:
            item["back_key"] = back_key
            item["back_content_type"] = back.content_type
        writes = [TransactItem(kind="Put", item=item, condition="attribute_not_exists(PK)")]
        if enhance:
            writes.append(charge_write(account_id, ENHANCEMENT_CREDITS))
        writes.append(count_change(account_id, {CLOTHING_ITEMS_COUNTER: 1}))

        # the images go first: a record never points at a missing object
        try:
            self._blobs.put(front_key, front.data, content_type=front.content_type)
            if back is not None and back_key is not None:
                self._blobs.put(back_key, back.data, content_type=back.content_type)
            self._table.transact(writes)
        except ConditionFailed as exc:
            self._blobs.delete_prefix(prefix)
            if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise self._short_of_credits(self._accounts.get_account(account_id).credits) from exc
            raise
        except Exception:
            self._blobs.delete_prefix(prefix)
            raise
        return self._public(item)

    def _prepare(self, source: _Source, *, label: str, enhance: bool) -> _Side:
        external = source.url or ""
        if source.data is not None:
            data = source.data
        else:
            assert source.url is not None
            data = fetch_image(source.url, field=source.field, settings=self._settings)
        decoded = decode_upload(data, field=source.field, settings=self._settings)
        if not enhance:
            return _Side(
                data=data,
                content_type=CONTENT_TYPES[decoded.format],
                extension=EXTENSIONS[decoded.format],
                external_url=external,
                description=None,
            )
        analysis = self._analyze(data, label=f"the {label} image ({source.field})")
        return _Side(
            data=analysis.cutout_png,
            content_type="image/png",
            extension="png",
            external_url=external,
            description=analysis.description,
        )

    def _analyze(self, data: bytes, *, label: str) -> GarmentCutout:
        from likeness.engines.base import EngineError

        analyzer = self._garment_analyzer
        if analyzer is None:
            # OpenCV and numpy load only when a garment is actually cut out
            from likeness.engines.classical.garments import analyze_garment

            analyzer = analyze_garment
        try:
            return analyzer(data, label=label)
        except EngineError as exc:
            raise Unprocessable(
                exc.reason,
                code=exc.code,
                fix="Photograph the garment flat on a plain background that contrasts with it, "
                "filling most of the frame.",
            ) from exc

    # ------------------------------------------------------------------ reads
    def get(self, *, caller: Caller, clothing_item_id: int) -> ClothingItemPublic:
        self._require(caller, Scope.IDENTITIES_READ)
        return self._public(self._owned(caller.account_id, clothing_item_id))

    def list(self, *, caller: Caller, page: int, items_per_page: int) -> Page[ClothingItemPublic]:
        self._require(caller, Scope.IDENTITIES_READ)
        # newest first from the account's index, reading only the page; the total is a counter
        items = self._table.query_page(
            f"ACCOUNT#{caller.account_id}",
            sk_prefix="CLOTHING#",
            index="GSI1",
            forward=False,
            offset=page_offset(page, items_per_page),
            limit=items_per_page,
        )
        return page_from(
            [self._public(i) for i in items],
            page=page,
            items_per_page=items_per_page,
            total=read_count(self._table, caller.account_id, CLOTHING_ITEMS_COUNTER),
        )

    def exists(self, *, account_id: str, clothing_item_id: int) -> bool:
        item = self._table.get(*clothing_item_key(clothing_item_id))
        return item is not None and item["account_id"] == account_id

    def garment_images(self, *, account_id: str, clothing_item_id: int) -> tuple[bytes, bytes | None]:
        """The stored front (cut-out or image as sent) and back (None when there is none)."""
        item = self._owned(account_id, clothing_item_id)
        front = self._blobs.get(item["front_key"])
        back = self._blobs.get(item["back_key"]) if item.get("back_key") else None
        return front, back

    # ------------------------------------------------------------------ update
    def update(
        self, *, caller: Caller, clothing_item_id: int, update: ClothingItemUpdate
    ) -> ClothingItemPublic:
        """Change the name and descriptions; new image URLs replace the stored images as sent."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        item = self._owned(caller.account_id, clothing_item_id)
        prefix = clothing_prefix(caller.account_id, clothing_item_id)
        assignments: dict[str, Any] = {"updated_at": now_iso()}
        if update.clothing_item_name is not None:
            assignments["name"] = update.clothing_item_name
        if update.description is not None:
            assignments["description"] = update.description
        if update.description_back is not None:
            assignments["description_back"] = update.description_back
        new_keys: builtins.list[str] = []
        replaced: builtins.list[str] = []
        try:
            for side, url, url_field in (
                ("front", update.clothing_item_url, "clothing_item_url"),
                ("back", update.clothing_item_back_url, "clothing_item_back_url"),
            ):
                if not url:
                    continue
                stored = self._prepare(
                    _Source(field=url_field, data=None, url=url), label=side, enhance=False
                )
                key = f"{prefix}{side}-{secrets.token_hex(4)}.{stored.extension}"
                self._blobs.put(key, stored.data, content_type=stored.content_type)
                new_keys.append(key)
                if item.get(f"{side}_key"):
                    replaced.append(item[f"{side}_key"])
                assignments[f"{side}_key"] = key
                assignments[f"{side}_content_type"] = stored.content_type
                assignments["external_url" if side == "front" else "external_back_url"] = stored.external_url
            names = {f"#{k}": k for k in assignments}
            values = {f":{k}": v for k, v in assignments.items()}
            updated = self._table.update(
                *clothing_item_key(clothing_item_id),
                update="SET " + ", ".join(f"#{k} = :{k}" for k in assignments),
                condition="attribute_exists(PK) AND account_id = :owner",
                names=names,
                values={**values, ":owner": caller.account_id},
            )
        except ConditionFailed as exc:
            self._delete_keys(new_keys)
            raise self._not_found(clothing_item_id) from exc
        except Exception:
            self._delete_keys(new_keys)
            raise
        self._delete_keys(replaced)
        return self._public(updated)

    # ------------------------------------------------------------------ delete
    def delete(self, *, caller: Caller, clothing_item_id: int) -> None:
        """Delete the item, its images, and every generation (with results) that used it."""
        self._require(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        self._owned(account_id, clothing_item_id)
        # generations first: if this fails half-way the item is still there to delete again
        removed = self._generations.delete_for_clothing_item(
            account_id=account_id, clothing_item_id=clothing_item_id
        )
        try:
            self._table.transact(
                counted_delete(account_id, clothing_item_key(clothing_item_id), CLOTHING_ITEMS_COUNTER)
            )
        except ConditionFailed as exc:
            raise self._not_found(clothing_item_id) from exc
        self._blobs.delete_prefix(clothing_prefix(account_id, clothing_item_id))
        logger.info("clothing item deleted", clothing_item_id=clothing_item_id, generations_deleted=removed)

    # ------------------------------------------------------------------ helpers
    def _owned(self, account_id: str, clothing_item_id: int) -> Item:
        item = self._table.get(*clothing_item_key(clothing_item_id))
        # another account's item is indistinguishable from a missing one
        if item is None or item["account_id"] != account_id:
            raise self._not_found(clothing_item_id)
        return item

    def _public(self, item: Item) -> ClothingItemPublic:
        ttl = self._settings.job_result_url_ttl_seconds
        back_key = item.get("back_key")
        return ClothingItemPublic(
            clothing_item_id=int(item["clothing_item_id"]),
            clothing_item_name=item["name"],
            description=item.get("description") or "",
            description_back=item.get("description_back") or "",
            clothing_item_url=self._blobs.signed_url(item["front_key"], expires_in=ttl),
            clothing_item_back_url=self._blobs.signed_url(back_key, expires_in=ttl) if back_key else "",
            external_clothing_item_url=item.get("external_url") or "",
            external_clothing_item_back_url=item.get("external_back_url") or "",
            created_at=item["created_at"],
            updated_at=item["updated_at"],
        )

    def _delete_keys(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                self._blobs.delete(key)
            except Exception:
                # an orphaned object is harmless; the delete cascade removes the whole prefix
                logger.exception("could not delete a stored clothing image", key=key)

    @staticmethod
    def _not_found(clothing_item_id: int) -> NotFound:
        return NotFound(
            f"clothing item {clothing_item_id} not found",
            code="clothing_item_not_found",
            fix="List your clothing items with GET /clothing-items.",
        )

    @staticmethod
    def _short_of_credits(balance: int) -> InsufficientCredits:
        return InsufficientCredits(
            f"image enhancement costs {ENHANCEMENT_CREDITS} credit and the account has {balance}",
            fix="Add credits to the account, or send use_image_enhancement=false with a clean flat-lay "
            "photo and your own descriptions.",
            extra={"required": ENHANCEMENT_CREDITS, "balance": balance},
        )

    @staticmethod
    def _require(caller: Caller, scope: Scope) -> None:
        if not caller.can(scope):
            raise Forbidden(f"this API key lacks the '{scope.value}' scope")
