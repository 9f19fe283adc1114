"""The readiness rules and asset status moves, as pure functions (no stack)."""

from __future__ import annotations

from typing import Any

import pytest

from likeness.characters.assets import _next_statuses
from likeness.characters.models import AssetPatch, CharacterProfile, CheckStatus, ReadinessStatus
from likeness.characters.readiness import aggregate, character_readiness, visual_readiness
from likeness.errors import Unprocessable


def version(profile: dict[str, Any] | None = None, **thresholds: Any) -> dict[str, Any]:
    return {
        "version_id": "ver_1",
        "version": 1,
        "profile": profile or {},
        "behavioral_thresholds": thresholds,
    }


def asset(category: str, status: str = "active") -> dict[str, Any]:
    return {"category": category, "asset_status": status}


def statuses(result: Any) -> dict[str, str]:
    return {c.id: c.status.value for c in result.checks}


def test_nothing_set_needs_attention() -> None:
    result = visual_readiness(slug="s", version=version(), assets=[])
    assert statuses(result) == {
        "identity_asset": "missing",
        "identity_anchors": "missing",
        "inventory_coverage": "weak",
        "image_generation": "disabled",
    }
    assert result.status is ReadinessStatus.NEEDS_ATTENTION


@pytest.mark.parametrize(
    ("anchors", "expected"),
    [
        ({"hair": "dark"}, "ok"),
        (["warm"], "missing"),
        ({}, "missing"),
        ("text", "missing"),
        (None, "missing"),
    ],
)
def test_identity_anchors_must_be_a_non_empty_dict(anchors: Any, expected: str) -> None:
    result = visual_readiness(slug="s", version=version({"identity_anchors": anchors}), assets=[])
    assert result.check("identity_anchors").status.value == expected


def test_only_active_assets_count_and_identity_is_not_inventory() -> None:
    assets = [asset("identity"), asset("wardrobe", "candidate"), asset("prop", "retired")]
    result = visual_readiness(slug="s", version=version(), assets=assets)
    assert result.check("identity_asset").status is CheckStatus.OK
    assert result.check("inventory_coverage").status is CheckStatus.WEAK
    only_identity = visual_readiness(slug="s", version=version(), assets=[asset("identity", "retired")])
    assert only_identity.check("identity_asset").status is CheckStatus.MISSING


@pytest.mark.parametrize("category", ["wardrobe", "accessory", "prop", "place", "scene", "style", "keyframe"])
def test_every_inventory_category_covers(category: str) -> None:
    result = visual_readiness(slug="s", version=version(), assets=[asset(category)])
    assert result.check("inventory_coverage").status is CheckStatus.OK


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        ({}, "disabled"),
        ({"daily_image_cap": 5}, "disabled"),
        ({"image_proactivity": 0.1}, "ok"),
        ({"selfie_comfort": 0.1}, "ok"),
    ],
)
def test_image_generation_reads_proactivity_or_comfort(thresholds: dict[str, Any], expected: str) -> None:
    result = visual_readiness(slug="s", version=version(**thresholds), assets=[])
    assert result.check("image_generation").status.value == expected


def test_aggregate_and_ready() -> None:
    full = version({"identity_anchors": {"hair": "dark"}, "bio": "b"}, selfie_comfort=0.5, daily_image_cap=2)
    assets = [asset("identity"), asset("scene")]
    result = visual_readiness(slug="s", version=full, assets=assets)
    assert result.status is ReadinessStatus.READY
    assert "ACTIVE" in result.scope_note and result.active_version_id == "ver_1"
    launch = character_readiness(slug="s", character={"name": "M"}, version=full, assets=assets, credits=1)
    assert launch.status is ReadinessStatus.READY
    broke = character_readiness(slug="s", character={"name": "M"}, version=full, assets=assets, credits=0)
    assert broke.status is ReadinessStatus.NEEDS_ATTENTION
    assert aggregate([result.check("identity_asset").model_copy(update={"status": CheckStatus.WEAK})]) is (
        ReadinessStatus.READY_WITH_WARNINGS
    )


@pytest.mark.parametrize(
    ("current", "patch", "expected"),
    [
        (
            ("candidate", "candidate"),
            {"promotion_status": "approved_keyframe"},
            ("active", "approved_keyframe"),
        ),
        (("candidate", "candidate"), {"asset_status": "active"}, ("active", "approved_keyframe")),
        (("active", "approved_keyframe"), {"asset_status": "rejected"}, ("rejected", "approved_keyframe")),
        (("active", "approved_keyframe"), {"promotion_status": "candidate"}, ("candidate", "candidate")),
        (("rejected", "candidate"), {"qa_status": "failed"}, ("rejected", "candidate")),
    ],
)
def test_asset_status_moves(
    current: tuple[str, str], patch: dict[str, str], expected: tuple[str, str]
) -> None:
    item = {"category": "wardrobe", "asset_status": current[0], "promotion_status": current[1]}
    assert _next_statuses(item, AssetPatch(**patch)) == expected  # type: ignore[arg-type]


def test_contradicting_statuses_are_refused() -> None:
    item = {"category": "wardrobe", "asset_status": "candidate", "promotion_status": "candidate"}
    with pytest.raises(Unprocessable):
        _next_statuses(item, AssetPatch(promotion_status="approved_anchor", asset_status="retired"))  # type: ignore[arg-type]


def test_profile_keeps_both_anchor_shapes_and_refuses_what_dynamodb_cannot_hold() -> None:
    assert CharacterProfile(identity_anchors=["a"]).as_dict() == {"identity_anchors": ["a"]}
    assert CharacterProfile.model_validate({"bio": "x"}).as_dict() == {"bio": "x"}
    with pytest.raises(ValueError):
        CharacterProfile.model_validate({"bio": float("nan")})
    with pytest.raises(ValueError):
        CharacterProfile.model_validate({"": "empty key"})
