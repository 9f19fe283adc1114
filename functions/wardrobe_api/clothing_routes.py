"""Clothing items (/clothing-item, /clothing-items): a thin edge over ClothingService."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from likeness.errors import PayloadTooLarge, Unprocessable
from likeness.http.app import json_body, provided
from likeness.http.auth import CurrentCaller
from likeness.settings import get_settings
from likeness.uploads.service import UploadService, one_image_source
from likeness.wardrobe.clothing import (
    ClothingItemCreate,
    ClothingItemPublic,
    ClothingItemUpdate,
    ClothingService,
    DeletedMessage,
)
from likeness.wardrobe.pages import DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE, Page
from likeness.wiring import clothing_service, upload_service

Clothing = Annotated[ClothingService, Depends(provided(clothing_service))]
Uploads = Annotated[UploadService, Depends(provided(upload_service))]
router = APIRouter(tags=["clothing items"])
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


async def _read_file(upload: StarletteUploadFile | None) -> bytes | None:
    if upload is None:
        return None
    limit = get_settings().max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
    return data


@router.post("/clothing-item", status_code=status.HTTP_201_CREATED, response_model=ClothingItemPublic)
async def create_clothing_item(
    request: Request, response: Response, caller: CurrentCaller, clothing: Clothing, uploads: Uploads
) -> ClothingItemPublic:
    """Create an item from uploaded files (``file``, ``back_file``), the ids of images uploaded
    with POST /uploads (``upload_id``, ``back_upload_id``) or image URLs.

    multipart/form-data as the spec says; a JSON body with the same fields (no files) works too.
    """
    fields, files = await _request_fields(request)
    upload_ids: dict[str, str] = {}
    for file_field, upload_field in (("file", "upload_id"), ("back_file", "back_upload_id")):
        upload_id = fields.pop(upload_field, None)
        if upload_id is not None and not isinstance(upload_id, str):
            raise Unprocessable(f"{upload_field} must be a string", code="invalid_request")
        one_image_source(
            file_field=file_field,
            sent_file=file_field in files,
            upload_field=upload_field,
            upload_id=upload_id,
        )
        if upload_id:
            upload_ids[upload_field] = upload_id
    create = ClothingItemCreate.model_validate(fields)
    front_data = await _read_file(files.get("file"))
    back_data = await _read_file(files.get("back_file"))

    def create_item() -> ClothingItemPublic:
        # an upload's bytes go through the same checks as a file's
        with uploads.claimed(caller=caller, uploads=upload_ids) as uploaded:
            return clothing.create(
                caller=caller,
                create=create,
                front_file=uploaded.get("upload_id", front_data),
                back_file=uploaded.get("back_upload_id", back_data),
                front_field="upload_id" if "upload_id" in uploaded else "file",
                back_field="back_upload_id" if "back_upload_id" in uploaded else "back_file",
            )

    # fetching, decoding and garment vision are blocking work: keep them off the event loop
    created = await run_in_threadpool(create_item)
    response.headers["Location"] = f"/clothing-item/{created.clothing_item_id}"
    return created


@router.get("/clothing-items", response_model=Page[ClothingItemPublic])
def list_clothing_items(
    caller: CurrentCaller,
    clothing: Clothing,
    page: Annotated[int, Query(ge=1)] = 1,
    items_per_page: Annotated[int, Query(ge=1, le=MAX_ITEMS_PER_PAGE)] = DEFAULT_ITEMS_PER_PAGE,
) -> Page[ClothingItemPublic]:
    return clothing.list(caller=caller, page=page, items_per_page=items_per_page)


@router.get("/clothing-item/{clothing_item_id}", response_model=ClothingItemPublic)
def get_clothing_item(clothing_item_id: int, caller: CurrentCaller, clothing: Clothing) -> ClothingItemPublic:
    return clothing.get(caller=caller, clothing_item_id=clothing_item_id)


async def _request_fields(request: Request) -> tuple[dict[str, Any], dict[str, StarletteUploadFile]]:
    """The body's fields and uploaded files: form data, or a JSON object (no files)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in FORM_TYPES:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        # a file input left empty arrives as a part with no name and no bytes: not sent
        files = {
            k: v for k, v in form.items() if isinstance(v, StarletteUploadFile) and (v.filename or v.size)
        }
        return fields, files
    body = await json_body(request)
    if not isinstance(body, dict):
        raise Unprocessable("the request body must be a JSON object", code="invalid_request")
    return body, {}


@router.put("/clothing-item/{clothing_item_id}", response_model=ClothingItemPublic)
async def update_clothing_item(
    clothing_item_id: int, request: Request, caller: CurrentCaller, clothing: Clothing
) -> ClothingItemPublic:
    """Change the name and descriptions; image URLs, when sent, replace the images as sent."""
    fields, _ = await _request_fields(request)
    update = ClothingItemUpdate.model_validate(fields)
    return await run_in_threadpool(
        lambda: clothing.update(caller=caller, clothing_item_id=clothing_item_id, update=update)
    )


@router.delete("/clothing-item/{clothing_item_id}", response_model=DeletedMessage)
def delete_clothing_item(clothing_item_id: int, caller: CurrentCaller, clothing: Clothing) -> DeletedMessage:
    """Delete the item, its images, and every generation (with its results) that used it."""
    clothing.delete(caller=caller, clothing_item_id=clothing_item_id)
    return DeletedMessage(message="Clothing item deleted successfully")
