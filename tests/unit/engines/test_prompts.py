"""The prompts each surface sends a prompt-following engine."""

from __future__ import annotations

from likeness.engines.prompts import (
    avatar_prompt,
    character_prompt,
    draft_prompt,
    edit_prompt,
    try_on_prompt,
)


def test_two_different_briefs_make_two_different_prompts() -> None:
    beach = avatar_prompt(prompt="man on a beach at sunset", hints={}, output={}, mode="text")
    forest = avatar_prompt(prompt="woman in a snowy forest", hints={}, output={}, mode="text")
    assert beach != forest and "man on a beach at sunset" in beach and "woman in a snowy forest" in forest


def test_try_on_carries_the_camera_garments_avatar_and_enhancement() -> None:
    plain = try_on_prompt(
        user_prompt="in a loft", camera="full_body_back", has_avatar=True, garments=2, enhance=False
    )
    assert "the person in the identity reference" in plain and "2 garments" in plain
    assert "from behind" in plain and "in a loft" in plain and "identity exactly" in plain
    assert "studio lighting" not in plain
    enhanced = try_on_prompt(user_prompt=None, camera="photo", has_avatar=False, garments=1, enhance=True)
    assert "fashion model" in enhanced and "studio lighting" in enhanced


def test_avatar_hints_and_output_controls_are_spelled_out() -> None:
    text = avatar_prompt(
        prompt="a narrator",
        hints={"style": "warm", "cultural_context": "Lagos", "seed": "42"},
        output={"framing": "headshot", "background": "#203040"},
        mode="portrait",
    )
    assert "portrait of the person in the identity reference" in text
    assert "style: warm; cultural context: Lagos." in text and "seed" not in text
    assert "a headshot" in text and "#203040" in text


def test_drafts_list_their_instructions_and_probes_their_anchors() -> None:
    draft = draft_prompt(
        prompt="for a bakery", instructions=[{"attribute": "age", "value": "60s"}], has_references=True
    )
    assert "Brief: age: 60s." in draft and "without copying" in draft and "for a bakery" in draft
    selfie = character_prompt(
        kind="identity_selfie",
        anchors={"hair": "short", "style_constants": ["dark suit"], "avoid_visual_changes": ["no beard"]},
        style_brief="film grain",
    )
    assert "selfie" in selfie and "hair: short; style constants: dark suit" in selfie
    assert "Never change: no beard." in selfie and "Style: film grain" in selfie
    place = character_prompt(kind="place", anchors={"hair": "short"}, forbidden=["people"])
    assert "no people" in place and "Never change" not in place and "Avoid: people." in place
    assert "remove the background" in edit_prompt(user_prompt="remove the background", enhance=False)
