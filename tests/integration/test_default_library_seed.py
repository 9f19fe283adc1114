"""Seeding the default library (what the local stack does when it seeds), on moto: the shipped
portraits become default identities queued for preprocessing, once; seeding again adds nothing."""

from __future__ import annotations

from typing import Any

from tests.integration.media_support import queued_messages


def _default_identities() -> list[dict[str, Any]]:
    from likeness.accounts.models import PLATFORM_ACCOUNT_ID
    from likeness.wiring import table

    return list(table().iter_query(f"OWNER#{PLATFORM_ACCOUNT_ID}", sk_prefix="IDENTITY#", index="GSI1"))


def test_the_shipped_portraits_are_seeded_once(aws: dict[str, str]) -> None:
    from infra.local.stack import LIBRARY_DIR, PORTRAITS
    from likeness.accounts.bootstrap import library_still_preprocessing, seed_default_library
    from likeness.settings import get_settings

    portraits = [(name, (LIBRARY_DIR / file).read_bytes()) for name, file in PORTRAITS.items()]
    assert len(portraits) >= 2  # the classical engine blends two library faces
    # every shipped file keeps its licence and source note next to it
    assert (LIBRARY_DIR / "LICENSE").is_file() and all(
        file in (LIBRARY_DIR / "SOURCES.md").read_text() for file in PORTRAITS.values()
    )

    codes = seed_default_library(portraits)
    assert len(codes) == len(portraits)
    items = _default_identities()
    assert sorted(i["name"] for i in items) == sorted(PORTRAITS)
    assert {i["visibility"] for i in items} == {"default"}
    assert {i["preprocessing_status"] for i in items} == {"pending"}
    queued = queued_messages(get_settings().preprocess_queue_url)
    assert len(queued) == len(portraits)
    assert sorted(library_still_preprocessing(codes)) == sorted(codes)

    # a restart seeds again: nothing is added, nothing queued
    assert seed_default_library(portraits) == []
    assert len(_default_identities()) == len(portraits)
    assert queued_messages(get_settings().preprocess_queue_url) == []
