"""Hosted model providers: one adapter module per provider over one shared base.

``build_engine(slug)`` binds a catalog slug to its provider (as routed by the settings): the
adapter classes and their SDKs are imported only here, when a job runs on a hosted model.
"""

from __future__ import annotations

from likeness.engines.base import Engine
from likeness.errors import ModelUnavailable
from likeness.settings import Settings, get_settings


def build_engine(slug: str, settings: Settings | None = None) -> Engine:
    from likeness.engines.models import hosted_model, route_of, unavailable_reason
    from likeness.engines.providers.config import provider_config

    settings = settings or get_settings()
    model = hosted_model(slug)
    if model is None:
        raise ModelUnavailable(f"there is no hosted model {slug!r}", code="engine_unavailable")
    reason = unavailable_reason(model, settings)
    if reason is not None:
        raise ModelUnavailable(reason, code="engine_unavailable")
    route = route_of(model, settings)
    config = provider_config(route.provider, settings)
    if route.provider == "gemini":
        from likeness.engines.providers.gemini import GeminiImageEngine

        return GeminiImageEngine(model=model, route=route, config=config, settings=settings)
    if route.provider == "openai":
        from likeness.engines.providers.openai import OpenAIImageEngine

        return OpenAIImageEngine(model=model, route=route, config=config, settings=settings)
    from likeness.engines.providers.fal import FalEngine

    return FalEngine(model=model, route=route, config=config, settings=settings)
