"""One indexer per session (its embedding workers start once) and the fixture clip indexed once."""

from __future__ import annotations

import pytest

from likeness.media.index_types import KnownIdentity
from tests.helpers import FACES

CLIP = FACES / "short_hamilton_clip.mp4"
LIN = "lin"


@pytest.fixture(scope="session")
def indexer():
    from likeness.media.indexing import MediaIndexer

    indexer = MediaIndexer()
    indexer.warm_up()
    yield indexer
    indexer.close()


@pytest.fixture(scope="session")
def lin_known(indexer) -> KnownIdentity:
    vector = indexer.embed_profile((FACES / "lin-manuel-miranda.png").read_bytes())
    return KnownIdentity(identity_uuid=LIN, embeddings=(tuple(vector),))


@pytest.fixture(scope="session")
def clip_result(indexer, lin_known):
    return indexer.index_file(CLIP, kind="video", known=[lin_known])
