"""The 68-point landmark wrapper: lazy, injectable, loud when its model is missing."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.engines.classical.landmarks import LandmarkPredictor, get_default_predictor
from likeness.errors import ModelUnavailable
from tests.helpers import face_bytes


@pytest.fixture(scope="module")
def obama():
    from likeness.faces.pipeline import get_default_pipeline

    analysis = get_default_pipeline().analyze(face_bytes("obama.jpg"))
    return analysis.pixels, analysis.faces[0]


def test_missing_model_file_raises_model_unavailable(tmp_path, obama) -> None:
    predictor = LandmarkPredictor(model_path=tmp_path / "missing.dat")
    with pytest.raises(ModelUnavailable) as err:
        predictor.predict(*obama)
    assert "missing.dat" in err.value.message


def test_68_points_land_on_the_detected_face(obama) -> None:
    pixels, face = obama
    points = get_default_predictor().predict(pixels, face)
    assert points.shape == (68, 2) and points.dtype == np.float32
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    eye_distance = float(np.linalg.norm(right_eye - left_eye))
    # the detector's own eye points agree to within a fifth of the eye distance
    assert np.linalg.norm(left_eye - face.landmarks[0]) < 0.2 * eye_distance
    assert np.linalg.norm(right_eye - face.landmarks[1]) < 0.2 * eye_distance
    x1, y1, x2, y2 = face.box
    assert (points[:, 0] > x1 - 10).all() and (points[:, 0] < x2 + 10).all()
    assert (points[:, 1] > y1).all() and (points[:, 1] < y2 + 10).all()


def test_default_predictor_is_shared() -> None:
    assert get_default_predictor() is get_default_predictor()
