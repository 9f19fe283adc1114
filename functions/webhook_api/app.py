"""Webhooks API (/webhooks): saved endpoints, the delivery log, redelivery, events, signing secret.

Lambda via Mangum; the same `app` runs under uvicorn.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import APIRouter, Depends, Query, Response, status
from mangum import Mangum

from likeness.http.app import create_app
from likeness.http.auth import CurrentCaller
from likeness.observability import lambda_entrypoint, metrics
from likeness.webhooks.models import (
    DeliveryDetail,
    DeliveryPage,
    DeliveryPublic,
    EndpointCreate,
    EndpointList,
    EndpointPublic,
    EndpointUpdate,
    EndpointWithSecret,
    EventList,
    SigningSecretPublic,
)
from likeness.webhooks.service import WebhookService
from likeness.wiring import webhook_service


def _service() -> WebhookService:
    return webhook_service()


Webhooks = Annotated[WebhookService, Depends(_service)]
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


# ---------------------------------------------------------------- endpoints


@router.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointWithSecret)
def create_endpoint(
    body: EndpointCreate, response: Response, caller: CurrentCaller, webhooks: Webhooks
) -> EndpointWithSecret:
    created = webhooks.create_endpoint(caller=caller, create=body)
    response.headers["Location"] = f"/webhooks/endpoints/{created.endpoint_id}"
    metrics.add_metric(name="WebhookEndpointsCreated", unit=MetricUnit.Count, value=1)
    return created


@router.get("/endpoints", response_model=EndpointList)
def list_endpoints(caller: CurrentCaller, webhooks: Webhooks) -> EndpointList:
    return webhooks.list_endpoints(caller=caller)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointPublic)
def get_endpoint(endpoint_id: str, caller: CurrentCaller, webhooks: Webhooks) -> EndpointPublic:
    return webhooks.get_endpoint(caller=caller, endpoint_id=endpoint_id)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointPublic)
def update_endpoint(
    endpoint_id: str, body: EndpointUpdate, caller: CurrentCaller, webhooks: Webhooks
) -> EndpointPublic:
    return webhooks.update_endpoint(caller=caller, endpoint_id=endpoint_id, update=body)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
def rotate_endpoint_secret(endpoint_id: str, caller: CurrentCaller, webhooks: Webhooks) -> EndpointWithSecret:
    return webhooks.rotate_endpoint_secret(caller=caller, endpoint_id=endpoint_id)


@router.post("/endpoints/{endpoint_id}/disable", response_model=EndpointPublic)
def disable_endpoint(endpoint_id: str, caller: CurrentCaller, webhooks: Webhooks) -> EndpointPublic:
    return webhooks.set_endpoint_enabled(caller=caller, endpoint_id=endpoint_id, enabled=False)


@router.post("/endpoints/{endpoint_id}/enable", response_model=EndpointPublic)
def enable_endpoint(endpoint_id: str, caller: CurrentCaller, webhooks: Webhooks) -> EndpointPublic:
    return webhooks.set_endpoint_enabled(caller=caller, endpoint_id=endpoint_id, enabled=True)


@router.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(endpoint_id: str, caller: CurrentCaller, webhooks: Webhooks) -> Response:
    webhooks.delete_endpoint(caller=caller, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- deliveries


@router.get("/endpoints/{endpoint_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    endpoint_id: str,
    caller: CurrentCaller,
    webhooks: Webhooks,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> DeliveryPage:
    return webhooks.list_deliveries(caller=caller, endpoint_id=endpoint_id, limit=limit, cursor=cursor)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: str, caller: CurrentCaller, webhooks: Webhooks) -> DeliveryDetail:
    return webhooks.get_delivery(caller=caller, delivery_id=delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryPublic
)
def redeliver(delivery_id: str, caller: CurrentCaller, webhooks: Webhooks) -> DeliveryPublic:
    return webhooks.redeliver(caller=caller, delivery_id=delivery_id)


# ---------------------------------------------------------------- events and the signing secret


@router.get("/events", response_model=EventList)
def list_events(
    caller: CurrentCaller, webhooks: Webhooks, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> EventList:
    return webhooks.list_events(caller=caller, limit=limit)


@router.get("/signing-secret", response_model=SigningSecretPublic)
def get_signing_secret(caller: CurrentCaller, webhooks: Webhooks) -> SigningSecretPublic:
    return webhooks.get_signing_secret(caller=caller)


@router.post("/signing-secret/rotate", response_model=SigningSecretPublic)
def rotate_signing_secret(caller: CurrentCaller, webhooks: Webhooks) -> SigningSecretPublic:
    return webhooks.rotate_signing_secret(caller=caller)


app = create_app(title="Likeness webhooks", routers=[router], max_body_bytes=64 * 1024)
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("WebhookApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entrypoint: Lambda context in every log line, metrics flushed as EMF per invocation."""
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
