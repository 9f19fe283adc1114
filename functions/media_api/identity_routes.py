"""Media identities (/api/v1/identities, /api/v1/identity/...): the media-identities spec.

Glue only: the rules live in likeness.media.identities.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from likeness.http.app import json_body, provided
from likeness.http.auth import CurrentCaller
from likeness.media.identities import MediaIdentityService
from likeness.media.models import (
    AuditList,
    BindRequest,
    BindResult,
    IdentityChunks,
    IdentityCreate,
    IdentityDeleted,
    IdentityFaces,
    IdentityFile,
    IdentityFiles,
    IdentityList,
    IdentityResponse,
    IdentitySearch,
    IdentitySource,
    IdentityStatus,
    IdentityUpdate,
    IdentityUploaded,
    MergeRequest,
    MergeResult,
    ProfileImageSaved,
    SplitRequest,
    SplitResult,
)
from likeness.settings import get_settings
from likeness.uploads.service import UploadRef, UploadService, one_image_source
from likeness.wiring import media_identity_service, upload_service

Identities = Annotated[MediaIdentityService, Depends(provided(media_identity_service))]
Uploads = Annotated[UploadService, Depends(provided(upload_service))]
router = APIRouter(prefix="/api/v1", tags=["media identities"])
Page = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=100)]


def _one(identity: object) -> IdentityResponse:
    return IdentityResponse.model_validate(identity, from_attributes=True)


# ---------------------------------------------------------------------------- collection
@router.get("/identities")
def list_identities(
    caller: CurrentCaller,
    identities: Identities,
    page: Page = 1,
    page_size: PageSize = 20,
    source: IdentitySource | None = None,
    status: IdentityStatus | None = None,
) -> IdentityList:
    return identities.list_identities(
        caller=caller, page=page, page_size=page_size, source=source, status=status
    )


@router.post("/identities", status_code=status.HTTP_201_CREATED)
def create_identity(
    body: IdentityCreate, response: Response, caller: CurrentCaller, identities: Identities
) -> IdentityResponse:
    created = identities.create(caller=caller, create=body)
    response.headers["Location"] = f"/api/v1/identity/{created.identity_uuid}"
    return _one(created)


@router.get("/identities/search")
def search_identities(
    caller: CurrentCaller,
    identities: Identities,
    q: Annotated[str, Query(min_length=1, max_length=200, description="part of a name, any case")],
    page: Page = 1,
    page_size: PageSize = 20,
) -> IdentitySearch:
    return identities.search(caller=caller, query=q, page=page, page_size=page_size)


@router.post("/identities/merge")
def merge_identities(body: MergeRequest, caller: CurrentCaller, identities: Identities) -> MergeResult:
    return identities.merge(caller=caller, request=body)


@router.get("/identities/audit")
def audit_trail(
    caller: CurrentCaller,
    identities: Identities,
    identity_uuid: str | None = None,
    page: Page = 1,
    page_size: PageSize = 20,
) -> AuditList:
    return identities.audit(caller=caller, identity_uuid=identity_uuid, page=page, page_size=page_size)


@router.post("/identity/upload")
def upload_identity_file(body: IdentityFile, caller: CurrentCaller, identities: Identities) -> JSONResponse:
    """identity.json: create (201), or update the identity with the same name (200)."""
    uploaded: IdentityUploaded = identities.upload(caller=caller, identity_file=body)
    return JSONResponse(
        status_code=status.HTTP_201_CREATED if uploaded.created else status.HTTP_200_OK,
        content=uploaded.model_dump(mode="json"),
        headers={"Location": f"/api/v1/identity/{uploaded.identity_uuid}"},
    )


# ---------------------------------------------------------------------------- one identity
@router.get("/identity/{identity_uuid}")
def get_identity(identity_uuid: str, caller: CurrentCaller, identities: Identities) -> IdentityResponse:
    return _one(identities.get(caller=caller, identity_uuid=identity_uuid))


@router.patch("/identity/{identity_uuid}")
def update_identity(
    identity_uuid: str, body: IdentityUpdate, caller: CurrentCaller, identities: Identities
) -> IdentityResponse:
    return _one(identities.update(caller=caller, identity_uuid=identity_uuid, update=body))


@router.delete("/identity/{identity_uuid}")
def delete_identity(identity_uuid: str, caller: CurrentCaller, identities: Identities) -> IdentityDeleted:
    return identities.delete(caller=caller, identity_uuid=identity_uuid)


@router.get("/identity/{identity_uuid}/files")
def identity_files(identity_uuid: str, caller: CurrentCaller, identities: Identities) -> IdentityFiles:
    return identities.files(caller=caller, identity_uuid=identity_uuid)


@router.get("/identity/{identity_uuid}/faces")
def identity_faces(
    identity_uuid: str,
    caller: CurrentCaller,
    identities: Identities,
    page: Page = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> IdentityFaces:
    return identities.faces(caller=caller, identity_uuid=identity_uuid, page=page, page_size=page_size)


@router.get("/identity/{identity_uuid}/chunks")
def identity_chunks(identity_uuid: str, caller: CurrentCaller, identities: Identities) -> IdentityChunks:
    return identities.chunks(caller=caller, identity_uuid=identity_uuid)


@router.get("/identity/{identity_uuid}/audit")
def identity_audit(
    identity_uuid: str,
    caller: CurrentCaller,
    identities: Identities,
    page: Page = 1,
    page_size: PageSize = 20,
) -> AuditList:
    return identities.audit(
        caller=caller, identity_uuid=identity_uuid, page=page, page_size=page_size, must_exist=True
    )


@router.post("/identity/{identity_uuid}/bind")
def bind_face(
    identity_uuid: str, body: BindRequest, caller: CurrentCaller, identities: Identities
) -> BindResult:
    return identities.bind(caller=caller, identity_uuid=identity_uuid, request=body)


@router.post("/identity/{identity_uuid}/unbind")
def unbind_face(
    identity_uuid: str, body: BindRequest, caller: CurrentCaller, identities: Identities
) -> BindResult:
    return identities.unbind(caller=caller, identity_uuid=identity_uuid, request=body)


@router.post("/identity/{identity_uuid}/split", status_code=status.HTTP_201_CREATED)
def split_identity(
    identity_uuid: str, body: SplitRequest, caller: CurrentCaller, identities: Identities
) -> SplitResult:
    return identities.split(caller=caller, identity_uuid=identity_uuid, request=body)


# ---------------------------------------------------------------------------- profile image
@router.post("/identity/{identity_uuid}/profile-image")
async def upload_profile_image(
    identity_uuid: str, request: Request, caller: CurrentCaller, identities: Identities, uploads: Uploads
) -> ProfileImageSaved:
    """multipart field ``image``: JPEG or PNG showing one face; or, for an image uploaded with
    POST /uploads, its ``upload_id`` (a multipart field, or the JSON body ``{"upload_id"}``)."""
    data: bytes | None = None
    upload_id: str | None = None
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        async with request.form(max_files=2, max_fields=10) as form:
            image, field = form.get("image"), form.get("upload_id")
            upload_id = field if isinstance(field, str) and field else None
            one_image_source(
                file_field="image",
                sent_file=isinstance(image, UploadFile),
                upload_field="upload_id",
                upload_id=upload_id,
            )
            if isinstance(image, UploadFile):
                data = await image.read(get_settings().max_upload_bytes + 1)
    elif request.headers.get("content-type", "").lower().startswith("application/json"):
        body = await json_body(request)
        # a JSON body without upload_id carries no image: the same 400 as a form without one
        if isinstance(body, dict) and "upload_id" in body:
            upload_id = UploadRef.model_validate(body).upload_id

    def save() -> ProfileImageSaved:
        # an upload's bytes go through the same checks as the image field's
        with uploads.claimed(caller=caller, uploads={"upload_id": upload_id} if upload_id else {}) as got:
            return identities.set_profile_image(
                caller=caller, identity_uuid=identity_uuid, data=got.get("upload_id", data)
            )

    # decoding and face detection are CPU work: keep them off the event loop
    return await run_in_threadpool(save)


@router.get("/identity/{identity_uuid}/profile-image")
def get_profile_image(identity_uuid: str, caller: CurrentCaller, identities: Identities) -> Response:
    data, content_type = identities.profile_image(caller=caller, identity_uuid=identity_uuid)
    return Response(content=data, media_type=content_type, headers={"Cache-Control": "private, max-age=60"})
