"""The consistency verdict's edges, each judged just either side: same_person passes up to 0.55
and fails past 0.65; new_person is loosely related past 0.65, unrelated past 0.75, and a near
copy under 0.2. Moving any edge by 0.01 fails a case here."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.engines.consistency import Verdict
from tests.helpers import face_bytes

EPS = 0.005


def _reference_at(embeddings: dict[str, object], distance: float) -> np.ndarray:
    """A reference exactly ``distance`` away from obama.jpg's own embedding."""
    direction = np.zeros(128)
    direction[0] = 1.0
    return np.asarray(embeddings["obama.jpg"], dtype=np.float64) + distance * direction


@pytest.mark.parametrize(
    ("distance", "verdict"),
    [
        (0.55 - EPS, Verdict.PASSED),
        (0.55 + EPS, Verdict.MANUAL_REQUIRED),
        (0.65 - EPS, Verdict.MANUAL_REQUIRED),
        (0.65 + EPS, Verdict.FAILED),
    ],
)
def test_same_person_band_edges(judge, embeddings, distance: float, verdict: Verdict) -> None:
    report = judge.judge(face_bytes("obama.jpg"), [_reference_at(embeddings, distance)], mode="same_person")
    assert report.distance == pytest.approx(distance, abs=1e-4)
    assert report.verdict is verdict, report.reason


@pytest.mark.parametrize(
    ("distance", "verdict", "near_copy"),
    [
        (0.2 - EPS, Verdict.MANUAL_REQUIRED, True),
        (0.2 + EPS, Verdict.PASSED, False),
        (0.65 - EPS, Verdict.PASSED, False),
        (0.65 + EPS, Verdict.MANUAL_REQUIRED, False),
        (0.75 - EPS, Verdict.MANUAL_REQUIRED, False),
        (0.75 + EPS, Verdict.FAILED, False),
    ],
)
def test_new_person_band_edges(judge, embeddings, distance: float, verdict: Verdict, near_copy: bool) -> None:
    report = judge.judge(face_bytes("obama.jpg"), [_reference_at(embeddings, distance)], mode="new_person")
    assert report.distance == pytest.approx(distance, abs=1e-4)
    assert report.near_copy is near_copy
    assert report.verdict is verdict, report.reason
