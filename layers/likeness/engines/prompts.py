"""The prompt each surface sends a prompt-following engine, built from what its request says.

Pure functions of request fields (light: no engine, no I/O), so a surface's prompt is tested
without a provider. Which image is which is added by the provider adapter from the references'
roles; these prompts say what to make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# what each wardrobe camera asks of the shot
CAMERA_GUIDANCE: dict[str, str] = {
    "photo": "Frame the shot naturally so the whole outfit is visible.",
    "full_body_front": "Full-body front view: the whole person from head to feet, facing the camera.",
    "full_body_back": "Full-body view from behind, showing the back of every garment.",
    "upper_body_front": "Front view from the top of the head to the hips, facing the camera.",
    "side": "Side (profile) view of the whole person.",
}
# what enhance_user_prompt adds: composition and finish a fashion shot needs
COMPOSITION_GUIDANCE = (
    "Professional e-commerce fashion photography: soft, even studio lighting, a clean neutral background, "
    "sharp focus, natural relaxed pose, realistic skin and fabric texture, no distracting accessories."
)
GARMENT_FIDELITY = (
    "Keep every garment's colour, pattern, fabric, cut and details exactly as in its reference."
)
KEEP_IDENTITY = (
    "Keep the person's face, features, skin tone and identity exactly; do not beautify or alter them."
)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _sentences(*parts: str | None) -> str:
    return "\n".join(p for p in (_clean(x) for x in parts) if p)


def try_on_prompt(
    *, user_prompt: str | None, camera: str, has_avatar: bool, garments: int, enhance: bool
) -> str:
    """Wardrobe ``generate``: dress the avatar (or a virtual model) in the clothing items."""
    subject = "the person in the identity reference" if has_avatar else "a professional fashion model"
    wearing = (
        "the garment shown in the garment references"
        if garments == 1
        else f"the {garments} garments shown in the garment references, together as one outfit"
    )
    return _sentences(
        f"A photo of {subject} wearing {wearing}.",
        user_prompt,
        CAMERA_GUIDANCE.get(camera, ""),
        GARMENT_FIDELITY,
        KEEP_IDENTITY if has_avatar else None,
        COMPOSITION_GUIDANCE if enhance else None,
    )


def edit_prompt(*, user_prompt: str, enhance: bool) -> str:
    """Wardrobe ``edit``: the user's instruction, applied to the source image only."""
    return _sentences(
        f"Edit the image: {user_prompt}",
        "Change only what the instruction asks; keep everything else, and any person's identity, as it is.",
        "Keep it photorealistic, with lighting consistent across the image." if enhance else None,
    )


def video_prompt(*, user_prompt: str | None) -> str:
    return _sentences(
        user_prompt or "Subtle, natural motion; the camera moves slowly.",
        "Keep the person's face and identity the same in every frame.",
    )


def _render_hints(hints: Mapping[str, Any]) -> str:
    shown = [f"{key.replace('_', ' ')}: {value}" for key, value in hints.items() if key != "seed"]
    return ("Direction: " + "; ".join(shown) + ".") if shown else ""


def _render_output(output: Mapping[str, Any]) -> str:
    parts = []
    framing = output.get("framing")
    if framing:
        parts.append("a headshot" if framing == "headshot" else "head and shoulders in frame")
    if output.get("background"):
        parts.append(f"a plain background of colour {output['background']}")
    if output.get("style"):
        parts.append(f"a {str(output['style']).replace('_', ' ')} look")
    return ("Output: " + ", ".join(parts) + ".") if parts else ""


AVATAR_LEADS: dict[str, str] = {
    "portrait": "An avatar portrait of the person in the identity reference.",
    "blend": "An avatar of a new, original person who blends features of the people in the reference "
    "images without being any one of them.",
    "face_in_scene": "The person in the identity reference, placed naturally into the base image's scene.",
    "library": "An avatar of a new, original person; the style reference is inspiration, not this person.",
    "text": "An avatar of a new, original person.",
}


def avatar_prompt(*, prompt: str, hints: Mapping[str, Any], output: Mapping[str, Any], mode: str) -> str:
    """Avatar jobs: the lead for how references are used, the caller's prompt, hints and output."""
    return _sentences(
        AVATAR_LEADS[mode],
        prompt,
        _render_hints(hints),
        _render_output(output),
        KEEP_IDENTITY if mode in ("portrait", "face_in_scene") else None,
        "One person, face clearly visible, photorealistic.",
    )


def draft_prompt(
    *, prompt: str | None, instructions: Sequence[Mapping[str, str]], has_references: bool
) -> str:
    """Identity drafts: a brand-new person from the brief (instructions and prompt)."""
    listed = "; ".join(f"{i['attribute'].replace('_', ' ')}: {i['value']}" for i in instructions)
    return _sentences(
        "A realistic photo of a new, original person for a brand identity: one person, face clearly visible "
        "and looking at the camera, even light.",
        "Take inspiration from the reference images without copying anyone in them."
        if has_references
        else None,
        f"Brief: {listed}." if listed else None,
        prompt,
    )


PROBE_SCENES: dict[str, str] = {
    "identity_selfie": "A casual, natural selfie of the person in the identity reference, face in view.",
    "forbidden_visual_check": "A natural photo of the person in the identity reference, face in view.",
    "full_body_identity": "A full-body photo of the person in the identity reference, head to feet in frame.",
    "wardrobe_variation": "The person in the identity reference in a different outfit that suits them.",
    "wardrobe": "The person in the identity reference wearing a new outfit, full outfit visible.",
    "accessory_carry_forward": "A new photo of the same person as in the previous image, still wearing every "
    "accessory they wear there.",
    "same_scene_followup": "The person in the identity reference a moment later, in the same scene as the "
    "previous image.",
    "prop_usage": "The person in the identity reference naturally using an everyday object.",
    "accessory": "A product photo of one accessory this character would own, plain background, no people.",
    "prop": "A product photo of one object this character would use, on a plain background, no people.",
    "place": "A place this character spends time in, with no people in it.",
    "scene": "A scene from this character's world, with no people in it.",
}
PERSON_KINDS = frozenset(
    {
        "identity_selfie",
        "forbidden_visual_check",
        "full_body_identity",
        "wardrobe_variation",
        "wardrobe",
        "accessory_carry_forward",
        "same_scene_followup",
        "prop_usage",
    }
)


def character_prompt(
    *,
    kind: str,
    anchors: Mapping[str, Any] | None,
    style_brief: str | None = None,
    forbidden: Sequence[str] = (),
    wearing_asset: bool = False,
) -> str:
    """Character probes and inventory: the kind's scene, the identity anchors, the style brief."""
    anchors = dict(anchors or {})
    avoid = [str(a) for a in anchors.pop("avoid_visual_changes", None) or []]
    described = "; ".join(
        f"{k.replace('_', ' ')}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in anchors.items()
        if v not in (None, "", [], {})
    )
    person = kind in PERSON_KINDS
    return _sentences(
        PROBE_SCENES.get(kind, f"An image of {kind} for this character."),
        "They wear the garment in the garment reference." if wearing_asset else None,
        f"Who they are: {described}." if described and person else None,
        f"The character: {described}." if described and not person else None,
        f"Never change: {', '.join(avoid)}." if avoid and person else None,
        f"Avoid: {', '.join(forbidden)}." if forbidden else None,
        f"Style: {style_brief}" if style_brief else None,
        KEEP_IDENTITY if person else None,
    )
