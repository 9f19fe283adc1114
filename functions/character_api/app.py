"""Characters API (character-visual-identity spec). Lambda via Mangum; the same `app` runs under
uvicorn. The route groups live in their own modules; this one assembles them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from functions.character_api import character_routes, image_routes
from likeness.http.app import create_app
from likeness.observability import lambda_entrypoint, metrics

app = create_app(
    title="Likeness characters",
    # bodies up to what API Gateway and Lambda carry (likeness.http.limits); an image over the
    # spec's 8 MB limit can only come as an upload_id, and is then the spec's 422
    routers=[character_routes.router, image_routes.router],
)
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("CharacterApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
