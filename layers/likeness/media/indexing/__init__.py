"""Face indexing of media files (heavy: numpy, OpenCV and the face models; import it lazily).

``MediaIndexer().index_file(path, kind=..., known=[...])`` -> :class:`likeness.media.index_types.IndexResult`.
"""

from likeness.media.indexing.indexer import IndexerConfig, MediaIndexer

__all__ = ["IndexerConfig", "MediaIndexer"]
