"""Wardrobe avatars (/avatar, /avatars): a thin edge over WardrobeAvatarService."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from starlette.concurrency import run_in_threadpool

from likeness.http.app import provided
from likeness.http.auth import CurrentCaller
from likeness.wardrobe.avatars import (
    WardrobeAvatarCreate,
    WardrobeAvatarPublic,
    WardrobeAvatarService,
    WardrobeAvatarUpdate,
)
from likeness.wardrobe.clothing import DeletedMessage
from likeness.wardrobe.pages import DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE, Page
from likeness.wiring import wardrobe_avatar_service

Avatars = Annotated[WardrobeAvatarService, Depends(provided(wardrobe_avatar_service))]
router = APIRouter(tags=["avatars"])


@router.get("/avatars", response_model=Page[WardrobeAvatarPublic])
def list_avatars(
    caller: CurrentCaller,
    avatars: Avatars,
    page: Annotated[int, Query(ge=1)] = 1,
    items_per_page: Annotated[int, Query(ge=1, le=MAX_ITEMS_PER_PAGE)] = DEFAULT_ITEMS_PER_PAGE,
) -> Page[WardrobeAvatarPublic]:
    return avatars.list(caller=caller, page=page, items_per_page=items_per_page)


@router.get("/avatar/{avatar_id}", response_model=WardrobeAvatarPublic)
def get_avatar(avatar_id: int, caller: CurrentCaller, avatars: Avatars) -> WardrobeAvatarPublic:
    return avatars.get(caller=caller, avatar_id=avatar_id)


@router.post("/avatar", status_code=status.HTTP_201_CREATED, response_model=WardrobeAvatarPublic)
async def create_avatar(
    body: WardrobeAvatarCreate, response: Response, caller: CurrentCaller, avatars: Avatars
) -> WardrobeAvatarPublic:
    """Save an image URL (or one of your generation results) showing one face as an avatar."""
    # fetching and face detection are blocking work: keep them off the event loop
    created = await run_in_threadpool(lambda: avatars.create(caller=caller, create=body))
    response.headers["Location"] = f"/avatar/{created.avatar_id}"
    return created


@router.put("/avatar/{avatar_id}", response_model=WardrobeAvatarPublic)
def update_avatar(
    avatar_id: int, body: WardrobeAvatarUpdate, caller: CurrentCaller, avatars: Avatars
) -> WardrobeAvatarPublic:
    return avatars.update(caller=caller, avatar_id=avatar_id, update=body)


@router.delete("/avatar/{avatar_id}", response_model=DeletedMessage)
def delete_avatar(avatar_id: int, caller: CurrentCaller, avatars: Avatars) -> DeletedMessage:
    avatars.delete(caller=caller, avatar_id=avatar_id)
    return DeletedMessage(message="Avatar deleted successfully")
