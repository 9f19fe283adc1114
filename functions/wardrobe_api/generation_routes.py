"""Generations, results, the model catalog and cameras (wardrobe-generation spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from likeness.http.app import provided
from likeness.http.auth import CurrentCaller
from likeness.wardrobe.generations import GenerationService
from likeness.wardrobe.models import GenerationCreate, GenerationPublic, GenerationResultPublic
from likeness.wardrobe.pages import DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE, Page
from likeness.wiring import generation_service

Generations = Annotated[GenerationService, Depends(provided(generation_service))]
PageNumber = Annotated[int, Query(ge=1)]
ItemsPerPage = Annotated[int, Query(ge=1, le=MAX_ITEMS_PER_PAGE)]

router = APIRouter(tags=["generations"])


@router.get("/generations", response_model=Page[GenerationPublic])
def list_generations(
    caller: CurrentCaller,
    generations: Generations,
    status: Literal["Done", "Created", "Ongoing", "Error"] | None = None,
    feature_name: str | None = None,
    external_id: str | None = None,
    batch_id: int | None = None,
    sort: str = "created_at:desc",
    page: PageNumber = 1,
    items_per_page: ItemsPerPage = DEFAULT_ITEMS_PER_PAGE,
) -> Page[GenerationPublic]:
    return generations.list_generations(
        caller=caller,
        page=page,
        items_per_page=items_per_page,
        status=status,
        feature_name=feature_name,
        external_id=external_id,
        batch_id=batch_id,
        sort=sort,
    )


@router.post("/generation", response_model=GenerationPublic)
async def create_generation(
    body: GenerationCreate, request: Request, caller: CurrentCaller, generations: Generations
) -> GenerationPublic:
    from starlette.concurrency import run_in_threadpool

    # fetching image URLs and copying clothing items is I/O: keep it off the event loop
    return await run_in_threadpool(
        lambda: generations.create(
            caller=caller, request=body, correlation_id=request.scope["state"].get("correlation_id")
        )
    )


@router.get("/generation/{generation_id}", response_model=GenerationPublic)
def get_generation(generation_id: int, caller: CurrentCaller, generations: Generations) -> GenerationPublic:
    return generations.get(caller=caller, generation_id=generation_id)


@router.get("/generation-results", response_model=Page[GenerationResultPublic])
def list_generation_results(
    caller: CurrentCaller,
    generations: Generations,
    generation_ids: Annotated[list[int], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    clothing_item_ids: Annotated[list[int], Query()] = [],  # noqa: B006
    page: PageNumber = 1,
    items_per_page: ItemsPerPage = DEFAULT_ITEMS_PER_PAGE,
) -> Page[GenerationResultPublic]:
    return generations.results(
        caller=caller,
        page=page,
        items_per_page=items_per_page,
        generation_ids=generation_ids,
        clothing_item_ids=clothing_item_ids,
    )


@router.get("/generation-result/{generation_result_id}", response_model=GenerationResultPublic)
def get_generation_result(
    generation_result_id: int, caller: CurrentCaller, generations: Generations
) -> GenerationResultPublic:
    return generations.result(caller=caller, generation_result_id=generation_result_id)


@router.get("/models")
def list_models(caller: CurrentCaller) -> dict[str, Any]:
    from likeness.wardrobe.catalog import models

    return {"data": [m.public() for m in models()]}


@router.get("/cameras")
def list_cameras(caller: CurrentCaller) -> dict[str, Any]:
    from likeness.wardrobe.catalog import cameras

    return {"data": cameras()}
