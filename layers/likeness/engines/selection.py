"""Refusing, before anything is charged, a request no configured engine can do."""

from __future__ import annotations

from likeness.engines.base import EngineCapabilities, Operation
from likeness.errors import LikenessError, Unprocessable


def require_engine(slug: str, operation: Operation, *, faces: int = 0) -> EngineCapabilities:
    """The engine, if it exists here, is available and can do ``operation`` with ``faces`` faces."""
    from likeness.engines.catalog import get_capabilities

    try:
        capabilities = get_capabilities(slug)
    except LikenessError as exc:
        raise Unprocessable(
            f"there is no engine {slug!r}", code="unknown_engine", fix="GET /api/v1/engines lists them."
        ) from exc
    if not capabilities.available:
        raise Unprocessable(
            f"engine {slug!r} is not available in this deployment: {capabilities.unavailable_reason}",
            code="engine_unavailable",
        )
    if operation not in capabilities.operations:
        raise Unprocessable(f"engine {slug!r} cannot do {operation.value}", code="engine_cannot_do")
    if faces > capabilities.max_reference_images:
        raise Unprocessable(
            f"engine {slug!r} takes at most {capabilities.max_reference_images} reference images",
            code="too_many_reference_images",
        )
    return capabilities
