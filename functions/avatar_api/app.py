"""Avatar jobs API (/api/v1/avatars, /api/v1/jobs) and the engine catalog (/api/v1/engines).

Lambda via Mangum; the same `app` runs under uvicorn. Light to import: reference images are
checked with Pillow only when a request carries them; no face model is loaded here.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse
from mangum import Mangum

from likeness.avatars.models import AvatarGenerate, AvatarList, AvatarPublic, AvatarSave
from likeness.avatars.service import AvatarService
from likeness.http.app import create_app, provided
from likeness.http.auth import CurrentCaller
from likeness.jobs.idempotency import REPLAY_HEADER, validate_key
from likeness.jobs.service import JobService, Submitted
from likeness.observability import lambda_entrypoint, metrics
from likeness.wiring import avatar_service, job_service

Avatars = Annotated[AvatarService, Depends(provided(avatar_service))]
Jobs = Annotated[JobService, Depends(provided(job_service))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="makes retries safe: same key and body, same response"),
]

avatars = APIRouter(prefix="/api/v1/avatars", tags=["avatars"])
jobs = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
engines = APIRouter(prefix="/api/v1/engines", tags=["engines"])


def submitted_response(submitted: Submitted, *, location: str) -> JSONResponse:
    headers = {"Location": location}
    if submitted.replayed:
        headers[REPLAY_HEADER] = "true"
    return JSONResponse(status_code=submitted.status_code, content=submitted.body, headers=headers)


@avatars.post("/generate", status_code=status.HTTP_202_ACCEPTED)
async def generate_avatar(
    body: AvatarGenerate,
    request: Request,
    caller: CurrentCaller,
    service: Avatars,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    key = validate_key(idempotency_key) if idempotency_key is not None else None
    # decoding up to six reference images is CPU work: keep it off the event loop
    submitted = await run_in_threadpool(
        lambda: service.generate(
            caller=caller,
            request=body,
            idempotency_key=key,
            correlation_id=request.scope["state"].get("correlation_id"),
        )
    )
    if not submitted.replayed:
        metrics.add_metric(name="AvatarJobsAccepted", unit=MetricUnit.Count, value=1)
    return submitted_response(submitted, location=f"/api/v1/jobs/{submitted.job_id}")


@avatars.post("/save", status_code=status.HTTP_201_CREATED, response_model=AvatarPublic)
def save_avatar(body: AvatarSave, caller: CurrentCaller, service: Avatars) -> AvatarPublic:
    return service.save(caller=caller, save=body)


@avatars.get("", response_model=AvatarList)
def list_avatars(
    caller: CurrentCaller,
    service: Avatars,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AvatarList:
    return service.list_avatars(caller=caller, limit=limit, offset=offset)


@avatars.get("/{avatar_id}", response_model=AvatarPublic)
def get_avatar(avatar_id: str, caller: CurrentCaller, service: Avatars) -> AvatarPublic:
    return service.get_avatar(caller=caller, avatar_id=avatar_id)


@jobs.get("")
def list_jobs(
    caller: CurrentCaller,
    service: Jobs,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    type: Annotated[str | None, Query(description="only jobs of this type, e.g. avatar_generation")] = None,
) -> dict[str, Any]:
    page = service.list_jobs(caller=caller, limit=limit, offset=offset, job_type=type)
    return {
        "object": "list",
        "data": [service.presenter.present(j) for j in page.jobs],
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(page.jobs) < page.total,
    }


@jobs.get("/{job_id}")
def get_job(job_id: str, caller: CurrentCaller, service: Jobs) -> dict[str, Any]:
    return service.presenter.present(service.get_job(caller=caller, job_id=job_id))


@jobs.post("/{job_id}/cancel")
def cancel_job(job_id: str, caller: CurrentCaller, service: Jobs) -> dict[str, Any]:
    return service.presenter.present(service.cancel(caller=caller, job_id=job_id))


@engines.get("")
def list_engines(caller: CurrentCaller) -> dict[str, Any]:
    from likeness.engines.catalog import engine_catalog

    return {"object": "list", "data": [c.model_dump(mode="json") for c in engine_catalog()]}


# bodies up to what API Gateway and Lambda carry (likeness.http.limits): bigger reference
# images come as {"upload_id"} (docs/uploads.md)
app = create_app(title="Likeness avatar jobs", routers=[avatars, jobs, engines])
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("AvatarApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
