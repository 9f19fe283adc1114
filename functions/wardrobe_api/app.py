"""Wardrobe and generation API (wardrobe-generation spec). Lambda via Mangum; the same `app` runs
under uvicorn. The route groups live in their own modules; this one assembles them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from functions.wardrobe_api import avatar_routes, clothing_routes, generation_routes, upload_routes
from likeness.http.app import create_app
from likeness.observability import lambda_entrypoint, metrics

app = create_app(
    title="Likeness wardrobe and generation",
    # bodies up to what API Gateway and Lambda carry (likeness.http.limits); bigger images come
    # as upload ids from POST /uploads (served here too)
    routers=[clothing_routes.router, generation_routes.router, avatar_routes.router, upload_routes.router],
)
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("WardrobeApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
