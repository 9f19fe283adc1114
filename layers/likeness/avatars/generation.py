"""The avatar_generation job: prompt, hints and references (or library faces) -> one avatar.

How references are used (``avatar_plan``, the same at submit and in the job):

- one reference image: a portrait of that person (judged ``same_person``; ``identity_check``
  defaults to ``enforce``);
- two to six: a new face blended from them (judged ``new_person``, near copies flagged);
- two, with ``hints.composition = "face_in_scene"``: the person of the first placed into the
  scene of the second (judged ``same_person`` against the first);
- none (library-assisted): a prompt-following engine picks one library face as inspiration, or
  goes text-only when the library is empty; the classical engine blends two library faces, and
  a request it cannot serve that way is refused before it is charged.

A prompt-following engine receives the prompt the request implies (``avatar_prompt``: the lead
for the mode, the caller's prompt, the hints, the output controls). Documented hints the
classical engine uses: ``composition``, ``style``, ``background`` (``#rrggbb``), ``framing``,
``aspect_ratio`` and ``seed``; output controls win over hints, and other keys are ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Any, get_args

from likeness.avatars.models import AspectRatio, AvatarOutput, Style
from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineCapabilities, EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.prompts import avatar_prompt
from likeness.jobs.generation import EngineExecutor, generate_verified
from likeness.jobs.runner import ProducedResult

LIBRARY_BLEND_SIZE = 2
# hints={"composition": "face_in_scene"} with two references: the person, then the scene
FACE_IN_SCENE = "face_in_scene"
_HINTED = {
    "style": set(get_args(Style)),
    "framing": {"headshot", "head_and_shoulders"},
    "aspect_ratio": set(get_args(AspectRatio)),
}
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def engine_params(*, hints: dict[str, Any], output: dict[str, Any], seed: str) -> dict[str, Any]:
    """Defaults, then the documented hints whose values are valid, then the output controls the
    caller set (``output`` holds only those: it is stored with ``exclude_unset``)."""
    params: dict[str, Any] = {"count": 1, "seed": seed, **AvatarOutput().model_dump(exclude_none=True)}
    for name, allowed in _HINTED.items():
        value = hints.get(name)
        if isinstance(value, str) and value in allowed:
            params[name] = value
    background = hints.get("background")
    if isinstance(background, str) and _HEX.match(background):
        params["background"] = background
    params.update({k: v for k, v in output.items() if v is not None})
    return params


@dataclass(frozen=True)
class AvatarPlan:
    operation: Operation
    mode: str  # portrait | blend | face_in_scene | library | text
    library_faces: int = 0  # library faces the job picks

    @property
    def same_person(self) -> bool:
        return self.mode in ("portrait", "face_in_scene")


def avatar_plan(
    *, capabilities: EngineCapabilities, references: int, composition: Any, library_size: int
) -> AvatarPlan:
    """What a request does on an engine; EngineError when the engine cannot do it."""
    if composition == FACE_IN_SCENE and references == 2:
        return AvatarPlan(Operation.FACE_TRANSFER, "face_in_scene")
    if references == 1:
        return AvatarPlan(Operation.PORTRAIT, "portrait")
    if references >= 2:
        return AvatarPlan(Operation.NEW_FACE, "blend")
    if capabilities.follows_prompt:
        if Operation.GENERATE not in capabilities.operations:
            raise EngineError(
                f"{capabilities.slug} edits images and cannot make an avatar from a prompt alone; "
                "send reference_images or choose another engine",
                code="engine_cannot_do",
            )
        return AvatarPlan(Operation.GENERATE, "library" if library_size else "text", min(1, library_size))
    if library_size < LIBRARY_BLEND_SIZE:
        raise EngineError(
            f"library-assisted generation on {capabilities.slug} blends {LIBRARY_BLEND_SIZE} library "
            f"faces and this deployment's library has {library_size}; send reference_images, use a "
            "prompt-following engine, or add default identities (likeness-admin default-identity-add)",
            code="library_too_small",
            missing="library faces",
        )
    return AvatarPlan(Operation.NEW_FACE, "blend", LIBRARY_BLEND_SIZE)


class AvatarGenerator(EngineExecutor):
    def execute(self, job: Item) -> list[ProducedResult]:
        inputs = job["inputs"]
        hints: dict[str, Any] = inputs.get("hints") or {}
        output: dict[str, Any] = inputs.get("output") or {}
        # a retried job must pick the same library faces and weights
        default_seed = hashlib.sha256(f"{job['job_id']}/{inputs['prompt']}".encode()).hexdigest()[:16]
        seed = str(hints.get("seed") or default_seed)
        keys = sorted((inputs.get("input_keys") or {}).items())
        refs = [
            EngineImage(data=self._blobs.get(key), label=f"reference image {index + 1}")
            for index, (_, key) in enumerate(keys)
        ]
        engine = self._engine_for(job["engine"])
        capabilities = engine.capabilities
        library = self._library.pick(seed=seed, count=LIBRARY_BLEND_SIZE) if not refs else []
        plan = avatar_plan(
            capabilities=capabilities,
            references=len(refs),
            composition=hints.get("composition"),
            library_size=len(library),
        )
        library_images = [
            EngineImage(data=self._blobs.get(p.source_key), label=f"library identity {p.identity_code}")
            for p in library[: plan.library_faces]
        ]
        params = engine_params(hints=hints, output=output, seed=seed)
        common: dict[str, Any] = {
            "operation": plan.operation,
            "prompt": avatar_prompt(prompt=inputs["prompt"], hints=hints, output=output, mode=plan.mode)
            if capabilities.follows_prompt
            else "",
            "aspect_ratio": params.get("aspect_ratio"),
            "seed": seed,
            "deadline": self.deadline(job),
            "params": params,
        }
        sources: list[EngineImage]
        references: tuple[EngineImage, ...]
        if plan.mode == "face_in_scene":
            person, scene = refs
            request = EngineRequest(**common, face_images=(person,), base_image=scene)
            references, sources = (person,), [person, scene]
        elif plan.mode == "portrait":
            request = EngineRequest(**common, face_images=(refs[0],))
            references, sources = (refs[0],), refs
        elif capabilities.follows_prompt:
            # blends and library inspiration: the faces steer the look; nobody is copied
            inspiration = tuple(refs or library_images)
            request = EngineRequest(**common, style_images=inspiration)
            references, sources = inspiration, list(inspiration)
        else:
            blend = tuple(refs or library_images)
            request = EngineRequest(**common, face_images=blend)
            references, sources = blend, list(blend)
        produced = generate_verified(
            session=self.session(job),
            engine=engine,
            request=request,
            judge=self._judge,
            verification=self.verification(
                job,
                mode="same_person" if plan.same_person else "new_person",
                # the classical blend names the faces each output came from itself
                references=references if (capabilities.follows_prompt or plan.same_person) else None,
            ),
        )
        labels = [f.label for f in sources]
        if plan.mode == "face_in_scene":
            labels[-1] = f"scene: {labels[-1]}"
        made = {"operation": plan.operation.value, "mode": plan.mode, "sources": labels}
        return [dataclasses.replace(r, details={**r.details, **made}) for r in produced]
