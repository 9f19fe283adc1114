"""assess_quality on the fixture photos and on synthetic degradations of obama.jpg."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from likeness.faces.quality import assess_quality
from likeness.faces.types import DetectedFace
from tests.unit.faces.faces_data import CLEAN_PORTRAITS


@pytest.fixture(scope="module")
def obama(arrays) -> np.ndarray:
    return arrays["obama.jpg"]


def _assess(pipeline, image: np.ndarray):
    return assess_quality(image, pipeline.detector.detect(image))


@pytest.mark.parametrize("name", CLEAN_PORTRAITS)
def test_clean_portraits_score_well(name: str, analyses) -> None:
    q = analyses[name].quality
    assert q is not None
    assert q.score >= 0.6, q.to_dict()
    assert not q.has("blurred") and not q.has("too_dark") and not q.has("too_bright"), q.to_dict()
    assert q.problems == (), q.to_dict()  # these are the reference "good" photos


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("obama_partial_face.jpg", "face_cut_off"),
        ("two_people.jpg", "multiple_faces"),
        ("obama_and_biden.jpg", "multiple_faces"),
        ("obama-240p.jpg", "face_too_small"),  # 55 px: accepted, but worth a warning
    ],
)
def test_fixture_problems_are_named(name: str, code: str, analyses) -> None:
    q = analyses[name].quality
    assert q is not None and q.has(code) and q.score < 1.0


def test_group_photo_message_counts_faces(analyses) -> None:
    q = analyses["obama_and_biden.jpg"].quality
    assert q is not None
    assert [p.message for p in q.problems if p.code == "multiple_faces"][0].startswith("3 faces were found")
    assert q.measurements["face_count"] == 3


def test_heavy_blur_is_flagged(pipeline, obama) -> None:
    q = _assess(pipeline, cv2.GaussianBlur(obama, (0, 0), 8))
    assert q.codes == ("blurred",) and q.score < 0.6
    mild = _assess(pipeline, cv2.GaussianBlur(obama, (0, 0), 4))
    assert mild.has("blurred") and mild.score > q.score


def test_darkened_copy_is_too_dark_not_blurred(pipeline, obama) -> None:
    q = _assess(pipeline, (obama.astype(np.float32) * 0.25).astype(np.uint8))
    assert q.codes == ("too_dark",)
    assert q.measurements["luminance"] < 60


def test_brightened_copy_is_too_bright(pipeline, obama) -> None:
    q = _assess(pipeline, np.clip(obama.astype(np.float32) * 1.8, 0, 255).astype(np.uint8))
    assert q.has("too_bright") and not q.has("too_dark")


def test_strong_roll_is_flagged(pipeline, obama) -> None:
    h, w = obama.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 50, 1.0)
    q = _assess(pipeline, cv2.warpAffine(obama, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE))
    assert q.has("strong_pose") and abs(q.measurements["roll_degrees"]) > 20


def test_turned_head_is_flagged_from_landmarks(analyses, obama) -> None:
    face = analyses["obama.jpg"].faces[0]
    (lex, ley), (rex, rey), (nx, ny), *mouth = face.landmarks
    turned = DetectedFace(
        box=face.box,
        score=face.score,
        landmarks=((lex, ley), (rex, rey), (nx + 0.5 * (rex - lex), ny), *mouth),  # nose past the eye
    )
    q = assess_quality(obama, [turned])
    assert q.has("strong_pose") and q.measurements["yaw_ratio"] > 0.35


def test_small_face_is_flagged(pipeline, obama) -> None:
    small = cv2.resize(obama, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    q = _assess(pipeline, small)
    assert q.has("face_too_small") and q.measurements["face_short_side_px"] < 80


def test_no_face_scores_zero(obama) -> None:
    q = assess_quality(obama, [])
    assert q.score == 0.0 and q.codes == ("no_face",)


def test_report_is_json_serialisable(analyses) -> None:
    q = analyses["obama_partial_face.jpg"].quality
    assert q is not None
    payload = json.loads(json.dumps(q.to_dict()))
    assert payload["problems"][0]["code"] == "face_cut_off"
    assert {"luminance", "sharpness", "face_short_side_px", "yaw_ratio", "roll_degrees"} <= set(
        payload["measurements"]
    )
