"""Visual assets of a character (identity images and inventory) and the inventory view.

Layout (PK / SK):
  CHARACTER#<account>#<slug> / ASSET#<asset_id>   one asset; its image is the S3 object ``key``
                                                  (characters/<account>/<slug>/assets/<asset_id>.<ext>)

Identity uploads must show exactly one face; their face embedding (float32 bytes, attribute
``embedding``) is kept on the item because consistency is judged against it. They are active at
once (promotion approved_anchor). Everything else starts as a candidate and needs an active
identity first.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item
from likeness.aws.s3 import BlobStore
from likeness.characters.models import (
    MAX_ASSET_BYTES,
    AssetCategory,
    AssetPatch,
    AssetSource,
    AssetStatus,
    AssetUpload,
    InventoryGroup,
    PromotionStatus,
    QaStatus,
    VisualAssetPublic,
    VisualInventory,
)
from likeness.characters.service import CharacterService, character_pk, require_scope
from likeness.clock import now_iso
from likeness.errors import (
    Conflict,
    ImageRejected,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from likeness.observability import logger
from likeness.settings import Settings

if TYPE_CHECKING:
    from likeness.faces.pipeline import FacePipeline

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
APPROVED = (PromotionStatus.APPROVED_ANCHOR, PromotionStatus.APPROVED_KEYFRAME)
# the spec's exact 409 body for a non-identity asset before an active identity
NEEDS_IDENTITY_MESSAGE = "this character has no active identity asset yet"
NEEDS_IDENTITY_FIX = "Upload identity first: POST /v1/characters/{slug}/visual-assets (category=identity)."


def asset_sk(asset_id: str) -> str:
    return f"ASSET#{asset_id}"


def new_asset_id() -> str:
    return "ast_" + secrets.token_hex(10)


def asset_object_key(account_id: str, slug: str, asset_id: str, ext: str) -> str:
    return f"characters/{account_id}/{slug}/assets/{asset_id}.{ext}"


def needs_identity() -> Conflict:
    return Conflict(NEEDS_IDENTITY_MESSAGE, code="needs_identity", fix=NEEDS_IDENTITY_FIX)


def parse_category(value: str) -> AssetCategory:
    try:
        return AssetCategory(value.strip())
    except ValueError:
        names = ", ".join(c.value for c in AssetCategory)
        raise Unprocessable(
            f"unknown category {value!r}; categories are {names}",
            code="invalid_category",
            fix=f"Send category as one of: {names}.",
        ) from None


def asset_not_found(asset_id: str) -> NotFound:
    return NotFound(
        f"visual asset {asset_id} not found",
        code="asset_not_found",
        fix="List the character's assets with GET /v1/characters/{slug}/visual-inventory.",
    )


class AssetService:
    def __init__(
        self,
        *,
        table: DynamoTable,
        blobs: BlobStore,
        characters: CharacterService,
        settings: Settings,
        pipeline: Callable[[], FacePipeline] | None = None,
    ) -> None:
        self._table = table
        self._blobs = blobs
        self._characters = characters
        self._settings = settings
        self._pipeline = pipeline

    # ------------------------------------------------------------------ upload
    def upload(self, *, caller: Caller, slug: str, category: str, upload: AssetUpload, data: bytes) -> Item:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        self._characters.require_active(caller=caller, slug=slug)
        kind = parse_category(category)
        identity = kind is AssetCategory.IDENTITY
        # the cheap precondition before any pixel is decoded
        if not identity and not self.active_assets(
            account_id=account_id, slug=slug, category=AssetCategory.IDENTITY.value
        ):
            raise needs_identity()
        if len(data) > MAX_ASSET_BYTES:
            raise ImageRejected(
                f"The image is {len(data) / (1024 * 1024):.1f} MB; the limit is "
                f"{MAX_ASSET_BYTES // (1024 * 1024)} MB.",
                fix="Upload a smaller or more compressed PNG, JPEG or WebP image.",
            )

        asset_id = new_asset_id()
        now = now_iso()
        item: Item = {
            "PK": character_pk(account_id, slug),
            "SK": asset_sk(asset_id),
            "type": "character_asset",
            "asset_id": asset_id,
            "account_id": account_id,
            "slug": slug,
            "category": kind.value,
            "asset_key": upload.asset_key,
            "label": upload.label,
            "visual_summary": upload.visual_summary or None,
            "visual_description": upload.visual_description or upload.visual_summary or upload.label,
            "asset_status": (AssetStatus.ACTIVE if identity else AssetStatus.CANDIDATE).value,
            "promotion_status": (
                PromotionStatus.APPROVED_ANCHOR if identity else PromotionStatus.CANDIDATE
            ).value,
            # an identity has passed the one-face rule; anything else is for the developer to judge
            "qa_status": (QaStatus.PASSED if identity else QaStatus.UNREVIEWED).value,
            "source": AssetSource.UPLOAD.value,
            "size_bytes": len(data),
            "created_at": now,
            "updated_at": now,
        }
        item.update(self._identity_fields(data) if identity else self._image_fields(data))
        item["key"] = asset_object_key(account_id, slug, asset_id, item.pop("ext"))

        # the image goes first: a record never points at a missing object
        self._blobs.put(item["key"], data, content_type=item["content_type"])
        try:
            self._table.put(item, condition="attribute_not_exists(PK)")
        except Exception:
            self._blobs.delete(item["key"])
            raise
        return item

    def _image_fields(self, data: bytes) -> dict[str, Any]:
        # imported here: Pillow is only paid for by the routes that decode images
        from likeness.faces.decode import decode_image

        with _as_image_rejected():
            # no pixel minimum: the spec enforces format and size only for inventory images
            decoded = decode_image(
                data, max_bytes=MAX_ASSET_BYTES, max_pixels=self._settings.max_image_pixels, min_side=1
            )
        return {
            "content_type": CONTENT_TYPES[decoded.format],
            "ext": EXTENSIONS[decoded.format],
            "width": decoded.width,
            "height": decoded.height,
        }

    def _identity_fields(self, data: bytes) -> dict[str, Any]:
        import numpy as np

        pipeline = self._face_pipeline()
        with _as_image_rejected():
            # a face must be >= 40 px and clear of the edges, so a smaller image could never pass
            analysis = pipeline.analyze(
                data,
                max_bytes=MAX_ASSET_BYTES,
                max_pixels=self._settings.max_image_pixels,
                min_side=self._settings.min_image_side,
            )
        face = pipeline.require_one_face(analysis)
        vector = np.asarray(pipeline.embed(analysis, face), dtype=np.float32)
        decoded = analysis.decoded
        return {
            "content_type": CONTENT_TYPES[decoded.format],
            "ext": EXTENSIONS[decoded.format],
            "width": decoded.width,
            "height": decoded.height,
            "embedding": vector.tobytes(),
            "embedding_dim": int(vector.shape[0]),
            "embedding_model": str(getattr(pipeline.embedder, "name", "")),
            "face": {"box": [round(float(v), 1) for v in face.box], "score": round(float(face.score), 4)},
        }

    def _face_pipeline(self) -> FacePipeline:
        if self._pipeline is not None:
            return self._pipeline()
        # imported here: only identity uploads pay for the face models
        from likeness.faces.pipeline import get_default_pipeline

        return get_default_pipeline()

    # ------------------------------------------------------------------ manage
    def get(self, *, caller: Caller, slug: str, asset_id: str) -> Item:
        require_scope(caller, Scope.IDENTITIES_READ)
        self._characters.require_active(caller=caller, slug=slug)
        return self._item(caller.account_id, slug, asset_id)

    def update(self, *, caller: Caller, slug: str, asset_id: str, patch: AssetPatch) -> Item:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        self._characters.require_active(caller=caller, slug=slug)
        item = self._item(caller.account_id, slug, asset_id)
        status, promotion = _next_statuses(item, patch)
        qa = patch.qa_status.value if patch.qa_status is not None else item["qa_status"]
        try:
            return self._table.update(
                item["PK"],
                item["SK"],
                update="SET asset_status = :status, promotion_status = :promotion, "
                "qa_status = :qa, updated_at = :now",
                condition="attribute_exists(PK)",
                values={":status": status, ":promotion": promotion, ":qa": qa, ":now": now_iso()},
            )
        except ConditionFailed as exc:
            raise asset_not_found(asset_id) from exc

    def delete(self, *, caller: Caller, slug: str, asset_id: str) -> None:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        self._characters.require_active(caller=caller, slug=slug)
        item = self._item(caller.account_id, slug, asset_id)
        try:
            self._table.delete(item["PK"], item["SK"], condition="attribute_exists(PK)")
        except ConditionFailed as exc:
            raise asset_not_found(asset_id) from exc
        # the record went first: a failed file delete leaves an orphan object, never a dangling record
        try:
            self._blobs.delete(item["key"])
        except Exception:
            logger.exception("could not delete an asset's image", asset_id=asset_id, key=item["key"])

    # ------------------------------------------------------------------ reads
    def list_assets(
        self,
        *,
        caller: Caller,
        slug: str,
        category: str | None = None,
        asset_status: AssetStatus | None = None,
    ) -> list[Item]:
        require_scope(caller, Scope.IDENTITIES_READ)
        self._characters.require_active(caller=caller, slug=slug)
        wanted = parse_category(category).value if category else None
        return [
            a
            for a in self.all_assets(account_id=caller.account_id, slug=slug)
            if (wanted is None or a["category"] == wanted)
            and (asset_status is None or a["asset_status"] == asset_status.value)
        ]

    def inventory(self, *, caller: Caller, slug: str) -> VisualInventory:
        """Every asset grouped by category (all categories, empty ones too) with status counts."""
        require_scope(caller, Scope.IDENTITIES_READ)
        self._characters.require_active(caller=caller, slug=slug)
        assets = self.all_assets(account_id=caller.account_id, slug=slug)
        groups: dict[str, InventoryGroup] = {}
        for category in AssetCategory:
            members = [a for a in assets if a["category"] == category.value]
            groups[category.value] = InventoryGroup(
                count=len(members),
                counts=_status_counts(members),
                assets=[self.to_public(a) for a in members],
            )
        return VisualInventory(slug=slug, total=len(assets), counts=_status_counts(assets), categories=groups)

    def file_exists(self, asset: Item) -> bool:
        return self._blobs.exists(asset["key"])

    def all_assets(self, *, account_id: str, slug: str) -> list[Item]:
        """Every asset of the character, oldest first."""
        items = self._table.query(character_pk(account_id, slug), sk_prefix="ASSET#")
        return sorted(items, key=lambda a: (a["created_at"], a["asset_id"]))

    def active_assets(self, *, account_id: str, slug: str, category: str | None = None) -> list[Item]:
        """The character's active assets (optionally one category), oldest first. Items carry
        ``asset_id``, ``category``, ``key`` (S3), ``content_type`` and, for identity, ``embedding``."""
        return [
            a
            for a in self.all_assets(account_id=account_id, slug=slug)
            if a["asset_status"] == AssetStatus.ACTIVE.value
            and (category is None or a["category"] == category)
        ]

    def to_public(self, item: Item) -> VisualAssetPublic:
        return VisualAssetPublic(
            asset_id=item["asset_id"],
            slug=item["slug"],
            category=AssetCategory(item["category"]),
            asset_key=item["asset_key"],
            label=item["label"],
            visual_summary=item.get("visual_summary"),
            visual_description=item.get("visual_description") or item["label"],
            asset_status=AssetStatus(item["asset_status"]),
            promotion_status=PromotionStatus(item["promotion_status"]),
            qa_status=QaStatus(item.get("qa_status", QaStatus.UNREVIEWED.value)),
            image_url=self._blobs.signed_url(item["key"], expires_in=self._settings.result_url_ttl_seconds),
            content_type=item["content_type"],
            width=item.get("width"),
            height=item.get("height"),
            source=AssetSource(item.get("source", AssetSource.UPLOAD.value)),
            source_probe_id=item.get("source_probe_id"),
            created_at=item["created_at"],
            updated_at=item["updated_at"],
        )

    # ------------------------------------------------------------------ generated assets
    def generated_asset_item(
        self,
        *,
        account_id: str,
        slug: str,
        category: str,
        key: str,
        content_type: str,
        label: str,
        hold_for_review: bool,
        source_probe_id: str,
        asset_id: str | None = None,
        asset_key: str | None = None,
        source: AssetSource = AssetSource.INVENTORY,
        qa_status: QaStatus = QaStatus.UNREVIEWED,
        visual_summary: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> Item:
        """The record of an image made by an inventory generation (or a probe), for the caller to
        write in its own transaction: active + approved_keyframe, or a candidate when held.

        ``key`` becomes the asset's file: DELETE removes it, so give each asset its own object
        (``asset_object_key`` with the same ``asset_id``)."""
        kind = parse_category(category)
        asset_id = asset_id or new_asset_id()
        now = now_iso()
        status, promotion = (
            (AssetStatus.CANDIDATE, PromotionStatus.CANDIDATE)
            if hold_for_review
            else (AssetStatus.ACTIVE, PromotionStatus.APPROVED_KEYFRAME)
        )
        return {
            "PK": character_pk(account_id, slug),
            "SK": asset_sk(asset_id),
            "type": "character_asset",
            "asset_id": asset_id,
            "account_id": account_id,
            "slug": slug,
            "category": kind.value,
            "asset_key": asset_key or f"generated-{kind.value}-{asset_id[-6:]}",
            "label": label,
            "visual_summary": visual_summary,
            "visual_description": visual_summary or label,
            "asset_status": status.value,
            "promotion_status": promotion.value,
            "qa_status": QaStatus(qa_status).value,
            "source": AssetSource(source).value,
            "source_probe_id": source_probe_id,
            "key": key,
            "content_type": content_type,
            "width": width,
            "height": height,
            "created_at": now,
            "updated_at": now,
        }

    # ------------------------------------------------------------------ helpers
    def _item(self, account_id: str, slug: str, asset_id: str) -> Item:
        item = self._table.get(character_pk(account_id, slug), asset_sk(asset_id))
        if item is None:
            raise asset_not_found(asset_id)
        return item


@contextmanager
def _as_image_rejected() -> Iterator[None]:
    """The spec answers every unusable file (too big, not an image, wrong format) with a 422
    image_rejected, where the shared decoder says 413 or 415."""
    try:
        yield
    except (PayloadTooLarge, UnsupportedMediaType) as exc:
        raise ImageRejected(exc.message, fix=exc.fix) from exc


def _status_counts(items: list[Item]) -> dict[str, int]:
    counted = Counter(a["asset_status"] for a in items)
    return {s.value: counted.get(s.value, 0) for s in AssetStatus}


def _next_statuses(item: Item, patch: AssetPatch) -> tuple[str, str]:
    """Promotion and status move together: approved means active, active means approved."""
    status = AssetStatus(item["asset_status"])
    promotion = PromotionStatus(item["promotion_status"])
    if patch.promotion_status is not None:
        promotion = patch.promotion_status
        status = AssetStatus.ACTIVE if promotion in APPROVED else AssetStatus.CANDIDATE
    if patch.asset_status is not None:
        if patch.promotion_status is not None and (patch.asset_status is AssetStatus.ACTIVE) != (
            patch.promotion_status in APPROVED
        ):
            raise Unprocessable(
                f"promotion_status {patch.promotion_status.value} contradicts asset_status "
                f"{patch.asset_status.value}",
                code="invalid_request",
                fix="Approve (approved_anchor / approved_keyframe) to activate; reject or retire with "
                "asset_status alone.",
            )
        status = patch.asset_status
        if status is AssetStatus.ACTIVE and promotion not in APPROVED:
            identity = item["category"] == AssetCategory.IDENTITY.value
            promotion = PromotionStatus.APPROVED_ANCHOR if identity else PromotionStatus.APPROVED_KEYFRAME
        elif status is AssetStatus.CANDIDATE:
            promotion = PromotionStatus.CANDIDATE
    return status.value, promotion.value
