"""Media identities API (media-identities spec): /api/v1/files, /api/v1/identities and
/api/v1/identity/... Lambda via Mangum; the same `app` runs under uvicorn.

Light to import: the face models load on the first profile image, never at import; indexing
itself runs in the index job (functions/media_indexer, gpu_jobs/media_index).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from functions.media_api import file_routes, identity_routes
from likeness.http.app import create_app
from likeness.observability import lambda_entrypoint, metrics

app = create_app(
    title="Likeness media identities",
    # bodies up to what API Gateway and Lambda carry (likeness.http.limits); bigger files go
    # through POST /api/v1/files/uploads, bigger profile images through POST /uploads
    routers=[file_routes.router, identity_routes.router],
)
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("MediaApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
