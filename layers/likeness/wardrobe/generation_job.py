"""The wardrobe_generation job: the four use cases on an engine, each output judged.

- generate: the clothing items dressed onto the avatar (or, without one, a virtual model). A
  prompt-following model gets the try-on prompt (the garments, the avatar, the camera and the
  user's prompt; ``enhance_user_prompt`` adds composition guidance) with the avatar as the
  identity reference; every output is judged ``same_person`` against the avatar, and under
  ``identity_check=enforce`` (the default with an avatar) re-generated when it fails. The
  classical engine lays the garment cut-outs on the avatar (or a library model photo).
- edit / upscale / video: the source image (a generation result or a fetched URL) through the
  model, judged against the source's person when it shows one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

from likeness.aws.dynamodb import Item, TransactItem
from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.prompts import edit_prompt, try_on_prompt, video_prompt
from likeness.engines.sizes import RESOLUTION_SIZES
from likeness.jobs.generation import EngineExecutor, generate_verified
from likeness.jobs.runner import ProducedResult
from likeness.wardrobe.generations import result_rows
from likeness.wardrobe.store import result_counts

VIDEO_FPS = 24


def output_params(inputs: dict[str, Any], seed: str) -> dict[str, Any]:
    """Resolution and aspect ratio as the classical engine's ``size`` / ``aspect_ratio``."""
    long_side, exact = RESOLUTION_SIZES[inputs["resolution"]]
    params: dict[str, Any] = {"seed": seed, "size": long_side, "format": "png"}
    aspect = inputs.get("aspect_ratio") or "auto"
    if exact is not None:
        params["aspect_ratio"] = _reduced(*exact) if aspect == "auto" else aspect
    elif aspect != "auto":
        params["aspect_ratio"] = aspect
    return params


def _reduced(width: int, height: int) -> str:
    import math

    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


class WardrobeGenerator(EngineExecutor):
    def execute(self, job: Item) -> list[ProducedResult]:
        inputs = job["inputs"]
        keys: dict[str, str] = inputs.get("input_keys") or {}
        seed = hashlib.sha256(job["job_id"].encode()).hexdigest()[:16]
        engine = self._engine_for(job["engine"])
        prompted = engine.capabilities.follows_prompt
        use_case = inputs["use_case"]
        if use_case == "generate":
            request, identity = self._try_on(inputs, keys, seed, prompted)
            optional = False
        else:
            request, identity = self._from_source(inputs, keys, seed, prompted)
            optional = True  # the source may show no person, or several
        request = dataclasses.replace(request, count=int(inputs["num_images"]), deadline=self.deadline(job))
        if use_case != "upscale":  # an upscale's size is its factor's
            aspect = inputs.get("aspect_ratio")
            request = dataclasses.replace(
                request,
                aspect_ratio=aspect if aspect and aspect != "auto" else None,
                resolution=inputs.get("resolution"),
                seed=seed,
            )
        produced = generate_verified(
            session=self.session(job),
            engine=engine,
            request=request,
            judge=self._judge,
            verification=self.verification(
                job, mode="same_person", references=identity or None, optional=optional
            ),
        )
        return produced[: int(inputs["num_images"])]

    def _images(self, keys: dict[str, str], prefix: str, label: str) -> tuple[EngineImage, ...]:
        return tuple(
            EngineImage(data=self._blobs.get(key), label=f"{label} {index + 1}")
            for index, (_, key) in enumerate(sorted((n, k) for n, k in keys.items() if n.startswith(prefix)))
        )

    def _try_on(
        self, inputs: dict[str, Any], keys: dict[str, str], seed: str, prompted: bool
    ) -> tuple[EngineRequest, tuple[EngineImage, ...]]:
        fronts = [
            (n, k) for n, k in sorted(keys.items()) if n.startswith("garment_") and n.endswith("_front.png")
        ]
        backs = {n.replace("_front", "_back"): i for i, (n, _) in enumerate(fronts)}
        images = [
            EngineImage(data=self._blobs.get(key), label=f"clothing item {name.split('_')[1]}")
            for name, key in fronts
        ]
        # backs follow the fronts; the back camera dresses with them
        garment_backs: dict[int, int] = {}
        for name, key in sorted(keys.items()):
            if name in backs:
                garment_backs[backs[name]] = len(images)
                images.append(
                    EngineImage(data=self._blobs.get(key), label=f"clothing item {name.split('_')[1]} (back)")
                )
        params = {**output_params(inputs, seed), "camera": inputs["camera"]}
        avatar = None
        if "avatar.img" in keys:
            avatar = EngineImage(
                data=self._blobs.get(keys["avatar.img"]), label=f"avatar {inputs['avatar_id']}"
            )
        if prompted:
            request = EngineRequest(
                operation=Operation.TRY_ON,
                prompt=try_on_prompt(
                    user_prompt=inputs.get("prompt"),
                    camera=inputs["camera"],
                    has_avatar=avatar is not None,
                    garments=len(fronts),
                    enhance=bool(inputs.get("enhance_user_prompt", True)),
                ),
                face_images=(avatar,) if avatar else (),
                garment_images=tuple(images),
                garment_backs=garment_backs,
                style_images=self._images(keys, "ref_", "reference image"),
                params=params,
            )
            return request, (avatar,) if avatar else ()
        faces: tuple[EngineImage, ...] = ()
        if avatar is not None:
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
            faces = ()
        request = EngineRequest(
            operation=Operation.TRY_ON,
            base_image=base,
            face_images=faces,
            garment_images=tuple(images),
            garment_backs=garment_backs,
            params=params,
        )
        return request, faces

    def _from_source(
        self, inputs: dict[str, Any], keys: dict[str, str], seed: str, prompted: bool
    ) -> tuple[EngineRequest, tuple[EngineImage, ...]]:
        use_case = inputs["use_case"]
        source_key = next((k for n, k in keys.items() if n.startswith("source.")), None)
        if source_key is None:
            raise EngineError(
                f"{use_case} has no source image", code="missing_input", missing="a source image"
            )
        source = EngineImage(data=self._blobs.get(source_key), label="the source image")
        refs = self._images(keys, "ref_", "reference image")
        params = output_params(inputs, seed)
        if use_case == "edit":
            prompt = inputs["prompt"]
            if prompted:
                prompt = edit_prompt(
                    user_prompt=prompt, enhance=bool(inputs.get("enhance_user_prompt", True))
                )
            params["prompt"] = inputs["prompt"]  # the classical engine reads its keywords from here
            request = EngineRequest(
                operation=Operation.EDIT, base_image=source, style_images=refs, prompt=prompt, params=params
            )
        elif use_case == "upscale":
            request = EngineRequest(
                operation=Operation.UPSCALE,
                base_image=source,
                params={
                    "factor": int(inputs["upscale_factor"]),
                    "target_resolution": inputs.get("target_resolution"),
                },
            )
        else:
            last = self._images(keys, "last_frame.", "the last frame")
            params.update({"fps": VIDEO_FPS, "size": min(params["size"], 1920)})
            request = EngineRequest(
                operation=Operation.VIDEO,
                base_image=source,
                style_images=refs,
                last_frame=last[0] if last else None,
                prompt=video_prompt(user_prompt=inputs.get("prompt")) if prompted else "",
                duration=int(inputs["duration"]),
                audio=bool(inputs.get("generate_audio")),
                params=params,
            )
        return request, (source,)

    @staticmethod
    def surface_records(job: Item, records: Sequence[Item]) -> list[Item | TransactItem]:
        """The WRES rows, and the result list's counters they move."""
        rows = result_rows(job, records)
        return [*rows, *result_counts(rows, 1)]
