"""The consistency verdict on real photos: passes, fails, manual bands and near copies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from likeness.engines.base import EngineError, EngineImage
from likeness.engines.consistency import NEAR_COPY_DISTANCE, Verdict
from likeness.faces.compare import SAME_PERSON_THRESHOLD
from tests.helpers import face_bytes, png_bytes


def test_same_person_passes_and_another_person_fails(judge, embeddings) -> None:
    same = judge.judge(face_bytes("obama2.jpg"), [embeddings["obama.jpg"]], mode="same_person")
    other = judge.judge(face_bytes("biden.jpg"), [embeddings["obama.jpg"]], mode="same_person")
    assert same.verdict is Verdict.PASSED and same.faces_found == 1 and not same.near_copy
    assert other.verdict is Verdict.FAILED
    assert same.score > same.threshold > other.score
    assert same.threshold == pytest.approx(1 - SAME_PERSON_THRESHOLD)


def test_report_is_json_ready_with_rounded_numbers(judge, embeddings) -> None:
    report = judge.judge(face_bytes("obama2.jpg"), [embeddings["obama.jpg"]], mode="same_person").to_dict()
    again = json.loads(json.dumps(report))
    assert again["verdict"] == "passed" and again["mode"] == "same_person" and again["compared_with"] == 1
    assert again["threshold"] == 0.4 and isinstance(again["reason"], str) and again["reason"]
    assert again["distance"] == round(again["distance"], 4) and 0 <= again["score"] <= 1


def test_no_face_fails(judge, embeddings) -> None:
    report = judge.judge(png_bytes(200, 200), [embeddings["obama.jpg"]], mode="same_person")
    assert report.verdict is Verdict.FAILED and report.faces_found == 0
    assert report.distance is None and report.score == 0


def test_several_faces_need_a_person(judge, embeddings) -> None:
    report = judge.judge(face_bytes("two_people.jpg"), [embeddings["obama.jpg"]], mode="same_person")
    assert report.verdict is Verdict.MANUAL_REQUIRED and report.faces_found == 2


@pytest.mark.parametrize(
    "offset, verdict", [(0.5, Verdict.PASSED), (0.6, Verdict.MANUAL_REQUIRED), (0.7, Verdict.FAILED)]
)
def test_band_around_the_threshold_needs_a_person(judge, embeddings, offset, verdict) -> None:
    # a reference exactly ``offset`` away from obama.jpg's own embedding
    direction = np.zeros(128)
    direction[0] = 1.0
    reference = np.asarray(embeddings["obama.jpg"], dtype=np.float64) + offset * direction
    report = judge.judge(face_bytes("obama.jpg"), [reference], mode="same_person")
    assert report.distance == pytest.approx(offset, abs=1e-4)
    assert report.verdict is verdict, report.reason


def test_new_person_that_copies_a_reference_needs_a_person(judge, embeddings) -> None:
    refs = [embeddings["obama.jpg"], embeddings["biden.jpg"]]
    report = judge.judge(face_bytes("obama.jpg"), refs, mode="new_person")
    assert report.near_copy and report.distances[0] < NEAR_COPY_DISTANCE
    assert report.verdict is Verdict.MANUAL_REQUIRED and "reference 1" in report.reason


def test_new_person_unrelated_to_its_references_fails(judge, embeddings) -> None:
    refs = [embeddings["obama.jpg"], embeddings["biden.jpg"]]
    report = judge.judge(face_bytes("rose_leslie_img1.jpg"), refs, mode="new_person")
    assert report.verdict is Verdict.FAILED and not report.near_copy


def test_pixel_correlation_is_reported_with_reference_crops(judge, embeddings) -> None:
    crops = judge.reference_crops([EngineImage(face_bytes("obama.jpg"), "ref")])
    report = judge.judge(
        face_bytes("obama.jpg"), [embeddings["obama.jpg"]], mode="same_person", reference_crops=crops
    )
    assert report.correlation is not None and report.correlation > 0.99 and report.near_copy


def test_pixels_with_alpha_are_judged_over_white(judge, embeddings, decode) -> None:
    rgb = decode(face_bytes("obama.jpg"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert judge.judge(rgba, [embeddings["obama.jpg"]], mode="same_person").verdict is Verdict.PASSED


def test_references_must_show_exactly_one_face(judge) -> None:
    with pytest.raises(EngineError) as err:
        judge.reference_embeddings([EngineImage(face_bytes("two_people.jpg"), "identity idn_42 photo")])
    assert err.value.code == "multiple_faces" and "identity idn_42 photo" in err.value.reason
    with pytest.raises(EngineError) as err:
        judge.reference_embeddings([EngineImage(png_bytes(100, 100), "reference image 2")])
    assert err.value.code == "no_face" and "reference image 2" in err.value.reason


def test_unknown_mode_is_a_programming_error(judge, embeddings) -> None:
    with pytest.raises(ValueError):
        judge.judge(face_bytes("obama.jpg"), [embeddings["obama.jpg"]], mode="similar")
