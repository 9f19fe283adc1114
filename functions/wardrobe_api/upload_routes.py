"""Presigned image uploads (POST /uploads): a thin edge over UploadService (docs/uploads.md).

Served by the wardrobe function; every route that takes an image, in every function, accepts the
``upload_id`` this answers with in place of the bytes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from starlette.concurrency import run_in_threadpool

from likeness.http.app import json_body, provided
from likeness.http.auth import CurrentCaller
from likeness.uploads.service import UploadCreate, UploadService, UploadTicket
from likeness.wiring import upload_service

Uploads = Annotated[UploadService, Depends(provided(upload_service))]
router = APIRouter(tags=["uploads"])


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadTicket)
async def create_upload(
    request: Request, response: Response, caller: CurrentCaller, uploads: Uploads
) -> UploadTicket:
    """``{"content_type", "size"}`` -> a presigned PUT bound to both, and its ``upload_id``."""
    body = UploadCreate.model_validate(await json_body(request))
    ticket = await run_in_threadpool(lambda: uploads.create(caller=caller, request=body))
    response.headers["Cache-Control"] = "no-store"
    return ticket
