"""generate_verified: judging outputs, enforce re-rolls with new seeds, attempts on the result,
identity_not_preserved, and replaying the recorded steps of a parked job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from likeness.engines.base import EngineError, EngineImage, EngineOutput, EngineRequest, Operation
from likeness.jobs.engine_session import EngineSession, EngineWaiting
from likeness.jobs.generation import Verification, generate_verified, resolve_identity_check

IDENTITY = EngineImage(b"identity-bytes", "the avatar")


class ScriptedEngine:
    """Answers each call with the next list of faces ("same" or "other"), recording the seeds."""

    capabilities: Any = None

    def __init__(self, *rounds: Sequence[str]) -> None:
        self.rounds = list(rounds)
        self.seeds: list[Any] = []
        self.counts: list[int] = []

    def run(self, request: EngineRequest) -> list[EngineOutput]:
        self.seeds.append(request.seed)
        self.counts.append(request.count)
        faces = self.rounds.pop(0)
        return [
            EngineOutput(data=face.encode(), content_type="image/png", width=8, height=8, face_sources=(0,))
            for face in faces
        ]


class FakeJudge:
    """A verdict from the output's bytes: b"same" passes, anything else fails."""

    def __init__(self) -> None:
        self.references = 0

    def reference_embeddings(self, images: Sequence[EngineImage]) -> list[str]:
        self.references += 1
        return ["ref" for _ in images]

    def judge(self, output: bytes, references: Sequence[Any], *, mode: str) -> Any:
        passed = output == b"same"

        class Report:
            @staticmethod
            def to_dict() -> dict[str, Any]:
                return {"verdict": "passed" if passed else "failed", "score": 0.7 if passed else 0.1}

        return Report()


def run(engine: ScriptedEngine, check: str, count: int = 1, session: EngineSession | None = None) -> Any:
    judge = FakeJudge()
    produced = generate_verified(
        session=session or EngineSession(),
        engine=engine,  # type: ignore[arg-type]
        request=EngineRequest(operation=Operation.PORTRAIT, face_images=(IDENTITY,), count=count, seed="s"),
        judge=lambda: judge,  # type: ignore[arg-type,return-value]
        verification=Verification(check=check, references=(IDENTITY,), max_attempts=3),
    )
    return produced, judge


def test_enforce_regenerates_only_the_failed_outputs_with_new_seeds() -> None:
    engine = ScriptedEngine(["same", "other"], ["other"], ["same"])
    produced, judge = run(engine, "enforce", count=2)
    assert [p.data for p in produced] == [b"same", b"same"]
    assert engine.counts == [2, 1, 1] and len(set(engine.seeds)) == 3 and engine.seeds[0] == "s"
    attempts = [[a["verdict"] for a in p.details["identity_check"]["attempts"]] for p in produced]
    assert attempts == [["passed"], ["failed", "failed", "passed"]]
    assert judge.references == 1  # the identity is embedded once per run


def test_enforce_fails_the_job_when_an_output_never_passes() -> None:
    engine = ScriptedEngine(["other"], ["other"], ["other"])
    with pytest.raises(EngineError) as failed:
        run(engine, "enforce")
    assert failed.value.code == "identity_not_preserved"
    assert "1 of 1 outputs did not show the identity in 3 attempts" in failed.value.reason


def test_report_keeps_a_failed_output_with_its_verdict_and_off_judges_nothing() -> None:
    [kept], _ = run(ScriptedEngine(["other"]), "report")
    assert kept.consistency["verdict"] == "failed" and kept.details["identity_check"]["mode"] == "report"
    [unjudged], judge = run(ScriptedEngine(["other"]), "off")
    assert unjudged.consistency is None and "identity_check" not in unjudged.details
    assert judge.references == 0


def test_the_default_check_is_enforce_only_where_an_identity_is_given() -> None:
    assert resolve_identity_check(None, has_identity=True) == "enforce"
    assert resolve_identity_check(None, has_identity=False) == "report"
    assert resolve_identity_check("off", has_identity=True) == "off"


class QueuedEngine(ScriptedEngine):
    """Deferred: each submit completes on its second collect."""

    def __init__(self, *rounds: Sequence[str]) -> None:
        super().__init__(*rounds)
        self.collects: dict[str, int] = {}
        self.answers: dict[str, list[str]] = {}

    def submit(self, request: EngineRequest) -> dict[str, Any]:
        handle = f"r{len(self.answers)}"
        self.seeds.append(request.seed)
        self.answers[handle] = list(self.rounds.pop(0))
        return {"request_id": handle}

    def collect(self, handle: dict[str, Any], request: EngineRequest) -> list[EngineOutput] | None:
        seen = self.collects[handle["request_id"]] = self.collects.get(handle["request_id"], 0) + 1
        if seen < 2:
            return None
        return [
            EngineOutput(data=f.encode(), content_type="image/png", width=8, height=8, face_sources=(0,))
            for f in self.answers[handle["request_id"]]
        ]

    def cancel(self, handle: dict[str, Any]) -> None:  # pragma: no cover - not cancelled here
        pass


def test_a_parked_re_roll_resumes_from_the_recorded_steps() -> None:
    engine = QueuedEngine(["other"], ["same"])
    state: dict[str, Any] | None = None
    for _ in range(10):
        try:
            [produced], _ = run(engine, "enforce", session=EngineSession(state=state, poll_seconds=1))
            break
        except EngineWaiting as waiting:
            state = waiting.state
    else:  # pragma: no cover
        raise AssertionError("never finished")
    assert produced.data == b"same"
    assert [a["verdict"] for a in produced.details["identity_check"]["attempts"]] == ["failed", "passed"]
    # each request was submitted once; the failed first attempt was not fetched again after it was judged
    assert list(engine.answers) == ["r0", "r1"] and engine.collects == {"r0": 2, "r1": 2}
