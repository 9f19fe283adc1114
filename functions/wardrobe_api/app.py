"""Wardrobe and generation API (wardrobe-generation spec). Lambda via Mangum; the same `app` runs
under uvicorn. The route groups live in their own modules; this one assembles them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from functions.wardrobe_api import avatar_routes, clothing_routes, generation_routes
from likeness.http.app import create_app
from likeness.observability import lambda_entrypoint, metrics
from likeness.settings import get_settings

app = create_app(
    title="Likeness wardrobe and generation",
    routers=[clothing_routes.router, generation_routes.router, avatar_routes.router],
    # room for the multipart envelope around a front and a back image
    max_body_bytes=2 * get_settings().max_upload_bytes + 256 * 1024,
)
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("WardrobeApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
