"""Integer ids, as the wardrobe spec shows them, from atomic per-kind counters.

COUNTER#<kind> / COUNTER holds the last id handed out; ``ADD`` makes concurrent callers get
distinct ids without a read. A block (``count`` > 1) is one write.
"""

from __future__ import annotations

from likeness.aws.dynamodb import DynamoTable


class IdAllocator:
    def __init__(self, *, table: DynamoTable) -> None:
        self._table = table

    def allocate(self, kind: str, count: int = 1) -> int:
        """The first of ``count`` new consecutive ids of ``kind``."""
        if count < 1:
            raise ValueError("count must be at least 1")
        item = self._table.update(f"COUNTER#{kind}", "COUNTER", update="ADD last_id :n", values={":n": count})
        return int(item["last_id"]) - count + 1
