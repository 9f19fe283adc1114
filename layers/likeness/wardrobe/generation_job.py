"""The wardrobe_generation job: the four use cases on an engine, each output judged.

- generate: the clothing items' cut-outs dressed onto the avatar (or, without one, a library
  model photo picked by the job's seed) by the engine's try_on; with an avatar its face is
  transferred and every output is judged ``same_person`` against it;
- edit / upscale / video: the source image (a generation result or a fetched URL) through the
  engine's edit (prompt keywords), upscale (factor) or video (pan and zoom, duration).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.jobs.generation import EngineExecutor, generate_and_judge
from likeness.jobs.runner import ProducedResult
from likeness.wardrobe.catalog import RESOLUTION_SIZES
from likeness.wardrobe.generations import result_rows

if TYPE_CHECKING:
    pass

VIDEO_FPS = 24


def output_params(inputs: dict[str, Any], seed: str) -> dict[str, Any]:
    """Resolution and aspect ratio as the engine's ``size`` / ``aspect_ratio``."""
    long_side, exact = RESOLUTION_SIZES[inputs["resolution"]]
    params: dict[str, Any] = {"seed": seed, "size": long_side, "format": "png"}
    aspect = inputs.get("aspect_ratio") or "auto"
    if exact is not None:
        params["aspect_ratio"] = f"{exact[0]}:{exact[1]}" if aspect == "auto" else aspect
    elif aspect != "auto":
        params["aspect_ratio"] = aspect
    return params


class WardrobeGenerator(EngineExecutor):
    def execute(self, job: Item) -> list[ProducedResult]:
        inputs = job["inputs"]
        keys: dict[str, str] = inputs.get("input_keys") or {}
        seed = hashlib.sha256(job["job_id"].encode()).hexdigest()[:16]
        params = output_params(inputs, seed)
        use_case = inputs["use_case"]
        engine = self._engine_for(job["engine"])
        mode = "same_person"

        if use_case == "generate":
            fronts = [
                (n, k)
                for n, k in sorted(keys.items())
                if n.startswith("garment_") and n.endswith("_front.png")
            ]
            backs = {n.replace("_front", "_back"): i for i, (n, _) in enumerate(fronts)}
            images = [
                EngineImage(data=self._blobs.get(key), label=f"clothing item {name.split('_')[1]}")
                for name, key in fronts
            ]
            # backs follow the fronts; the engine's back camera dresses with them
            garment_backs: dict[int, int] = {}
            for name, key in sorted(keys.items()):
                if name in backs:
                    garment_backs[backs[name]] = len(images)
                    images.append(
                        EngineImage(
                            data=self._blobs.get(key), label=f"clothing item {name.split('_')[1]} (back)"
                        )
                    )
            garments = tuple(images)
            if garment_backs:
                params["garment_backs"] = garment_backs
            faces: tuple[EngineImage, ...] = ()
            if "avatar.img" in keys:
                avatar = EngineImage(
                    data=self._blobs.get(keys["avatar.img"]), label=f"avatar {inputs['avatar_id']}"
                )
                base, faces = avatar, (avatar,)
            else:
                picks = self._library.pick(seed=seed, count=1)
                if not picks:
                    raise EngineError(
                        "generate without avatar_id dresses a library model photo, and this deployment's "
                        "library is empty; send avatar_id, or add default identities "
                        "(likeness-admin default-identity-add)",
                        code="library_too_small",
                        missing="a model photo",
                    )
                base = EngineImage(
                    data=self._blobs.get(picks[0].source_key), label=f"library model {picks[0].identity_code}"
                )
            params.update({"camera": inputs["camera"], "count": int(inputs["num_images"])})
            request = EngineRequest(
                operation=Operation.TRY_ON,
                base_image=base,
                face_images=faces,
                garment_images=garments,
                params=params,
            )
        else:
            source_key = next((k for n, k in keys.items() if n.startswith("source.")), None)
            if source_key is None:
                raise EngineError(
                    f"{use_case} has no source image", code="missing_input", missing="a source image"
                )
            source = EngineImage(data=self._blobs.get(source_key), label="the source image")
            if use_case == "edit":
                params["prompt"] = inputs["prompt"]
                request = EngineRequest(operation=Operation.EDIT, base_image=source, params=params)
            elif use_case == "upscale":
                request = EngineRequest(
                    operation=Operation.UPSCALE,
                    base_image=source,
                    params={"factor": int(inputs["upscale_factor"])},
                )
            else:
                params.update(
                    {"duration": int(inputs["duration"]), "fps": VIDEO_FPS, "size": min(params["size"], 1920)}
                )
                request = EngineRequest(operation=Operation.VIDEO, base_image=source, params=params)
        produced = generate_and_judge(engine=engine, request=request, judge=self._judge(), mode=mode)
        return produced[: int(inputs["num_images"])]

    @staticmethod
    def surface_records(job: Item, records: Sequence[Item]) -> list[Item]:
        return result_rows(job, records)
