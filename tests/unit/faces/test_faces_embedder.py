"""dlib ResNet embeddings: same person close, different people far, on the fixture photos."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from likeness.faces.compare import SAME_PERSON_THRESHOLD, face_distance, is_same_person
from likeness.faces.embedder import DlibResNetEmbedder, FaceEmbedder
from tests.unit.faces.faces_data import DIFFERENT_PEOPLE, SAME_PERSON


def test_embeddings_are_128_float32(embeddings) -> None:
    for vec in embeddings.values():
        assert vec.shape == (128,) and vec.dtype == np.float32 and np.isfinite(vec).all()


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(SAME_PERSON, 2)))
def test_same_person_is_close(a: str, b: str, embeddings) -> None:
    d = face_distance(embeddings[a], embeddings[b])
    assert d <= 0.52, f"{a} vs {b}: {d:.3f}"
    assert is_same_person(embeddings[a], embeddings[b])


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(DIFFERENT_PEOPLE, 2)))
def test_different_people_are_far(a: str, b: str, embeddings) -> None:
    d = face_distance(embeddings[a], embeddings[b])
    assert d >= 0.65, f"{a} vs {b}: {d:.3f}"
    assert not is_same_person(embeddings[a], embeddings[b])


def test_embedding_is_deterministic_and_jitter_0_equals_1(pipeline, analyses, arrays, embeddings) -> None:
    face = analyses["obama.jpg"].faces[0]
    again = pipeline.embedder.embed(arrays["obama.jpg"], face)
    assert np.array_equal(again, embeddings["obama.jpg"])
    one = DlibResNetEmbedder(
        shape_predictor=pipeline.embedder._shape_predictor,
        face_encoder=pipeline.embedder._face_encoder,
        num_jitters=1,
    )
    assert face_distance(one.embed(arrays["obama.jpg"], face), again) < 1e-5


def test_embedder_protocol_and_checks(pipeline, analyses) -> None:
    assert isinstance(pipeline.embedder, FaceEmbedder)
    assert pipeline.embedder.dimension == 128
    with pytest.raises(ValueError):
        pipeline.embedder.embed(np.zeros((10, 10), dtype=np.uint8), analyses["obama.jpg"].faces[0])


def test_distance_helpers() -> None:
    a = np.zeros(128, dtype=np.float32)
    b = np.zeros(128, dtype=np.float32)
    b[0] = 0.55
    assert face_distance(a, b) == pytest.approx(0.55)
    assert is_same_person(a, b) and not is_same_person(a, b, threshold=0.5)
    assert SAME_PERSON_THRESHOLD == 0.6
    with pytest.raises(ValueError, match="dimension"):
        face_distance(a, np.zeros(64))
