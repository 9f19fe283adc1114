"""The avatar_generation job: references (or library faces) -> one avatar image, judged.

- one reference image: a portrait of that person (judged ``same_person``);
- two to six: a new face blended from them (judged ``new_person``, near copies flagged);
- none: two library faces, picked by the job's seed, blended into a new face.

- two, with ``hints.composition = "face_in_scene"``: the person of the first placed into the
  scene of the second (face transfer, judged ``same_person`` against the first).

Documented hints the classical engine uses: ``composition``, ``style``, ``background``
(``#rrggbb``), ``framing``, ``aspect_ratio`` and ``seed``; output controls win over hints, and
other keys are ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import TYPE_CHECKING, Any, get_args

from likeness.avatars.models import AspectRatio, AvatarOutput, Style
from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.jobs.generation import EngineExecutor, generate_and_judge
from likeness.jobs.runner import ProducedResult

if TYPE_CHECKING:
    pass

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


class AvatarGenerator(EngineExecutor):
    def execute(self, job: Item) -> list[ProducedResult]:
        inputs = job["inputs"]
        hints: dict[str, Any] = inputs.get("hints") or {}
        # a retried job must pick the same library faces and weights
        default_seed = hashlib.sha256(f"{job['job_id']}/{inputs['prompt']}".encode()).hexdigest()[:16]
        seed = str(hints.get("seed") or default_seed)
        keys = sorted((inputs.get("input_keys") or {}).items())
        faces = [
            EngineImage(data=self._blobs.get(key), label=f"reference image {index + 1}")
            for index, (_, key) in enumerate(keys)
        ]
        base_image = None
        if hints.get("composition") == FACE_IN_SCENE and len(faces) == 2:
            # the person of reference 1, placed into the scene of reference 2
            operation, base_image = Operation.FACE_TRANSFER, faces.pop()
        elif faces:
            operation = Operation.PORTRAIT if len(faces) == 1 else Operation.NEW_FACE
        else:
            picks = self._library.pick(seed=seed, count=LIBRARY_BLEND_SIZE)
            if len(picks) < LIBRARY_BLEND_SIZE:
                raise EngineError(
                    f"library-assisted generation blends {LIBRARY_BLEND_SIZE} library faces and this "
                    f"deployment's library has {len(picks)}; send reference_images, or add default "
                    "identities (likeness-admin default-identity-add)",
                    code="library_too_small",
                    missing="library faces",
                )
            faces = [
                EngineImage(data=self._blobs.get(p.source_key), label=f"library identity {p.identity_code}")
                for p in picks
            ]
            operation = Operation.NEW_FACE
        request = EngineRequest(
            operation=operation,
            base_image=base_image,
            face_images=tuple(faces),
            params=engine_params(hints=hints, output=inputs.get("output") or {}, seed=seed),
        )
        produced = generate_and_judge(
            engine=self._engine_for(job["engine"]),
            request=request,
            judge=self._judge(),
            mode="new_person" if operation is Operation.NEW_FACE else "same_person",
        )
        sources = [f.label for f in faces] + ([f"scene: {base_image.label}"] if base_image else [])
        made = {"operation": operation.value, "sources": sources}
        return [dataclasses.replace(r, details={**r.details, **made}) for r in produced]
