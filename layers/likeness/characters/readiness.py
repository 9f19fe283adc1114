"""Readiness: deterministic checks over a character's active version and its assets.

Visual readiness (the spec's four checks, exactly):
  identity_asset      ok: >= 1 active identity asset with a         missing otherwise
                      fetchable image file
  identity_anchors    ok: active profile.identity_anchors is a      missing otherwise (a list fails)
                      non-empty dict
  inventory_coverage  ok: >= 1 active wardrobe/accessory/prop/      weak otherwise
                      place/scene/style/keyframe asset
  image_generation    ok: active image_proactivity or               disabled otherwise
                      selfie_comfort > 0

Character (launch) readiness adds persona, voice, budget and delivery in front of them.
Aggregate: needs_attention if any check is missing; ready_with_warnings if any is weak or
disabled; ready when all are ok. The functions here are pure, so the probe and inventory
routes can run the same checks on items they already hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import Item
from likeness.characters.models import (
    INVENTORY_CATEGORIES,
    AssetCategory,
    AssetStatus,
    BehavioralThresholds,
    CharacterReadiness,
    CheckStatus,
    ReadinessCheck,
    ReadinessStatus,
    VisualReadiness,
)
from likeness.characters.service import require_scope

if TYPE_CHECKING:
    from likeness.accounts.service import AccountService
    from likeness.characters.assets import AssetService
    from likeness.characters.service import CharacterService

IDENTITY_ASSET = "identity_asset"
IDENTITY_ANCHORS = "identity_anchors"
INVENTORY_COVERAGE = "inventory_coverage"
IMAGE_GENERATION = "image_generation"
VISUAL_CHECKS = (IDENTITY_ASSET, IDENTITY_ANCHORS, INVENTORY_COVERAGE, IMAGE_GENERATION)

_INVENTORY = {c.value for c in INVENTORY_CATEGORIES}


def aggregate(checks: Iterable[ReadinessCheck]) -> ReadinessStatus:
    statuses = {c.status for c in checks}
    if CheckStatus.MISSING in statuses:
        return ReadinessStatus.NEEDS_ATTENTION
    if statuses & {CheckStatus.WEAK, CheckStatus.DISABLED}:
        return ReadinessStatus.READY_WITH_WARNINGS
    return ReadinessStatus.READY


def scope_note(version: Item) -> str:
    return (
        "identity_anchors + image_generation reflect the ACTIVE character version "
        f"({version['version_id']}, version {version['version']}); identity_asset + inventory_coverage "
        "are character-global (they persist across versions). A PATCH that sends a profile replaces it "
        "wholesale: always include identity_anchors."
    )


def thresholds_of(version: Item) -> BehavioralThresholds:
    return BehavioralThresholds(**(version.get("behavioral_thresholds") or {}))


def images_on(version: Item) -> bool:
    t = thresholds_of(version)
    return t.image_proactivity > 0 or t.selfie_comfort > 0


def _active(assets: Sequence[Item]) -> list[Item]:
    return [a for a in assets if a.get("asset_status") == AssetStatus.ACTIVE.value]


def _fmt(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------------------- visual checks
def identity_asset_check(*, slug: str, assets: Sequence[Item], unfetchable: int = 0) -> ReadinessCheck:
    """``unfetchable``: how many of the active identity assets have no image file to fetch."""
    n = sum(1 for a in _active(assets) if a["category"] == AssetCategory.IDENTITY.value)
    if n and unfetchable >= n:
        return ReadinessCheck(
            id=IDENTITY_ASSET,
            status=CheckStatus.MISSING,
            summary=f"{n} active identity asset(s), but the identity image cannot be fetched "
            "(its file is gone): probes have no face reference.",
            fix=f"Upload the identity image again: POST /v1/characters/{slug}/visual-assets "
            "(category=identity).",
        )
    if n:
        return ReadinessCheck(
            id=IDENTITY_ASSET, status=CheckStatus.OK, summary=f"{n} active identity asset(s)."
        )
    return ReadinessCheck(
        id=IDENTITY_ASSET,
        status=CheckStatus.MISSING,
        summary="No active identity asset (selfies have no face reference).",
        fix=f"Upload identity first: POST /v1/characters/{slug}/visual-assets (category=identity).",
    )


def identity_anchors_check(*, slug: str, version: Item) -> ReadinessCheck:
    anchors = (version.get("profile") or {}).get("identity_anchors")
    if isinstance(anchors, dict) and anchors:
        return ReadinessCheck(
            id=IDENTITY_ANCHORS, status=CheckStatus.OK, summary="Visual identity anchors set."
        )
    fix = (
        f"PATCH /v1/characters/{slug} with the whole profile, profile.identity_anchors as an object "
        "(visual_summary, hair, style_constants, avoid_visual_changes)."
    )
    if isinstance(anchors, list):
        summary = (
            "profile.identity_anchors is a list; the image pipeline needs an object (dict) of visual keys."
        )
    elif isinstance(anchors, dict):
        summary = "profile.identity_anchors is an empty object."
    else:
        summary = "profile.identity_anchors is not set on the active version."
    return ReadinessCheck(id=IDENTITY_ANCHORS, status=CheckStatus.MISSING, summary=summary, fix=fix)


def inventory_coverage_check(*, slug: str, assets: Sequence[Item]) -> ReadinessCheck:
    n = sum(1 for a in _active(assets) if a["category"] in _INVENTORY)
    if n:
        return ReadinessCheck(
            id=INVENTORY_COVERAGE, status=CheckStatus.OK, summary=f"{n} active inventory asset(s)."
        )
    waiting = sum(
        1
        for a in assets
        if a["category"] in _INVENTORY and a.get("asset_status") == AssetStatus.CANDIDATE.value
    )
    if waiting:
        return ReadinessCheck(
            id=INVENTORY_COVERAGE,
            status=CheckStatus.WEAK,
            summary=f"No active inventory assets; {waiting} candidate(s) await promotion.",
            fix=f"Promote one: PATCH /v1/characters/{slug}/visual-assets/{{asset_id}} "
            '{"promotion_status": "approved_keyframe"}.',
        )
    return ReadinessCheck(
        id=INVENTORY_COVERAGE,
        status=CheckStatus.WEAK,
        summary="No inventory assets.",
        fix="Add wardrobe/accessory/prop/place for consistent images.",
    )


def image_generation_check(*, slug: str, version: Item) -> ReadinessCheck:
    t = thresholds_of(version)
    if not images_on(version):
        return ReadinessCheck(
            id=IMAGE_GENERATION,
            status=CheckStatus.DISABLED,
            summary="Image generation off (default).",
            fix="Set behavioral_thresholds.image_proactivity / selfie_comfort.",
        )
    summary = (
        f"Image generation on (image_proactivity {_fmt(t.image_proactivity)}, "
        f"selfie_comfort {_fmt(t.selfie_comfort)})."
    )
    if t.daily_image_cap == 0:
        # the spec's rule for this check ignores the cap; the delivery check of /readiness does not
        summary += f" daily_image_cap is 0, so none is delivered: see GET /v1/characters/{slug}/readiness."
    return ReadinessCheck(id=IMAGE_GENERATION, status=CheckStatus.OK, summary=summary)


def visual_checks(
    *, slug: str, version: Item, assets: Sequence[Item], unfetchable: int = 0
) -> list[ReadinessCheck]:
    return [
        identity_asset_check(slug=slug, assets=assets, unfetchable=unfetchable),
        identity_anchors_check(slug=slug, version=version),
        inventory_coverage_check(slug=slug, assets=assets),
        image_generation_check(slug=slug, version=version),
    ]


def visual_readiness(
    *, slug: str, version: Item, assets: Sequence[Item], unfetchable: int = 0
) -> VisualReadiness:
    """``version``: the active version item; ``assets``: the character's assets (any status);
    ``unfetchable``: active identity assets whose image file is gone."""
    checks = visual_checks(slug=slug, version=version, assets=assets, unfetchable=unfetchable)
    return VisualReadiness(
        slug=slug,
        status=aggregate(checks),
        checks=checks,
        active_version_id=version["version_id"],
        scope_note=scope_note(version),
    )


# ---------------------------------------------------------------------------- launch checks
def persona_check(*, slug: str, character: Item, version: Item) -> ReadinessCheck:
    profile: dict[str, Any] = version.get("profile") or {}
    fields = [k for k, v in profile.items() if v not in (None, "", [], {})]
    if character.get("name") and fields:
        return ReadinessCheck(
            id="persona",
            status=CheckStatus.OK,
            summary=f"Name and profile set ({len(fields)} profile field(s)).",
        )
    return ReadinessCheck(
        id="persona",
        status=CheckStatus.MISSING,
        summary="The active profile is empty.",
        fix=f"PATCH /v1/characters/{slug} with a profile describing who the character is.",
    )


def voice_check(*, slug: str, version: Item) -> ReadinessCheck:
    anchors = (version.get("profile") or {}).get("identity_anchors")
    if isinstance(anchors, list) and any(isinstance(a, str) and a.strip() for a in anchors):
        return ReadinessCheck(
            id="voice",
            status=CheckStatus.OK,
            summary=f"identity_anchors set as {len(anchors)} text anchor(s) "
            "(enough for voice; images need the object form).",
        )
    if isinstance(anchors, dict) and anchors:
        return ReadinessCheck(
            id="voice", status=CheckStatus.OK, summary="identity_anchors set as an object (voice and images)."
        )
    return ReadinessCheck(
        id="voice",
        status=CheckStatus.MISSING,
        summary="No identity_anchors on the active profile.",
        fix=f"PATCH /v1/characters/{slug} with profile.identity_anchors (an object also serves images).",
    )


def budget_check(*, credits: int) -> ReadinessCheck:
    if credits > 0:
        return ReadinessCheck(id="budget", status=CheckStatus.OK, summary=f"{credits} credit(s) available.")
    return ReadinessCheck(
        id="budget",
        status=CheckStatus.MISSING,
        summary="The account has no credits; every image generation is metered.",
        fix="Add credits to the account (likeness-admin credits-add).",
    )


def delivery_check(*, slug: str, version: Item) -> ReadinessCheck:
    cap = thresholds_of(version).daily_image_cap
    if not images_on(version):
        return ReadinessCheck(
            id="delivery",
            status=CheckStatus.DISABLED,
            summary="Images are off, so none are delivered.",
            fix="Set behavioral_thresholds.image_proactivity / selfie_comfort and daily_image_cap > 0.",
        )
    if cap > 0:
        return ReadinessCheck(id="delivery", status=CheckStatus.OK, summary=f"Up to {cap} image(s) a day.")
    return ReadinessCheck(
        id="delivery",
        status=CheckStatus.MISSING,
        summary="daily_image_cap is 0: images are on, but none will ever be delivered.",
        fix=f"PATCH /v1/characters/{slug} with behavioral_thresholds.daily_image_cap > 0.",
    )


def character_readiness(
    *, slug: str, character: Item, version: Item, assets: Sequence[Item], credits: int, unfetchable: int = 0
) -> CharacterReadiness:
    checks = [
        persona_check(slug=slug, character=character, version=version),
        voice_check(slug=slug, version=version),
        budget_check(credits=credits),
        delivery_check(slug=slug, version=version),
        *visual_checks(slug=slug, version=version, assets=assets, unfetchable=unfetchable),
    ]
    return CharacterReadiness(
        slug=slug,
        status=aggregate(checks),
        checks=checks,
        active_version_id=version["version_id"],
        scope_note=scope_note(version)
        + " persona, voice and delivery read the active version too; budget is the account's balance.",
    )


class ReadinessService:
    def __init__(
        self, *, characters: CharacterService, assets: AssetService, accounts: AccountService
    ) -> None:
        self._characters = characters
        self._assets = assets
        self._accounts = accounts

    def visual(self, *, caller: Caller, slug: str) -> VisualReadiness:
        require_scope(caller, Scope.IDENTITIES_READ)
        return self.visual_for(account_id=caller.account_id, slug=slug)

    def visual_for(self, *, account_id: str, slug: str) -> VisualReadiness:
        """No scope check: for routes that already hold the caller's rights (probes, batches)."""
        _, version = self._characters.active_for(account_id=account_id, slug=slug)
        assets = self._assets.all_assets(account_id=account_id, slug=slug)
        return visual_readiness(
            slug=slug, version=version, assets=assets, unfetchable=self._unfetchable_identities(assets)
        )

    def character(self, *, caller: Caller, slug: str) -> CharacterReadiness:
        require_scope(caller, Scope.IDENTITIES_READ)
        character, version = self._characters.require_active(caller=caller, slug=slug)
        assets = self._assets.all_assets(account_id=caller.account_id, slug=slug)
        credits = self._accounts.get_account(caller.account_id).credits
        return character_readiness(
            slug=slug,
            character=character,
            version=version,
            assets=assets,
            credits=credits,
            unfetchable=self._unfetchable_identities(assets),
        )

    def _unfetchable_identities(self, assets: Sequence[Item]) -> int:
        """Active identity assets whose image file is gone (what a probe would fail to fetch)."""
        identities = [a for a in _active(assets) if a["category"] == AssetCategory.IDENTITY.value]
        return sum(1 for a in identities if not self._assets.file_exists(a))
