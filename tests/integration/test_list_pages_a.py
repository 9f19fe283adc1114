"""Saved avatars, wardrobe avatars, clothing items and generation results list one page at a
time: the right items in the right order on every page, totals that follow creates and
deletes, and a first page that reads only itself however large the account is."""

from __future__ import annotations

from typing import Any

import pytest

from likeness.accounts.models import Caller
from likeness.errors import Unprocessable
from tests.helpers import png_bytes
from tests.integration.job_support import paying_caller
from tests.integration.list_pages_support import OneFacePipeline, Ticks, query_items, tick_modules

MANY = 60


@pytest.fixture
def ticks(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Ticks:
    return tick_modules(
        monkeypatch, "likeness.avatars.service", "likeness.wardrobe.avatars", "likeness.wardrobe.clothing"
    )


# ---------------------------------------------------------------------------- helpers


def _succeeded_avatar_job(caller: Caller) -> str:
    from likeness.avatars.models import AVATAR_JOB_TYPE
    from likeness.jobs.models import job_prefix, new_job_id, new_job_item
    from likeness.wiring import blob_store, table

    job_id = new_job_id()
    key = f"{job_prefix(job_id)}results/0.png"
    blob_store().put(key, png_bytes(64, 64), content_type="image/png")
    job = new_job_item(job_id=job_id, job_type=AVATAR_JOB_TYPE, account_id=caller.account_id, inputs={})
    job["state"] = "succeeded"
    job["outputs"] = {"results": [{"key": key, "content_type": "image/png", "width": 64, "height": 64}]}
    table().put(job)
    return job_id


def _finished_generation(
    caller: Caller,
    ticks: Ticks,
    *,
    clothing_item_ids: list[int],
    avatar_id: int | None = None,
    results: int = 2,
) -> tuple[int, list[int]]:
    """A generation whose job completes through the job service, with the surface's rows and
    counters (as the runner completes one). Returns its id and its result ids."""
    from likeness.jobs.models import job_prefix, new_job_id, new_job_item, result_id_for, result_key
    from likeness.wardrobe.generation_job import WardrobeGenerator
    from likeness.wardrobe.store import (
        GENERATION_INDEX_PREFIX,
        GENERATION_JOB_TYPE,
        clothing_links,
        generation_key,
    )
    from likeness.wiring import blob_store, id_allocator, job_service, table

    ids = id_allocator()
    generation_id = ids.allocate("generation")
    first = ids.allocate("generation_result", results)
    result_ids = list(range(first, first + results))
    job_id = new_job_id()
    job = new_job_item(
        job_id=job_id,
        job_type=GENERATION_JOB_TYPE,
        account_id=caller.account_id,
        inputs={
            "generation_id": generation_id,
            "result_ids": result_ids,
            "use_case": "generate",
            "model_slug": "classical",
            "clothing_item_ids": clothing_item_ids,
            "avatar_id": avatar_id,
            "batch_id": None,
            "num_images": results,
            "payload": {},
        },
        index_prefix=GENERATION_INDEX_PREFIX,
    )
    job["state"] = "running"
    db = table()
    db.put(job)
    pk, sk = generation_key(generation_id)
    db.put(
        {
            "PK": pk,
            "SK": sk,
            "GSI1PK": f"ACCOUNT#{caller.account_id}",
            "GSI1SK": f"WGEN#{job['created_at']}#{generation_id:012d}",
            "generation_id": generation_id,
            "job_id": job_id,
            "account_id": caller.account_id,
            "clothing_item_ids": clothing_item_ids,
            "avatar_id": avatar_id,
            "created_at": job["created_at"],
        }
    )
    db.transact(
        clothing_links(
            account_id=caller.account_id,
            generation_id=generation_id,
            job_id=job_id,
            clothing_item_ids=clothing_item_ids,
        )
    )
    records = []
    for index in range(results):
        key = f"{job_prefix(job_id)}results/run/{index}.png"
        blob_store().put(key, png_bytes(64, 64), content_type="image/png")
        result_id = result_id_for(job_id, index)
        result_pk, result_sk = result_key(result_id)
        records.append(
            {
                "PK": result_pk,
                "SK": result_sk,
                "type": "job_result",
                "result_id": result_id,
                "job_id": job_id,
                "job_type": GENERATION_JOB_TYPE,
                "account_id": caller.account_id,
                "index": index,
                "kind": "image",
                "key": key,
                "content_type": "image/png",
                "width": 64,
                "height": 64,
                "created_at": ticks(),
            }
        )
    summaries = [{k: v for k, v in r.items() if k not in ("PK", "SK", "type")} for r in records]
    extra = WardrobeGenerator.surface_records(job, records)
    assert job_service().complete(job, outputs={"results": summaries}, records=[*records, *extra])
    return generation_id, result_ids


def _wardrobe_avatars() -> Any:
    from likeness.settings import get_settings
    from likeness.wardrobe.avatars import WardrobeAvatarService
    from likeness.wiring import blob_store, generation_store, id_allocator, table

    return WardrobeAvatarService(
        table=table(),
        blobs=blob_store(),
        ids=id_allocator(),
        generations=generation_store(),
        settings=get_settings(),
        pipeline=OneFacePipeline,
    )


def _clothing_item(caller: Caller, name: str) -> int:
    from likeness.wardrobe.clothing import ClothingItemCreate
    from likeness.wiring import clothing_service

    created = clothing_service().create(
        caller=caller,
        create=ClothingItemCreate(clothing_item_name=name, use_image_enhancement=False),
        front_file=png_bytes(64, 64),
    )
    return created.clothing_item_id


def _pages(list_page: Any, size: int, pages: int) -> list[Any]:
    return [row for number in range(1, pages + 1) for row in list_page(number, size).data]


# ---------------------------------------------------------------------------- /api/v1/avatars


def test_saved_avatars_page_from_the_index_and_total_from_a_counter(ticks: Ticks) -> None:
    from likeness.avatars.models import AvatarSave
    from likeness.wiring import avatar_service

    alice, bob = paying_caller(name="alice"), paying_caller(name="bob")
    avatars = avatar_service()
    job_id = _succeeded_avatar_job(alice)
    labels = [f"a{n:02d}" for n in range(MANY)]
    for label in labels:
        avatars.save(caller=alice, save=AvatarSave(job_id=job_id, label=label))
    avatars.save(caller=bob, save=AvatarSave(job_id=_succeeded_avatar_job(bob), label="bob's"))

    with query_items() as returned:
        first = avatars.list_avatars(caller=alice, limit=10, offset=0)
    assert [a.label for a in first.data] == labels[::-1][:10]
    assert (first.total, first.has_more) == (MANY, True)
    assert sum(returned) <= 11  # the page, not the account

    middle = avatars.list_avatars(caller=alice, limit=25, offset=20)
    assert [a.label for a in middle.data] == labels[::-1][20:45]
    last = avatars.list_avatars(caller=alice, limit=10, offset=50)
    assert [a.label for a in last.data] == labels[9::-1]
    assert (last.total, last.has_more) == (MANY, False)
    assert avatars.list_avatars(caller=alice, limit=10, offset=60).data == []
    shown = avatars.list_avatars(caller=bob, limit=10, offset=0)
    assert ([a.label for a in shown.data], shown.total) == (["bob's"], 1)


# ---------------------------------------------------------------------------- wardrobe avatars


def test_wardrobe_avatars_page_and_count_results_from_counters(ticks: Ticks) -> None:
    from likeness.wardrobe.avatars import WardrobeAvatarCreate

    alice = paying_caller(name="alice")
    service = _wardrobe_avatars()
    _, [source, _] = _finished_generation(alice, ticks, clothing_item_ids=[1])
    ids = [
        service.create(
            caller=alice, create=WardrobeAvatarCreate(avatar_name=f"m{n:02d}", generation_result_id=source)
        ).avatar_id
        for n in range(MANY)
    ]
    newest = ids[-1]
    _finished_generation(alice, ticks, clothing_item_ids=[1], avatar_id=newest)  # two results

    with query_items() as returned:
        first = service.list(caller=alice, page=1, items_per_page=10)
    assert [a.avatar_id for a in first.data] == ids[::-1][:10]
    assert (first.total_count, first.max_page, first.current_page) == (MANY, 6, 1)
    assert sum(returned) <= 11
    assert [a.count_generation_results for a in first.data] == [2] + [0] * 9
    assert service.get(caller=alice, avatar_id=newest).count_generation_results == 2
    assert [
        a.avatar_id for a in _pages(lambda p, s: service.list(caller=alice, page=p, items_per_page=s), 7, 9)
    ] == (ids[::-1])

    for avatar_id in ids[:5]:
        service.delete(caller=alice, avatar_id=avatar_id)
    after = service.list(caller=alice, page=6, items_per_page=10)
    assert (after.total_count, after.max_page) == (MANY - 5, 6)
    assert [a.avatar_id for a in after.data] == ids[9:4:-1]
    assert service.list(caller=paying_caller(name="bob"), page=1, items_per_page=10).total_count == 0


# ---------------------------------------------------------------------------- clothing items


def test_clothing_items_page_from_the_index_and_total_from_a_counter(ticks: Ticks) -> None:
    from likeness.wiring import clothing_service

    alice = paying_caller(name="alice")
    clothing = clothing_service()
    ids = [_clothing_item(alice, f"c{n:02d}") for n in range(MANY)]

    with query_items() as returned:
        first = clothing.list(caller=alice, page=1, items_per_page=10)
    assert [c.clothing_item_id for c in first.data] == ids[::-1][:10]
    assert (first.total_count, first.max_page) == (MANY, 6)
    assert sum(returned) <= 11
    shown = _pages(lambda p, s: clothing.list(caller=alice, page=p, items_per_page=s), 25, 3)
    assert [c.clothing_item_id for c in shown] == ids[::-1]

    for item_id in (ids[0], ids[30], ids[-1]):
        clothing.delete(caller=alice, clothing_item_id=item_id)
    after = clothing.list(caller=alice, page=1, items_per_page=19)
    assert (after.total_count, after.max_page) == (MANY - 3, 3)
    assert [c.clothing_item_id for c in after.data] == ids[-2:-21:-1]
    kept = [i for i in ids[::-1] if i not in (ids[0], ids[30], ids[-1])]
    shown = _pages(lambda p, s: clothing.list(caller=alice, page=p, items_per_page=s), 19, 4)
    assert [c.clothing_item_id for c in shown] == kept


# ---------------------------------------------------------------------------- generation results


def test_generation_results_page_filter_and_count(ticks: Ticks) -> None:
    from likeness.wiring import clothing_service, generation_service

    alice, bob = paying_caller(name="alice"), paying_caller(name="bob")
    generations = generation_service()
    shirt, skirt = _clothing_item(alice, "shirt"), _clothing_item(alice, "skirt")
    made: list[tuple[int, list[int]]] = [
        _finished_generation(alice, ticks, clothing_item_ids=[shirt if n % 2 == 0 else skirt])
        for n in range(MANY // 2)
    ]
    bob_generation, _ = _finished_generation(bob, ticks, clothing_item_ids=[shirt])
    newest_first = [r for _, results in made[::-1] for r in results[::-1]]
    of_shirt = [r for g, (_, results) in enumerate(made) if g % 2 == 0 for r in results][::-1]

    def listed(page: int, size: int, **filters: Any) -> Any:
        return generations.results(caller=alice, page=page, items_per_page=size, **filters)

    with query_items() as returned:
        first = listed(1, 10)
    assert [r.generation_result_id for r in first.data] == newest_first[:10]
    assert (first.total_count, first.max_page) == (MANY, 6)
    assert sum(returned) <= 11
    assert [r.generation_result_id for r in _pages(listed, 10, 6)] == newest_first

    with query_items() as returned:
        shirts = listed(1, 10, clothing_item_ids=[shirt])
    assert [r.generation_result_id for r in shirts.data] == of_shirt[:10]
    assert (shirts.total_count, shirts.max_page) == (MANY // 2, 3)
    assert sum(returned) <= 25  # a filtered page reads one batch of the index (25), not the account
    assert [r.generation_result_id for r in listed(1, 25, clothing_item_ids=[shirt]).data] == of_shirt[:25]
    assert [r.generation_result_id for r in listed(2, 25, clothing_item_ids=[shirt]).data] == of_shirt[25:]
    assert listed(1, 10, clothing_item_ids=[shirt, skirt, shirt]).total_count == MANY

    # a few generations are read by key, whatever the account holds (another account's: none)
    picked = [made[1][0], made[4][0], bob_generation]
    by_generation = listed(1, 3, generation_ids=picked)
    assert [r.generation_result_id for r in by_generation.data] == [*made[4][1][::-1], made[1][1][1]]
    assert (by_generation.total_count, by_generation.max_page) == (4, 2)
    assert [r.generation_result_id for r in listed(2, 3, generation_ids=picked).data] == [made[1][1][0]]
    assert listed(1, 10, generation_ids=picked, clothing_item_ids=[shirt]).total_count == 2

    with pytest.raises(Unprocessable) as refused:
        listed(1, 10, clothing_item_ids=list(range(1, 102)))
    assert refused.value.error_code == "too_many_ids"

    # deletes move the counters: one generation, then every generation of the skirt
    generations.delete(caller=alice, generation_id=made[0][0])
    assert listed(1, 10).total_count == MANY - 2
    assert listed(1, 10, clothing_item_ids=[shirt]).total_count == MANY // 2 - 2
    clothing_service().delete(caller=alice, clothing_item_id=skirt)
    remaining = listed(1, 10)
    assert remaining.total_count == MANY // 2 - 2
    assert [r.generation_result_id for r in remaining.data] == of_shirt[:10]
    assert listed(1, 10, clothing_item_ids=[skirt]).total_count == 0
    assert generations.results(caller=bob, page=1, items_per_page=10).total_count == 2
