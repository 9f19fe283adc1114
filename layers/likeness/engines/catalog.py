"""The engine catalog: which engines exist, what they can do, and how to build one.

Light to import (pydantic only): the API lists the catalog without loading numpy, OpenCV or any
model. Engines are registered as data - a slug, their capabilities and a factory - both given
as ``"module:attribute"`` paths that are only imported when first needed, so adding a GPU or
hosted engine is one more entry in ``_REGISTRY`` (or a ``register_engine`` call).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from likeness.engines.base import Engine, EngineCapabilities
from likeness.errors import ModelUnavailable, NotFound

__all__ = [
    "DEFAULT_ENGINE",
    "EngineEntry",
    "engine_catalog",
    "get_capabilities",
    "get_engine",
    "register_engine",
]

DEFAULT_ENGINE = "classical"


@dataclass(frozen=True)
class EngineEntry:
    """One registered engine. Each field is a value or a ``"module:attribute"`` path."""

    capabilities: EngineCapabilities | str
    factory: Callable[[], Engine] | str  # called with no arguments; the instance is cached


_REGISTRY: dict[str, EngineEntry] = {
    "classical": EngineEntry(
        capabilities="likeness.engines.classical.capabilities:CLASSICAL_CAPABILITIES",
        factory="likeness.engines.classical.engine:ClassicalEngine",
    ),
}

_lock = threading.Lock()
_capabilities: dict[str, EngineCapabilities] = {}
_engines: dict[str, Engine] = {}


def _resolve(path: str) -> Any:
    module, _, attribute = path.partition(":")
    if not module or not attribute:
        raise ValueError(f"expected 'module:attribute', got {path!r}")
    return getattr(importlib.import_module(module), attribute)


def _entry(slug: str) -> EngineEntry:
    entry = _REGISTRY.get(slug)
    if entry is None:
        known = ", ".join(sorted(_REGISTRY))
        raise NotFound(
            f"There is no engine {slug!r}; the engines are: {known}.",
            code="engine_not_found",
            fix="List the engines and use one of their slugs.",
        )
    return entry


def register_engine(
    slug: str,
    *,
    capabilities: EngineCapabilities | str,
    factory: Callable[[], Engine] | str,
    replace: bool = False,
) -> None:
    """Add an engine to the catalog (``replace=True`` to swap one, e.g. in tests)."""
    with _lock:
        if slug in _REGISTRY and not replace:
            raise ValueError(f"engine {slug!r} is already registered")
        _REGISTRY[slug] = EngineEntry(capabilities=capabilities, factory=factory)
        _capabilities.pop(slug, None)
        _engines.pop(slug, None)


def get_capabilities(slug: str) -> EngineCapabilities:
    """What the engine ``slug`` can do; NotFound (``engine_not_found``) for an unknown slug."""
    entry = _entry(slug)
    cached = _capabilities.get(slug)
    if cached is not None:
        return cached
    value = _resolve(entry.capabilities) if isinstance(entry.capabilities, str) else entry.capabilities
    if not isinstance(value, EngineCapabilities):
        raise TypeError(
            f"the capabilities of engine {slug!r} are a {type(value).__name__}, not EngineCapabilities"
        )
    if value.slug != slug:
        raise ValueError(f"engine registered as {slug!r} declares the slug {value.slug!r}")
    _capabilities[slug] = value
    return value


def engine_catalog() -> list[EngineCapabilities]:
    """Every registered engine's capabilities, the default engine first."""
    slugs = sorted(_REGISTRY, key=lambda s: (s != DEFAULT_ENGINE, s))
    return [get_capabilities(slug) for slug in slugs]


def get_engine(slug: str = DEFAULT_ENGINE) -> Engine:
    """The engine ``slug``, built on first use and shared afterwards (engines are thread-safe).

    NotFound for an unknown slug; ModelUnavailable when the catalog marks it unavailable.
    """
    capabilities = get_capabilities(slug)
    if not capabilities.available:
        raise ModelUnavailable(
            f"The engine {slug!r} is not available: {capabilities.unavailable_reason or 'no reason given'}.",
            code="engine_unavailable",
        )
    engine = _engines.get(slug)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(slug)
        if engine is None:
            entry = _entry(slug)
            factory = _resolve(entry.factory) if isinstance(entry.factory, str) else entry.factory
            engine = factory()
            _engines[slug] = engine
    return engine
