"""What DynamoDB can store, checked where a request arrives (a 422 naming the field), never
discovered at write time (a 500).

Numbers go to DynamoDB as decimals of at most 38 significant digits between 1E-130 and
9.99...E+125 in magnitude; NaN and the infinities do not exist there. The check is the one the
writer applies (boto3's DynamoDB context), so the two cannot disagree.
"""

from __future__ import annotations

import math
from decimal import Decimal, DecimalException
from typing import Any

MAX_DEPTH = 32


def check_storable(value: Any, path: str = "", *, depth: int = 0, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValueError naming the path (``a.b[2]``) of the first value DynamoDB cannot hold."""
    from boto3.dynamodb.types import DYNAMODB_CONTEXT

    where = path or "the value"
    if depth > max_depth:
        raise ValueError(f"{where} is nested more than {max_depth} levels deep")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, float | int):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number")
        try:
            DYNAMODB_CONTEXT.create_decimal(Decimal(str(value)) if isinstance(value, float) else value)
        except DecimalException:
            raise ValueError(
                f"{where} cannot be stored: numbers must have at most 38 significant digits and a "
                "magnitude between 1e-130 and 1e126 (or be 0)"
            ) from None
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            if not key:
                raise ValueError(f"{where} has an empty key")
            check_storable(inner, f"{path}.{key}" if path else str(key), depth=depth + 1, max_depth=max_depth)
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            check_storable(inner, f"{path}[{index}]", depth=depth + 1, max_depth=max_depth)


def storable(value: Any) -> Any:
    """A pydantic ``AfterValidator``: the value, if DynamoDB can store it."""
    check_storable(value)
    return value
