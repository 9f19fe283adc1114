"""The wardrobe spec's pagination: ``page`` / ``items_per_page`` in, and
``current_page``, ``max_page``, ``total_count``, ``data`` out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")
DEFAULT_ITEMS_PER_PAGE = 20
MAX_ITEMS_PER_PAGE = 100


class Page(BaseModel, Generic[T]):
    current_page: int
    max_page: int
    total_count: int
    data: list[T]


def page_of(items: Sequence[T], *, page: int, items_per_page: int) -> Page[T]:
    start = (page - 1) * items_per_page
    return Page[T](
        current_page=page,
        max_page=max(1, math.ceil(len(items) / items_per_page)),
        total_count=len(items),
        data=list(items[start : start + items_per_page]),
    )


def page_offset(page: int, items_per_page: int) -> int:
    """How many items come before ``page``."""
    return (page - 1) * items_per_page


def page_from(data: Sequence[T], *, page: int, items_per_page: int, total: int) -> Page[T]:
    """The page already read (``data``), with ``total`` from the list's counter."""
    return Page[T](
        current_page=page,
        max_page=max(1, math.ceil(total / items_per_page)),
        total_count=total,
        data=list(data),
    )
