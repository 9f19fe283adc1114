"""The engine catalog: which engines exist, what they can do, and how to build one.

Light to import (pydantic only): the API lists the catalog without loading numpy, OpenCV or any
model. Engines are registered as data - a slug, their capabilities and a factory - given as
values, callables or ``"module:attribute"`` paths that are only imported when first needed.
Our own engines (``classical``) are registered here; every hosted model of
``likeness.engines.models`` is registered too, its capabilities (availability included) read
from the settings each time, so the catalog always says whether its provider is configured.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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
    """One registered engine. ``capabilities`` is a value, a ``"module:attribute"`` path (both
    cached) or a callable asked each time (capabilities that depend on settings); ``factory``
    is called with no arguments, and its instance is cached when ``shared``."""

    capabilities: EngineCapabilities | str | Callable[[], EngineCapabilities]
    factory: Callable[[], Engine] | str
    shared: bool = True


def _hosted_capabilities(slug: str) -> EngineCapabilities:
    from likeness.engines.models import hosted_capabilities, hosted_model

    model = hosted_model(slug)
    assert model is not None
    return hosted_capabilities(model)


def _hosted_engine(slug: str) -> Engine:
    from likeness.engines.providers import build_engine

    return build_engine(slug)


def _hosted_entries() -> dict[str, EngineEntry]:
    from likeness.engines.models import HOSTED_MODELS

    # built per use: an engine is a thin binding of one model to its provider's pooled client
    return {
        m.slug: EngineEntry(
            capabilities=partial(_hosted_capabilities, m.slug),
            factory=partial(_hosted_engine, m.slug),
            shared=False,
        )
        for m in HOSTED_MODELS
    }


_REGISTRY: dict[str, EngineEntry] = {
    "classical": EngineEntry(
        capabilities="likeness.engines.classical.capabilities:CLASSICAL_CAPABILITIES",
        factory="likeness.engines.classical.engine:ClassicalEngine",
    ),
    **_hosted_entries(),
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
    capabilities: EngineCapabilities | str | Callable[[], EngineCapabilities],
    factory: Callable[[], Engine] | str,
    replace: bool = False,
    shared: bool = True,
) -> None:
    """Add an engine to the catalog (``replace=True`` to swap one, e.g. in tests)."""
    with _lock:
        if slug in _REGISTRY and not replace:
            raise ValueError(f"engine {slug!r} is already registered")
        _REGISTRY[slug] = EngineEntry(capabilities=capabilities, factory=factory, shared=shared)
        _capabilities.pop(slug, None)
        _engines.pop(slug, None)


def get_capabilities(slug: str) -> EngineCapabilities:
    """What the engine ``slug`` can do; NotFound (``engine_not_found``) for an unknown slug."""
    entry = _entry(slug)
    cached = _capabilities.get(slug)
    if cached is not None:
        return cached
    dynamic = callable(entry.capabilities) and not isinstance(entry.capabilities, EngineCapabilities)
    if isinstance(entry.capabilities, str):
        value = _resolve(entry.capabilities)
    elif dynamic:
        value = entry.capabilities()  # type: ignore[operator]
    else:
        value = entry.capabilities
    if not isinstance(value, EngineCapabilities):
        raise TypeError(
            f"the capabilities of engine {slug!r} are a {type(value).__name__}, not EngineCapabilities"
        )
    if value.slug != slug:
        raise ValueError(f"engine registered as {slug!r} declares the slug {value.slug!r}")
    if not dynamic:
        _capabilities[slug] = value
    return value


def engine_catalog() -> list[EngineCapabilities]:
    """Every registered engine's capabilities, the default engine first."""
    order = list(_REGISTRY)
    slugs = sorted(order, key=lambda s: (s != DEFAULT_ENGINE, order.index(s)))
    return [get_capabilities(slug) for slug in slugs]


def default_model() -> str:
    """The model of any request that names none (``LIKENESS_DEFAULT_IMAGE_MODEL``)."""
    from likeness.settings import get_settings

    return get_settings().default_image_model


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
    entry = _entry(slug)
    if not entry.shared:
        return _factory(entry)()
    engine = _engines.get(slug)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(slug)
        if engine is None:
            engine = _factory(entry)()
            _engines[slug] = engine
    return engine


def _factory(entry: EngineEntry) -> Callable[[], Engine]:
    factory: Callable[[], Engine] = (
        _resolve(entry.factory) if isinstance(entry.factory, str) else entry.factory
    )
    return factory
