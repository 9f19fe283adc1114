"""Image probes and inventory batches (character-visual-identity spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from likeness.characters.probes import LIST_LIMIT, ProbeService
from likeness.http.app import provided
from likeness.http.auth import CurrentCaller
from likeness.wiring import probe_service

Probes = Annotated[ProbeService, Depends(provided(probe_service))]
IdentityCheck = Literal["off", "report", "enforce"]
router = APIRouter(prefix="/v1/characters/{slug}", tags=["image probes"])


class ProbeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe_type: str = Field(min_length=1)
    session_id: str = Field(min_length=1)
    # enforce (default): an image that does not show the character is generated again
    identity_check: IdentityCheck | None = None


class InventoryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(min_length=1)
    session_id: str = Field(min_length=1)
    count_per_category: int = Field(default=1, ge=1, le=4)
    style_brief: str | None = Field(default=None, max_length=2000)
    forbidden: list[str] = Field(default_factory=list, max_length=20)
    hold_for_review: bool = False
    identity_check: IdentityCheck | None = None


@router.post("/image-probe", status_code=status.HTTP_202_ACCEPTED)
async def run_probe(slug: str, body: ProbeRequest, caller: CurrentCaller, probes: Probes) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        lambda: probes.probe(
            caller=caller,
            slug=slug,
            probe_type=body.probe_type,
            session_id=body.session_id,
            identity_check=body.identity_check,
        )
    )


@router.get("/image-probe")
def list_probes(
    slug: str, caller: CurrentCaller, probes: Probes, limit: Annotated[int, Query(ge=1, le=100)] = LIST_LIMIT
) -> dict[str, Any]:
    return probes.list_probes(caller=caller, slug=slug, limit=limit)


@router.get("/image-probe/{probe_id}")
def get_probe(slug: str, probe_id: str, caller: CurrentCaller, probes: Probes) -> dict[str, Any]:
    return probes.get_probe(caller=caller, slug=slug, probe_id=probe_id)


@router.post("/inventory/generate")
async def generate_inventory(
    slug: str, body: InventoryRequest, caller: CurrentCaller, probes: Probes
) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        lambda: probes.generate_inventory(
            caller=caller,
            slug=slug,
            session_id=body.session_id,
            categories=body.categories,
            count_per_category=body.count_per_category,
            style_brief=body.style_brief,
            forbidden=body.forbidden,
            hold_for_review=body.hold_for_review,
            identity_check=body.identity_check,
        )
    )


@router.get("/inventory/generations")
def inventory_generations(
    slug: str, caller: CurrentCaller, probes: Probes, limit: Annotated[int, Query(ge=1, le=100)] = LIST_LIMIT
) -> dict[str, Any]:
    return probes.inventory_generations(caller=caller, slug=slug, limit=limit)
