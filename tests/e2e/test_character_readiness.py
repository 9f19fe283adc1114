"""Readiness agrees with what a probe can really use."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ApiUser
from tests.e2e.test_characters import DICT_ANCHORS, check, create, upload_identity, visual

pytestmark = pytest.mark.e2e


def test_an_identity_whose_file_is_gone_is_missing_in_readiness(alice: ApiUser) -> None:
    """visual-readiness and the probe agree: no fetchable identity image, no face reference."""
    from likeness.wiring import asset_service, blob_store

    slug = create(alice, profile={"identity_anchors": DICT_ANCHORS})["slug"]
    upload_identity(alice, slug)
    assert check(visual(alice, slug), "identity_asset")["status"] == "ok"
    [identity] = asset_service().active_assets(account_id=alice.account_id, slug=slug, category="identity")
    blob_store().delete(identity["key"])
    gone = check(visual(alice, slug), "identity_asset")
    assert gone["status"] == "missing" and "cannot be fetched" in gone["summary"]
    assert visual(alice, slug)["status"] == "needs_attention"
