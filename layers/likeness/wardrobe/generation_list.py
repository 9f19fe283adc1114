"""``GET /generations``: one page of an account's generation jobs, read from an index sorted
the way the page is asked for, with totals from the job counters (see ``likeness.jobs.models``).

Filters: ``external_id`` is the job id (one read); ``feature_name`` and ``batch_id`` are kept as
``list_filters`` on each generation job, so every combination of them, and of a status, has a
counter; on the page query they are a FilterExpression.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from likeness.aws.dynamodb import DynamoTable, Filter, Item
from likeness.counters import read_counts
from likeness.jobs.models import JobState, job_key
from likeness.wardrobe.models import STATUS_WORDS, GenerationPublic
from likeness.wardrobe.pages import Page
from likeness.wardrobe.store import GENERATION_INDEX_PREFIX, GENERATION_JOB_TYPE


def generation_list_filters(*, model_slug: str, batch_id: int | None) -> list[str]:
    """The filter values a generation job keeps counters for (see ``counter_name``)."""
    names = [f"model:{model_slug}"]
    if batch_id is not None:
        names += [f"batch:{batch_id}", f"batch:{batch_id}/model:{model_slug}"]
    return names


def counter_name(*, model_slug: str | None, batch_id: int | None) -> str:
    name = f"jobs:{GENERATION_INDEX_PREFIX}"
    if batch_id is not None:
        name += f"/batch:{batch_id}"
    if model_slug is not None:
        name += f"/model:{model_slug}"
    return name


def model_of(feature_name: str | None) -> str | None:
    """``model:seedream-4.5`` or the bare slug, as the list has always accepted."""
    if feature_name is None:
        return None
    return feature_name.removeprefix("model:")


def generation_page(
    table: DynamoTable,
    *,
    account_id: str,
    page: int,
    items_per_page: int,
    present: Callable[[Item], GenerationPublic],
    status: str | None = None,
    feature_name: str | None = None,
    external_id: str | None = None,
    batch_id: int | None = None,
    sort_field: str = "created_at",
    newest_first: bool = True,
) -> Page[GenerationPublic]:
    model_slug = model_of(feature_name)
    states = None if status is None else [s for s, word in STATUS_WORDS.items() if word == status]
    if states == []:
        return _page(page, items_per_page, 0, [])  # a status word no state has
    if external_id is not None:
        job = table.get(*job_key(external_id))
        found = (
            job is not None
            and job["account_id"] == account_id
            and job["job_type"] == GENERATION_JOB_TYPE
            and (batch_id is None or job["inputs"].get("batch_id") == batch_id)
            and (model_slug is None or job["inputs"]["model_slug"] == model_slug)
            and (states is None or JobState(job["state"]) in states)
        )
        jobs = [job] if found and job is not None and page == 1 else []
        return _page(page, items_per_page, 1 if found else 0, [present(j) for j in jobs])

    where = _where(model_slug=model_slug, batch_id=batch_id, states=states)
    if sort_field == "updated_at":
        pk, index, prefix = f"ACCOUNT#{account_id}#{GENERATION_INDEX_PREFIX}", "GSI3", None
    else:
        pk, index, prefix = f"ACCOUNT#{account_id}", "GSI1", f"{GENERATION_INDEX_PREFIX}#"
    jobs = table.query_page(
        pk,
        index=index,
        sk_prefix=prefix,
        forward=not newest_first,
        offset=(page - 1) * items_per_page,
        limit=items_per_page,
        where=where,
    )
    counter = counter_name(model_slug=model_slug, batch_id=batch_id)
    names = [counter] if states is None else [f"{counter}@{s.value}" for s in states]
    total = sum(read_counts(table, account_id, names).values())
    return _page(page, items_per_page, total, [present(j) for j in jobs])


def _where(*, model_slug: str | None, batch_id: int | None, states: list[JobState] | None) -> Filter | None:
    parts: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, object] = {}
    if model_slug is not None:
        parts.append("inputs.model_slug = :model")
        values[":model"] = model_slug
    if batch_id is not None:
        parts.append("inputs.batch_id = :batch")
        values[":batch"] = batch_id
    if states is not None:
        placeholders = {f":state{i}": state.value for i, state in enumerate(states)}
        parts.append(f"#state IN ({', '.join(placeholders)})")
        names["#state"] = "state"
        values |= placeholders
    if not parts:
        return None
    return Filter(" AND ".join(parts), names=names, values=values)


def _page(page: int, items_per_page: int, total: int, data: list[GenerationPublic]) -> Page[GenerationPublic]:
    return Page[GenerationPublic](
        current_page=page,
        max_page=max(1, math.ceil(total / items_per_page)),
        total_count=total,
        data=data,
    )
