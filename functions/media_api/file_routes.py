"""Media files (/api/v1/files): upload, list, get, delete, re-index, faces, chunks.

Glue only: the rules live in likeness.media.files.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from likeness.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from likeness.http.app import json_body, provided
from likeness.http.auth import CurrentCaller
from likeness.media.files import FileService
from likeness.media.models import (
    FileChunks,
    FileDeleted,
    FileFaces,
    FileFromS3,
    FileList,
    FilePublic,
    FileResponse,
    ReindexRequest,
    UploadRequest,
    UploadTicket,
)
from likeness.settings import get_settings
from likeness.wiring import media_file_service

Files = Annotated[FileService, Depends(provided(media_file_service))]
router = APIRouter(prefix="/api/v1/files", tags=["media files"])
Page = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=100)]


def accepted(public: FilePublic) -> JSONResponse:
    body = FileResponse(**public.model_dump()).model_dump(mode="json")
    return JSONResponse(
        status_code=status.HTTP_202_ACCEPTED,
        content=body,
        headers={"Location": f"/api/v1/files/{public.file_uuid}"},
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=FileResponse)
async def create_file(request: Request, caller: CurrentCaller, files: Files) -> JSONResponse:
    """multipart: ``file`` (+ ``subtitles``, ``identity_hints``, ``filename``); or JSON with ``s3_key``."""
    content_type = request.headers.get("content-type", "").lower()
    correlation_id = request.scope["state"].get("correlation_id")
    if content_type.startswith("application/json"):
        body = FileFromS3.model_validate(await json_body(request))
        public = await run_in_threadpool(
            lambda: files.create_from_s3(caller=caller, request=body, correlation_id=correlation_id)
        )
        return accepted(public)
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            "send the file as multipart/form-data (field file), or JSON with an s3_key",
            fix="curl -F file=@clip.mp4 ...; or POST /api/v1/files/uploads first for big files.",
        )
    settings = get_settings()
    async with request.form(max_files=4, max_fields=20) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest(
                "the file field is missing",
                code="file_required",
                fix="Send the video or image as field file.",
            )
        data = await upload.read(settings.media_max_upload_bytes + 1)
        subtitles: bytes | None = None
        sidecar = form.get("subtitles")
        if isinstance(sidecar, UploadFile):
            subtitles = await sidecar.read(settings.media_max_subtitles_bytes + 1)
        elif isinstance(sidecar, str) and sidecar.strip():
            subtitles = sidecar.encode()
        if subtitles is not None and len(subtitles) > settings.media_max_subtitles_bytes:
            raise PayloadTooLarge(
                f"the subtitles are larger than {settings.media_max_subtitles_bytes // 1024} KB"
            )
        hints = [h for h in form.getlist("identity_hints") if isinstance(h, str)]
        named = form.get("filename")
        filename = named if isinstance(named, str) and named.strip() else upload.filename
    public = await run_in_threadpool(
        lambda: files.upload(
            caller=caller,
            data=data,
            filename=filename,
            subtitles=subtitles,
            identity_hints=",".join(hints) if hints else None,
            correlation_id=correlation_id,
        )
    )
    return accepted(public)


@router.post("/uploads", status_code=status.HTTP_201_CREATED)
async def create_upload(request: Request, caller: CurrentCaller, files: Files) -> UploadTicket:
    """A presigned PUT URL for a file too big to send in a request; then POST /files {"s3_key"}."""
    body = UploadRequest.model_validate(await json_body(request))
    return await run_in_threadpool(lambda: files.create_upload(caller=caller, filename=body.filename))


@router.get("")
def list_files(caller: CurrentCaller, files: Files, page: Page = 1, page_size: PageSize = 20) -> FileList:
    return files.list_files(caller=caller, page=page, page_size=page_size)


@router.get("/{file_uuid}")
def get_file(file_uuid: str, caller: CurrentCaller, files: Files) -> FileResponse:
    return FileResponse(**files.get_file(caller=caller, file_uuid=file_uuid).model_dump())


@router.delete("/{file_uuid}")
def delete_file(file_uuid: str, caller: CurrentCaller, files: Files) -> FileDeleted:
    return files.delete_file(caller=caller, file_uuid=file_uuid)


@router.post("/{file_uuid}/reindex", status_code=status.HTTP_202_ACCEPTED)
async def reindex_file(file_uuid: str, request: Request, caller: CurrentCaller, files: Files) -> JSONResponse:
    """Back to pending with a new run; an optional {"identity_hints": [...]} replaces the hints."""
    body = ReindexRequest.model_validate(await json_body(request))
    correlation_id = request.scope["state"].get("correlation_id")
    public = await run_in_threadpool(
        lambda: files.reindex(
            caller=caller,
            file_uuid=file_uuid,
            identity_hints=body.identity_hints,
            correlation_id=correlation_id,
        )
    )
    return accepted(public)


@router.get("/{file_uuid}/faces")
def file_faces(file_uuid: str, caller: CurrentCaller, files: Files) -> FileFaces:
    return files.faces(caller=caller, file_uuid=file_uuid)


@router.get("/{file_uuid}/chunks")
def file_chunks(file_uuid: str, caller: CurrentCaller, files: Files) -> FileChunks:
    return files.chunks(caller=caller, file_uuid=file_uuid)
