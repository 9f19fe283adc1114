"""Engine outputs -> stored results, each person judged against the identity it must show.

Shared by every executor that generates people. The engine makes the pixels; the judge embeds
every output that shows a person and compares it with the identity (``Verification``):

- ``identity_check="off"``: nothing is judged;
- ``"report"``: every output is judged and its verdict stored with it, pass or fail;
- ``"enforce"`` (the default where an identity is given): an output whose verdict is ``failed``
  is generated again with a new seed, up to ``max_attempts`` generations per output, charging
  the requested outputs once; when an output never passes the job fails with
  ``identity_not_preserved`` (and is refunded). Every attempt's verdict is stored on the result.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from likeness.aws.s3 import BlobStore
from likeness.engines.base import Engine, EngineError, EngineImage, EngineOutput, EngineRequest
from likeness.jobs.engine_session import EngineSession
from likeness.jobs.runner import ProducedResult
from likeness.library import ReferenceLibrary
from likeness.settings import Settings

if TYPE_CHECKING:
    import numpy as np

    from likeness.engines.consistency import ConsistencyJudge

IdentityCheck = Literal["off", "report", "enforce"]
IDENTITY_CHECKS: tuple[str, ...] = ("off", "report", "enforce")


def middle_frame(video: bytes) -> np.ndarray:
    """The middle frame of an MP4 as RGB pixels: what a video's consistency is judged on."""
    import av

    with av.open(io.BytesIO(video), mode="r") as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        raise EngineError("the engine produced a video without frames")
    return frames[len(frames) // 2]


def resolve_identity_check(requested: str | None, *, has_identity: bool) -> str:
    """What a request gets: its own choice, else ``enforce`` with an identity and ``report`` without."""
    if requested:
        return requested
    return "enforce" if has_identity else "report"


@dataclass(frozen=True)
class Verification:
    """How outputs are judged. ``references`` are the images of who the outputs must show; with
    none, each output is judged against the request's face images it names (``face_sources``).
    ``embeddings`` replace ``references`` when the identity's embedding is already known."""

    check: str = "report"
    mode: str = "same_person"  # or new_person (a blend must not copy any reference)
    references: tuple[EngineImage, ...] | None = None
    embeddings: tuple[Any, ...] | None = None
    max_attempts: int = 3
    # the references may show no (or several) faces: then there is nobody to judge against
    optional: bool = False


def _attempt_seed(seed: int | str | None, attempt: int) -> int | str | None:
    if attempt == 0:
        return seed
    return f"{seed if seed is not None else 'seed'}/attempt-{attempt + 1}"


class _Judging:
    """Reference embeddings computed once per run, then each output's verdict."""

    def __init__(self, judge: ConsistencyJudge, request: EngineRequest, verification: Verification) -> None:
        self._judge = judge
        self._request = request
        self._verification = verification
        self._embeddings: list[Any] | None = None

    def prepare(self) -> None:
        """Embed the references now (run beside the provider call, so its answer waits on less)."""
        v = self._verification
        if v.check == "off" or v.embeddings or self._embeddings is not None:
            return
        images = v.references or self._request.face_images
        if not images:
            return
        try:
            self._embeddings = self._judge.reference_embeddings(images)
        except EngineError:
            if v.references and v.optional:
                self._embeddings = []  # no single clear face: nobody to judge against
            # otherwise the verdict raises it again, where it belongs

    def applies(self, output: EngineOutput) -> bool:
        v = self._verification
        if v.check == "off" or not output.shows_person:
            return False
        if v.embeddings:
            return True
        if v.references:
            if v.optional and self._embeddings is None:
                try:
                    self._embeddings = self._judge.reference_embeddings(v.references)
                except EngineError:
                    self._embeddings = []  # no single clear face: nobody to judge against
            return self._embeddings != []
        return bool(output.face_sources)

    def verdict(self, output: EngineOutput) -> dict[str, Any]:
        v = self._verification
        if v.embeddings:
            references = list(v.embeddings)
        elif v.references:
            if self._embeddings is None:
                self._embeddings = self._judge.reference_embeddings(v.references)
            references = self._embeddings
        else:
            if self._embeddings is None:
                self._embeddings = self._judge.reference_embeddings(self._request.face_images)
            references = [self._embeddings[i] for i in output.face_sources]
        subject: bytes | np.ndarray = output.data if output.kind == "image" else middle_frame(output.data)
        return self._judge.judge(subject, references, mode=v.mode).to_dict()


def generate_verified(
    *,
    session: EngineSession,
    engine: Engine,
    request: EngineRequest,
    judge: Callable[[], ConsistencyJudge],
    verification: Verification,
    step: str = "generate",
) -> list[ProducedResult]:
    """Run the engine, judge each output, and under ``enforce`` generate failed outputs again."""
    judging = _Judging(judge(), request, verification) if verification.check != "off" else None
    # the references' embeddings do not depend on the outputs: compute them while the engine works
    preparing = _background(judging.prepare) if judging is not None else None
    wanted = max(1, request.count)
    slots: list[dict[str, Any]] = []  # per output: the accepted output and its attempts
    open_slots: list[int] = []
    for attempt in range(max(1, verification.max_attempts)):
        asked = wanted if attempt == 0 else len(open_slots)
        seed = _attempt_seed(request.seed, attempt)
        name = f"{step}/{attempt}"
        recorded = session.recorded(name)
        if recorded is not None and not any(recorded["accepted"]):
            outputs: list[EngineOutput | None] = [None] * len(recorded["verdicts"])
        else:
            this = dataclasses.replace(request, count=asked, seed=seed)
            outputs = list(session.run(engine, this, step=name))
            if not outputs:
                raise EngineError("the engine produced no output for this request")
        if attempt == 0:
            slots = [{"output": None, "attempts": []} for _ in outputs[:wanted]]
            open_slots = list(range(len(slots)))
        verdicts: list[dict[str, Any] | None] = []
        accepted: list[bool] = []
        for slot, output in zip(open_slots, outputs, strict=False):
            if recorded is not None:
                verdict, ok = recorded["verdicts"][len(verdicts)], recorded["accepted"][len(verdicts)]
            else:
                assert output is not None
                if preparing is not None:
                    preparing.result()
                    preparing = None
                verdict = judging.verdict(output) if judging is not None and judging.applies(output) else None
                ok = verification.check != "enforce" or verdict is None or verdict["verdict"] != "failed"
            verdicts.append(verdict)
            accepted.append(ok)
            slots[slot]["attempts"].append(
                {
                    "attempt": attempt + 1,
                    "seed": seed,
                    "verdict": verdict["verdict"] if verdict else None,
                    "score": verdict["score"] if verdict else None,
                }
            )
            if ok:
                assert output is not None
                slots[slot]["output"] = output
                slots[slot]["consistency"] = verdict
        session.record(name, {"verdicts": verdicts, "accepted": accepted})
        open_slots = [s for s in open_slots if slots[s]["output"] is None]
        if not open_slots:
            break
    if open_slots:
        best = max(
            (a["score"] or 0.0 for s in open_slots for a in slots[s]["attempts"]),
            default=0.0,
        )
        raise EngineError(
            f"{len(open_slots)} of {len(slots)} outputs did not show the identity in "
            f"{verification.max_attempts} attempts each (best score {best:.2f}; the threshold is 0.40); "
            "nothing was delivered and the job was refunded",
            code="identity_not_preserved",
        )
    produced = []
    for entry in slots:
        output = entry["output"]
        assert isinstance(output, EngineOutput)
        details = dict(output.details)
        if verification.check != "off":
            details["identity_check"] = {"mode": verification.check, "attempts": entry["attempts"]}
        produced.append(
            ProducedResult(
                data=output.data,
                content_type=output.content_type,
                width=output.width,
                height=output.height,
                kind=output.kind,
                duration_seconds=output.duration_seconds,
                consistency=entry.get("consistency"),
                details=details,
            )
        )
    return produced


def _background(work: Callable[[], None]) -> Future[None]:
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge-references")
    future = executor.submit(work)
    executor.shutdown(wait=False)
    return future


def generate_and_judge(
    *, engine: Engine, request: EngineRequest, judge: ConsistencyJudge, mode: str
) -> list[ProducedResult]:
    """One run, every person-showing output judged and reported (no re-rolls, nothing parked)."""
    return generate_verified(
        session=EngineSession(),
        engine=engine,
        request=request,
        judge=lambda: judge,
        verification=Verification(check="report", mode=mode, max_attempts=1),
    )


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
        settings: Settings | None = None,
    ) -> None:
        self._blobs = blobs
        self._library = library
        self._engine_for = engine_for
        self._judge = judge
        self._settings = settings or Settings()

    def session(self, job: dict[str, Any]) -> EngineSession:
        return EngineSession.for_job(job, poll_seconds=self._settings.provider_poll_seconds)

    def verification(
        self, job: dict[str, Any], *, default_check: str = "report", **kwargs: Any
    ) -> Verification:
        """How the outputs are judged: the job's ``identity_check`` (set at submit) or ``default_check``."""
        check = str((job.get("inputs") or {}).get("identity_check") or default_check)
        return Verification(check=check, max_attempts=self._settings.identity_max_attempts, **kwargs)

    @staticmethod
    def deadline(job: dict[str, Any]) -> float | None:
        from datetime import datetime

        value = job.get("deadline_at")
        if not value:
            return None
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
