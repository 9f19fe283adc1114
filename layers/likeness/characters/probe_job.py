"""The character_image job: one probe or inventory item, drawn by the character's engine.

What the classical engine draws for each kind, from the character's active assets:

- identity_selfie, forbidden_visual_check: a head-shot portrait from the identity image,
  judged against the identity embedding stored at upload;
- full_body_identity: a 9:16 head-to-toe crop of an identity image that shows the body;
- wardrobe_variation (and inventory ``wardrobe``): the character dressed in an active wardrobe
  asset (try-on);
- accessory_carry_forward: the session's previous image, reframed (judged against the identity
  and the previous image); same_scene_followup: the character's face placed into the previous
  image's scene (face transfer); without a previous image both start a new episode;
- inventory ``scene`` / ``place``: the identity photo's setting with the person removed;
- prop_usage, inventory ``accessory`` / ``prop``: the engine cannot draw objects, so the item
  fails with that reason.

A prompt-following engine draws every kind from the character's prompt instead (see
``CharacterImageGenerator``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from likeness.aws.dynamodb import Item, TransactItem
from likeness.characters.probes import CONTINUITY_DEPENDENT
from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.prompts import PERSON_KINDS, character_prompt
from likeness.jobs.generation import EngineExecutor, generate_verified
from likeness.jobs.runner import ProducedResult

if TYPE_CHECKING:
    from likeness.characters.assets import AssetService
    from likeness.characters.sessions import SessionService

# an identity photo whose face is at most this share of its height shows enough of the body
FULL_BODY_MAX_FACE_SHARE = 0.2


def _pick(seed: str, count: int) -> int:
    """A stable choice among ``count`` for a seed of any shape (job ids have hyphens)."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % count


class CharacterImageGenerator(EngineExecutor):
    """The character_image job's executor (probes and inventory items).

    A prompt-following engine draws each kind from the identity image, the profile's
    ``identity_anchors``, the kind's scene, the previous image for continuity kinds and the
    style brief (``character_prompt``); the classical engine re-frames the character's photos.
    Either way, a person image is judged against the identity embedding stored at upload, and
    under ``identity_check=enforce`` (the default) re-generated when it fails."""

    def __init__(
        self,
        *,
        sessions: Callable[[], SessionService],
        assets: Callable[[], AssetService],
        **parts: Any,
    ) -> None:
        super().__init__(**parts)
        self._sessions = sessions
        self._assets = assets

    def execute(self, job: Item) -> list[ProducedResult]:
        import numpy as np

        inputs = job["inputs"]
        kind = inputs.get("probe_type") or inputs["category"]
        identity = inputs["identities"][0]
        face = EngineImage(
            data=self._blobs.get(identity["key"]), label=f"identity asset {identity['asset_id']}"
        )
        parent = inputs.get("parent")
        parent_image = (
            EngineImage(data=self._blobs.get(parent["key"]), label="the previous image") if parent else None
        )
        seed = job["job_id"][:16]
        engine = self._engine_for(job["engine"])
        if engine.capabilities.follows_prompt:
            relation, request = self._prompted(kind, inputs, face, parent_image, seed)
        else:
            relation, request = self._request(kind, inputs, face, parent_image, seed)
        request = dataclasses.replace(request, deadline=self.deadline(job))
        stored = identity.get("embedding")
        embedding = np.frombuffer(base64.b64decode(stored), dtype=np.float32) if stored else None
        if embedding is None and kind in PERSON_KINDS:
            raise EngineError("the identity asset has no stored embedding", code="missing_input")
        [output] = generate_verified(
            session=self.session(job),
            engine=engine,
            request=request,
            judge=self._judge,
            verification=self.verification(
                job, default_check="enforce", embeddings=(embedding,) if embedding is not None else None
            ),
        )[:1]
        shows_person = output.consistency is not None or (
            output.kind == "image" and kind in PERSON_KINDS and not engine.capabilities.follows_prompt
        )
        consistency, checks = self._verdict(output, shows_person, parent_image, relation, inputs)
        details = {**dict(output.details), "probe_consistency": consistency, "shows_person": shows_person}
        if checks is not None:
            details["visual_checks"] = checks
        return [dataclasses.replace(output, consistency=None, details=details)]

    def _prompted(
        self, kind: str, inputs: dict[str, Any], face: EngineImage, parent: EngineImage | None, seed: str
    ) -> tuple[str, EngineRequest]:
        """The request for a prompt-following engine."""
        person = kind in PERSON_KINDS
        garment = None
        if kind in ("wardrobe_variation", "wardrobe") and inputs.get("wardrobe"):
            chosen = inputs["wardrobe"][_pick(seed, len(inputs["wardrobe"]))]
            garment = EngineImage(
                data=self._blobs.get(chosen["key"]), label=f"wardrobe asset {chosen['asset_id']}"
            )
        follows = kind in CONTINUITY_DEPENDENT and parent is not None
        relation = "identity_anchor" if person else "from_character_brief"
        if kind in CONTINUITY_DEPENDENT:
            relation = {"accessory_carry_forward": "carried_forward", "same_scene_followup": "same_scene"}[
                kind
            ]
            relation = relation if follows else "new_episode"
        prompt = character_prompt(
            kind=kind if follows or kind not in CONTINUITY_DEPENDENT else "identity_selfie",
            anchors=inputs.get("anchors"),
            style_brief=inputs.get("style_brief"),
            forbidden=[*inputs.get("forbidden", []), *([] if person else ["people", "faces"])],
            wearing_asset=garment is not None,
        )
        if not person:
            operation = Operation.GENERATE
        else:
            operation = Operation.TRY_ON if garment is not None else Operation.PORTRAIT
        return relation, EngineRequest(
            operation=operation,
            prompt=prompt,
            face_images=(face,) if person else (),
            previous_image=parent if follows else None,
            garment_images=(garment,) if garment is not None else (),
            aspect_ratio="9:16"
            if kind in ("full_body_identity", "wardrobe", "wardrobe_variation")
            else "3:4",
            resolution="1K",
            seed=seed,
        )

    def _request(
        self, kind: str, inputs: dict[str, Any], face: EngineImage, parent: EngineImage | None, seed: str
    ) -> tuple[str, EngineRequest]:
        common = {"seed": seed, "size": 768, "format": "png"}
        if kind in ("identity_selfie", "forbidden_visual_check"):
            return "identity_anchor", EngineRequest(
                operation=Operation.PORTRAIT, face_images=(face,), params={**common, "framing": "headshot"}
            )
        if kind == "full_body_identity":
            self._require_body(face)
            return "identity_anchor", EngineRequest(
                operation=Operation.EDIT,
                base_image=face,
                params={"instructions": [{"op": "crop", "aspect_ratio": "9:16"}], "format": "png"},
            )
        if kind in ("wardrobe_variation", "wardrobe"):
            if not inputs.get("wardrobe"):
                raise EngineError(
                    "the classical engine cannot invent an outfit; it dresses the character in an active "
                    "wardrobe asset, and this character has none "
                    "(upload one with category=wardrobe and approve it)",
                    code="engine_cannot_do",
                    missing="an active wardrobe asset",
                )
            garment = inputs["wardrobe"][_pick(seed, len(inputs["wardrobe"]))]
            garment_image = EngineImage(
                data=self._blobs.get(garment["key"]), label=f"wardrobe asset {garment['asset_id']}"
            )
            return "identity_anchor", EngineRequest(
                operation=Operation.TRY_ON, base_image=face, garment_images=(garment_image,), params=common
            )
        if kind in ("accessory_carry_forward", "same_scene_followup"):
            if parent is None:
                # nothing to follow yet: a new episode starts from the identity
                return "new_episode", EngineRequest(
                    operation=Operation.PORTRAIT,
                    face_images=(face,),
                    params={**common, "framing": "headshot"},
                )
            if kind == "accessory_carry_forward":
                return "carried_forward", EngineRequest(
                    operation=Operation.PORTRAIT,
                    face_images=(parent,),
                    params={**common, "framing": "head_and_shoulders"},
                )
            return "same_scene", EngineRequest(
                operation=Operation.FACE_TRANSFER,
                base_image=parent,
                face_images=(face,),
                params={"format": "png"},
            )
        if kind in ("scene", "place"):
            return "scene_from_identity_photo", EngineRequest(
                operation=Operation.SCENE, face_images=(face,), params=common
            )
        what = "the character using an object" if kind == "prop_usage" else f"{kind} objects"
        raise EngineError(
            f"the classical engine cannot draw {what}: "
            "it has no generative model for things that are not in the character's photos",
            code="engine_cannot_do",
            missing=f"an engine that can draw {kind}",
        )

    @staticmethod
    def _require_body(image: EngineImage) -> None:
        """A full-body probe reframes an identity image that shows the body; none is drawn."""
        from likeness.faces.pipeline import get_default_pipeline

        analysis = get_default_pipeline().analyze(image.data)
        if analysis.primary is None:
            raise EngineError(f"{image.label} shows no face", code="no_face")
        share = analysis.primary.height / analysis.decoded.height
        if share > FULL_BODY_MAX_FACE_SHARE:
            raise EngineError(
                f"the identity image is a portrait (the face is {share:.0%} of its height); the classical "
                "engine cannot draw a body: upload a full-body identity image",
                code="engine_cannot_do",
                missing="a full-body identity image",
            )

    def _verdict(
        self,
        output: ProducedResult,
        shows_person: bool,
        parent: EngineImage | None,
        relation: str,
        inputs: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The probe's consistency: the identity verdict, then continuity with the previous image."""
        identity = output.consistency
        if not shows_person or identity is None:
            return {
                "status": "passed",
                "reason": "the image shows no person, so there is no face to compare; "
                + (
                    "it is the identity photo's own setting"
                    if relation == "scene_from_identity_photo"
                    else "it was drawn from the character's brief"
                ),
                "continuity_relation": relation,
                "parent_bitmap_available": parent is not None,
            }, None
        status, reasons = str(identity["verdict"]), [f"identity: {identity['reason']}"]
        if parent is not None and relation in ("carried_forward", "same_scene") and output.kind == "image":
            judge = self._judge()
            with contextlib.suppress(EngineError):
                parent_embedding = judge.reference_embeddings([parent])
                follow = judge.judge(output.data, parent_embedding, mode="same_person")
                reasons.append(f"previous image: {follow.reason}")
                status = _worst(status, follow.verdict.value)
        checks = None
        if inputs.get("probe_type") == "forbidden_visual_check":
            checks = _forbidden_checks(inputs.get("avoid_visual_changes") or [])
        return {
            "status": status,
            "reason": "; ".join(reasons),
            "continuity_relation": relation,
            "parent_bitmap_available": parent is not None,
            "score": identity["score"],
            "threshold": identity["threshold"],
            "near_copy": bool(identity.get("near_copy")),
        }, checks

    def surface_records(self, job: Item, records: Sequence[Item]) -> list[TransactItem | Item]:
        """The session's image.ready event and, for inventory items, the new visual asset."""
        inputs = job["inputs"]
        if not records:
            return []
        record = records[0]
        verdict = ((record.get("details") or {}).get("probe_consistency") or {}).get("status")
        if verdict == "failed":
            # viewable in the report, but never delivered to the session nor kept as an asset
            return []
        rows: list[Any] = [
            self._sessions().event_write(
                session_id=inputs["session_id"],
                event_type="image.ready",
                data={
                    "probe_id": job["job_id"],
                    "probe_type": inputs.get("probe_type"),
                    "category": inputs.get("category"),
                    "image_kind": inputs["image_kind"],
                    "result_id": record["result_id"],
                },
            )
        ]
        if inputs.get("category"):
            from likeness.characters.assets import asset_object_key

            # the asset keeps its own copy: job result files are deleted after their window
            asset_id = f"asset_{job['job_id'].replace('-', '')[:20]}"
            key = asset_object_key(
                job["account_id"], inputs["slug"], asset_id, record["key"].rsplit(".", 1)[-1]
            )
            self._blobs.put(key, self._blobs.get(record["key"]), content_type=record["content_type"])
            rows.append(
                self._assets().generated_asset_item(
                    account_id=job["account_id"],
                    slug=inputs["slug"],
                    category=inputs["category"],
                    key=key,
                    asset_id=asset_id,
                    width=record["width"],
                    height=record["height"],
                    content_type=record["content_type"],
                    label=f"generated {inputs['category']}",
                    hold_for_review=bool(inputs.get("hold_for_review")),
                    source_probe_id=job["job_id"],
                )
            )
        return rows


_ORDER = {"passed": 0, "manual_required": 1, "failed": 2}


def _worst(a: str, b: str) -> str:
    return a if _ORDER.get(a, 2) >= _ORDER.get(b, 2) else b


def _forbidden_checks(constraints: Sequence[str]) -> dict[str, Any]:
    """Which avoid_visual_changes constraints the classical engine can vouch for.

    Its selfies are re-framings of the identity photo: no hair, makeup or colour is redrawn,
    so constraints about changing those hold by construction; anything else is reported as not
    measurable rather than guessed."""
    by_construction = ("hair", "makeup", "colour", "color", "glasses", "skin", "tattoo", "beard")
    held: list[str] = []
    unmeasured: list[str] = []
    for constraint in constraints:
        (held if any(word in constraint.lower() for word in by_construction) else unmeasured).append(
            constraint
        )
    return {
        "held": held,
        "not_measurable": unmeasured,
        "method": "the classical engine re-frames the identity photo and redraws no features",
    }
