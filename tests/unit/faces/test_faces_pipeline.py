"""The one-face rule on every fixture, and the process-wide pipeline."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from likeness.errors import FaceRejected
from likeness.faces.pipeline import FacePipeline, get_default_pipeline
from tests.helpers import ROOT
from tests.unit.faces.faces_data import FACES, SINGLE_PORTRAITS


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", SINGLE_PORTRAITS)
def test_single_portraits_are_accepted(name: str, pipeline, analyses) -> None:
    face = pipeline.require_one_face(analyses[name])
    assert face is analyses[name].faces[0]


def test_partial_face_is_rejected_as_cut_off(pipeline, analyses) -> None:
    with pytest.raises(FaceRejected) as exc:
        pipeline.require_one_face(analyses["obama_partial_face.jpg"])
    assert "cut off at the image edge" in exc.value.message
    assert exc.value.status_code == 422 and exc.value.error_code == "face_rejected"
    assert exc.value.to_detail()["reason"] == "face_cut_off"


@pytest.mark.parametrize(("name", "count"), [("two_people.jpg", 2), ("obama_and_biden.jpg", 3)])
def test_group_photos_are_rejected_with_the_count(name: str, count: int, pipeline, analyses) -> None:
    with pytest.raises(FaceRejected) as exc:
        pipeline.require_one_face(analyses[name])
    assert exc.value.message.startswith(f"{count} faces found; upload a photo with exactly one person")
    assert exc.value.extra == {"reason": "multiple_faces", "face_count": count}


def test_photo_without_a_face_is_rejected(pipeline) -> None:
    analysis = pipeline.analyze(_png(np.full((240, 320, 3), 200, dtype=np.uint8)))
    assert analysis.faces == () and analysis.quality is not None and analysis.quality.has("no_face")
    with pytest.raises(FaceRejected, match="No face found"):
        pipeline.require_one_face(analysis)


def test_tiny_face_is_rejected_as_too_small(pipeline, arrays) -> None:
    # obama.jpg shrunk to ~10% (face ~25 px) in the middle of a plain 400x400 canvas
    small = np.asarray(Image.fromarray(arrays["obama.jpg"]).resize((91, 114), Image.Resampling.LANCZOS))
    canvas = np.full((400, 400, 3), 230, dtype=np.uint8)
    canvas[143:257, 155:246] = small
    analysis = pipeline.analyze(_png(canvas))
    assert len(analysis.faces) == 1
    with pytest.raises(FaceRejected, match=r"Face too small \(\d+ px\); upload a closer"):
        pipeline.require_one_face(analysis)


def test_analysis_carries_decode_limits(pipeline) -> None:
    from likeness.errors import ImageRejected

    with pytest.raises(ImageRejected):
        pipeline.analyze((FACES / "obama_small.jpg").read_bytes(), min_side=500)


def test_embed_through_the_pipeline(pipeline, analyses) -> None:
    a = analyses["obama.jpg"]
    vec = pipeline.embed(a, a.faces[0])
    assert vec.shape == (128,) and vec.dtype == np.float32


def test_default_pipeline_is_a_singleton() -> None:
    first = get_default_pipeline()
    assert isinstance(first, FacePipeline) and get_default_pipeline() is first


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys; sys.path.insert(0, 'layers');"
        "import likeness.faces, likeness.faces.types;"
        "heavy = [m for m in ('numpy', 'cv2', 'onnx', 'onnxruntime', 'dlib') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
