"""Shared fixtures for the face pipeline tests: the photos and one pipeline per session."""

from __future__ import annotations

import pytest

from tests.unit.faces.faces_data import FACE_COUNTS, PHOTOS, read_photo


@pytest.fixture(scope="session")
def pipeline():
    from likeness.faces.pipeline import FacePipeline

    p = FacePipeline()
    p.warm_up()
    return p


@pytest.fixture(scope="session")
def analyses(pipeline):
    """Every fixture photo analysed once per session."""
    return {name: pipeline.analyze(read_photo(name)) for name in PHOTOS}


@pytest.fixture(scope="session")
def arrays(analyses):
    return {name: a.pixels for name, a in analyses.items()}


@pytest.fixture(scope="session")
def embeddings(pipeline, analyses):
    """Embedding of the best face of each one-person photo."""
    return {name: pipeline.embed(a, a.faces[0]) for name, a in analyses.items() if FACE_COUNTS.get(name) == 1}
