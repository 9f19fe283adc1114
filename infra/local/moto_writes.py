"""Make moto's DynamoDB apply writes one at a time, as DynamoDB does.

moto checks a write's condition and then applies it without a lock, so two requests served
by its threads at once can both pass a condition only one of them should (two transactions
completing the same job, twenty uploads claiming the same name). DynamoDB serialises
conflicting writes; here every write takes one process-wide lock. Applied in the emulator's
process (the child ``moto.server``, or this one for the threaded emulator and ``mock_aws``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_lock = threading.RLock()
lock = _lock  # shared with moto_scale: its index moves with the writes


def serialise_dynamodb_writes() -> None:
    """Idempotent: wraps each write of moto's DynamoDB backend in one lock."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in WRITES:
        original: Callable[..., Any] | None = getattr(DynamoDBBackend, name, None)
        if original is None or getattr(original, "_serialised", False):
            continue

        def serialised(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with _lock:
                return _original(self, *args, **kwargs)

        functools.update_wrapper(serialised, original)
        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)
