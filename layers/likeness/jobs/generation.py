"""Engine outputs -> stored results, each judged for consistency with the faces it came from.

Shared by every executor that generates people (avatars, identity drafts, later try-ons): the
engine makes the pixels, the judge embeds every output that shows a person and compares it
with the faces the engine says it used. Imports the models only when a job runs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from likeness.aws.s3 import BlobStore
from likeness.engines.base import Engine, EngineError, EngineRequest
from likeness.jobs.runner import ProducedResult
from likeness.library import ReferenceLibrary

if TYPE_CHECKING:
    import numpy as np

    from likeness.engines.consistency import ConsistencyJudge


def middle_frame(video: bytes) -> np.ndarray:
    """The middle frame of an MP4 as RGB pixels: what a video's consistency is judged on."""
    import av

    with av.open(io.BytesIO(video), mode="r") as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        raise EngineError("the engine produced a video without frames")
    return frames[len(frames) // 2]


def generate_and_judge(
    *, engine: Engine, request: EngineRequest, judge: ConsistencyJudge, mode: str
) -> list[ProducedResult]:
    """Run the engine; judge each person-showing output against its source faces (``mode``:
    ``same_person`` when it must be that person, ``new_person`` for blends)."""
    outputs = engine.run(request)
    if not outputs:
        raise EngineError("the engine produced no output for this request")
    embeddings: list[Any] | None = None
    produced: list[ProducedResult] = []
    for output in outputs:
        consistency = None
        if output.shows_person and output.face_sources:
            if embeddings is None:
                embeddings = judge.reference_embeddings(request.face_images)
            references = [embeddings[i] for i in output.face_sources]
            subject: bytes | np.ndarray = output.data if output.kind == "image" else middle_frame(output.data)
            consistency = judge.judge(subject, references, mode=mode).to_dict()
        produced.append(
            ProducedResult(
                data=output.data,
                content_type=output.content_type,
                width=output.width,
                height=output.height,
                kind=output.kind,
                duration_seconds=output.duration_seconds,
                consistency=consistency,
                details=dict(output.details),
            )
        )
    return produced


class EngineExecutor:
    """What every generating executor is built from: the media store, the reference library,
    the engine catalog and the consistency judge (the last two resolved lazily, per job)."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        library: ReferenceLibrary,
        engine_for: Callable[[str], Engine],
        judge: Callable[[], ConsistencyJudge],
    ) -> None:
        self._blobs = blobs
        self._library = library
        self._engine_for = engine_for
        self._judge = judge
