"""Studio identities API (/identity). Lambda via Mangum; the same `app` runs under uvicorn."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from mangum import Mangum

from likeness.errors import PayloadTooLarge, Unprocessable
from likeness.http.app import create_app, provided
from likeness.http.auth import CurrentCaller
from likeness.identities.drafts import DraftBatch, DraftService, IdentityDraftsCreate
from likeness.identities.models import (
    IdentityCreate,
    IdentityPage,
    IdentityPublic,
    IdentityResults,
    IdentityStatus,
    PromoteGenerated,
    Visibility,
)
from likeness.identities.service import IdentityService
from likeness.jobs.idempotency import REPLAY_HEADER, validate_key
from likeness.observability import lambda_entrypoint, metrics
from likeness.settings import get_settings
from likeness.uploads.service import UploadService, one_image_source
from likeness.wiring import draft_service, identity_service, upload_service

Identities = Annotated[IdentityService, Depends(provided(identity_service))]
Drafts = Annotated[DraftService, Depends(provided(draft_service))]
Uploads = Annotated[UploadService, Depends(provided(upload_service))]
router = APIRouter(prefix="/identity", tags=["identities"])


@router.post("/upload", status_code=status.HTTP_201_CREATED, response_model=IdentityPublic)
async def upload_identity(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    identities: Identities,
    uploads: Uploads,
    name: Annotated[str, Form(max_length=100)],
    file: Annotated[
        UploadFile | None, File(description="PNG, JPEG or WebP photo showing exactly one face")
    ] = None,
    upload_id: Annotated[str | None, Form(max_length=100, description="POST /uploads' id, not file")] = None,
    visibility: Annotated[Visibility, Form()] = Visibility.PRIVATE,
) -> IdentityPublic:
    one_image_source(
        file_field="file", sent_file=file is not None, upload_field="upload_id", upload_id=upload_id
    )
    data = b""
    if file is not None:
        limit = get_settings().max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
    elif not upload_id:
        raise Unprocessable(
            "file: the photo is missing",
            code="invalid_request",
            fix="Send the photo as the multipart field file, or upload it (POST /uploads) and send "
            "upload_id.",
        )
    create = IdentityCreate(name=name, visibility=visibility)
    correlation_id = request.scope["state"].get("correlation_id")

    def upload() -> IdentityPublic:
        # an upload_id's bytes are validated exactly as the file's: the same call below
        with uploads.claimed(caller=caller, uploads={"upload_id": upload_id} if upload_id else {}) as got:
            return identities.upload_identity(
                caller=caller, create=create, data=got.get("upload_id", data), correlation_id=correlation_id
            )

    # face detection is CPU work: keep it off the event loop
    from starlette.concurrency import run_in_threadpool

    created = await run_in_threadpool(upload)
    response.headers["Location"] = f"/identity/{created.identity_code}"
    metrics.add_metric(name="IdentitiesUploaded", unit=MetricUnit.Count, value=1)
    return created


@router.post("/create", status_code=status.HTTP_202_ACCEPTED)
async def create_identity_drafts(
    body: IdentityDraftsCreate,
    request: Request,
    caller: CurrentCaller,
    drafts: Drafts,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Queue an identity_creation job that makes ``num_drafts`` draft images (no slot used)."""
    from starlette.concurrency import run_in_threadpool

    key = validate_key(idempotency_key) if idempotency_key is not None else None
    submitted = await run_in_threadpool(
        lambda: drafts.create_drafts(
            caller=caller,
            request=body,
            idempotency_key=key,
            correlation_id=request.scope["state"].get("correlation_id"),
        )
    )
    headers = {"Location": f"/identity/create/{submitted.job_id}"}
    if submitted.replayed:
        headers[REPLAY_HEADER] = "true"
    return JSONResponse(status_code=submitted.status_code, content=submitted.body, headers=headers)


@router.get("/create/{job_id}", response_model=DraftBatch)
def get_identity_drafts(job_id: str, caller: CurrentCaller, drafts: Drafts) -> DraftBatch:
    return drafts.get_drafts(caller=caller, job_id=job_id)


@router.post("/promote-generated", status_code=status.HTTP_201_CREATED, response_model=IdentityPublic)
async def promote_generated_identity(
    body: PromoteGenerated,
    request: Request,
    response: Response,
    caller: CurrentCaller,
    identities: Identities,
) -> IdentityPublic:
    """Copy a draft into a new identity (50 credits, one slot) and start its preprocessing."""
    from starlette.concurrency import run_in_threadpool

    created = await run_in_threadpool(
        lambda: identities.promote_generated(
            caller=caller,
            image_result_id=body.image_result_id,
            create=IdentityCreate(name=body.name, visibility=body.visibility),
            correlation_id=request.scope["state"].get("correlation_id"),
        )
    )
    response.headers["Location"] = f"/identity/{created.identity_code}"
    return created


@router.get("", response_model=IdentityPage)
def list_identities(
    caller: CurrentCaller,
    identities: Identities,
    visibility: Visibility | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> IdentityPage:
    return identities.list_identities(caller=caller, visibility=visibility, page=page, page_size=page_size)


@router.get("/{identity_code}", response_model=IdentityPublic)
def get_identity(identity_code: str, caller: CurrentCaller, identities: Identities) -> IdentityPublic:
    return identities.get_identity(caller=caller, identity_code=identity_code)


@router.get("/{identity_code}/status", response_model=IdentityStatus)
def get_identity_status(identity_code: str, caller: CurrentCaller, identities: Identities) -> IdentityStatus:
    return identities.get_status(caller=caller, identity_code=identity_code)


@router.get("/{identity_code}/results", response_model=IdentityResults)
def get_identity_results(
    identity_code: str, caller: CurrentCaller, identities: Identities
) -> IdentityResults:
    return identities.get_results(caller=caller, identity_code=identity_code)


@router.post("/{identity_code}/share/{group_name}", response_model=IdentityPublic)
def share_identity(
    identity_code: str, group_name: str, caller: CurrentCaller, identities: Identities
) -> IdentityPublic:
    return identities.share(caller=caller, identity_code=identity_code, group=group_name)


@router.delete("/{identity_code}/share/{group_name}", response_model=IdentityPublic)
def unshare_identity(
    identity_code: str, group_name: str, caller: CurrentCaller, identities: Identities
) -> IdentityPublic:
    return identities.unshare(caller=caller, identity_code=identity_code, group=group_name)


@router.delete("/{identity_code}", status_code=status.HTTP_204_NO_CONTENT)
def delete_identity(identity_code: str, caller: CurrentCaller, identities: Identities) -> Response:
    identities.delete_identity(caller=caller, identity_code=identity_code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


app = create_app(
    title="Likeness studio identities",
    # bodies up to what API Gateway and Lambda carry (likeness.http.limits): bigger photos
    # come as upload ids from POST /uploads (docs/uploads.md)
    routers=[router],
)
asgi_handler = Mangum(app, lifespan="off")


@lambda_entrypoint("IdentityApiFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entrypoint: Lambda context in every log line, metrics flushed as EMF per invocation."""
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return asgi_handler(event, context)  # type: ignore[arg-type]
