"""Make moto's DynamoDB behave like DynamoDB as an account grows.

moto is an emulator built for correctness on small data; three of its habits break the local
stack (and any benchmark of it) once an account holds thousands of items:

* **Every model instance is kept forever.** ``moto.core.common_models.BaseModel`` appends each
  new instance to a class-level list (for its ``/moto-api/data.json`` dump). A Query deep-copies
  the items it returns and a transaction deep-copies whole tables, so the emulator grew by about
  a kilobyte per item read, without bound (13.5 GB after an hour of traffic). Nothing here uses
  that dump: instances are no longer tracked.
* **A Query reads the whole table.** moto collects every item of the table, sorts them, and
  filters by key. Here each table keeps, per partition of the table and of each GSI, its keys in
  sort order, maintained on every write, so a Query costs the page it returns plus a binary
  search, as in DynamoDB.
* **A transaction copies whole tables** to roll back on failure. Here it snapshots only the
  items it touches.

Installed once per process by ``install()`` (with ``serialise_dynamodb_writes``): in the
emulator's child process, the threaded emulator, and the in-process ``mock_aws`` of the
integration tests. Queries or schemas outside what this index serves (non-string keys, legacy
``KeyConditions``/``QueryFilter``) fall back to moto's own implementation.
"""

from __future__ import annotations

import bisect
import copy
import functools
from collections.abc import Callable
from typing import Any

from infra.local.moto_writes import lock, serialise_dynamodb_writes

_MAX_CHAR = chr(0x10FFFF)


def install() -> None:
    """Idempotent."""
    serialise_dynamodb_writes()
    _stop_tracking_instances()
    _index_queries()
    _item_level_transactions()


# ---------------------------------------------------------------- instance tracking
def _stop_tracking_instances() -> None:
    from moto.core.common_models import BaseModel

    if getattr(BaseModel, "_likeness_untracked", False):
        return

    def untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)  # type: ignore[misc]

    BaseModel.__new__ = staticmethod(untracked_new)  # type: ignore[assignment,method-assign]
    BaseModel._likeness_untracked = True  # type: ignore[attr-defined]
    # what was tracked before this point (provisioning, earlier tests) is let go too
    from moto.core.model_instances import model_data

    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = []  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the key index
class _KeyIndex:
    """Sorted keys per partition, for the table (``None``) and each GSI of one moto Table.

    An entry is ``(sort value, PK, SK, item)``; ``by_key`` remembers where each item is listed,
    so a write can take its old entries out before adding the new ones."""

    def __init__(self, table: Any) -> None:
        self.hash_attr: dict[str | None, str] = {None: table.hash_key_attr}
        self.range_attr: dict[str | None, str] = {None: table.range_key_attr}
        for index in table.global_indexes or []:
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hashes) == 1 and len(ranges) == 1:
                self.hash_attr[index.name] = hashes[0]
                self.range_attr[index.name] = ranges[0]
        self.partitions: dict[str | None, dict[str, list[tuple[str, str, str, Any]]]] = {
            name: {} for name in self.hash_attr
        }
        self.by_key: dict[tuple[str, str], list[tuple[str | None, str, tuple[str, str, str, Any]]]] = {}
        for hash_set in table.items.values():
            for item in hash_set.values():
                self.add(item)

    def add(self, item: Any) -> None:
        pk, sk = item.hash_key.value, item.range_key.value
        listed = []
        for name, hash_attr in self.hash_attr.items():
            hash_value = item.attrs.get(hash_attr)
            range_value = item.attrs.get(self.range_attr[name])
            if hash_value is None or range_value is None or hash_value.type != "S" or range_value.type != "S":
                continue  # not in this index (sparse), as in DynamoDB
            entry = (range_value.value, pk, sk, item)
            entries = self.partitions[name].setdefault(hash_value.value, [])
            bisect.insort(entries, entry, key=_order)
            listed.append((name, hash_value.value, entry))
        self.by_key[(pk, sk)] = listed

    def remove(self, pk: str, sk: str) -> None:
        for name, hash_value, entry in self.by_key.pop((pk, sk), []):
            entries = self.partitions[name].get(hash_value, [])
            at = bisect.bisect_left(entries, _order(entry), key=_order)
            if at < len(entries) and entries[at][3] is entry[3]:
                del entries[at]
            if not entries:
                self.partitions[name].pop(hash_value, None)

    def refresh(self, table: Any, pk: str, sk: str) -> None:
        self.remove(pk, sk)
        item = _stored(table, pk, sk)
        if item is not None:
            self.add(item)


def _order(entry: tuple[str, str, str, Any] | tuple[str, str, str]) -> tuple[str, str, str]:
    return entry[0], entry[1], entry[2]


def _stored(table: Any, pk: str, sk: str) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    partition = table.items.get(DynamoType({"S": pk}))
    return None if partition is None else partition.get(DynamoType({"S": sk}))


def _indexable(table: Any) -> bool:
    return bool(table.range_key_attr) and table.hash_key_type == "S" and table.range_key_type == "S"


def _key_index(table: Any) -> _KeyIndex | None:
    """The table's index, built on first use (under the write lock, so no write is missed)."""
    if not _indexable(table):
        return None
    index: _KeyIndex | None = table.__dict__.get("_likeness_keys")
    if index is None:
        with lock:
            index = table.__dict__.get("_likeness_keys")
            if index is None:
                index = _KeyIndex(table)
                table.__dict__["_likeness_keys"] = index
    return index


def _refresh(table: Any, pk: Any, sk: Any) -> None:
    index: _KeyIndex | None = table.__dict__.get("_likeness_keys")
    if index is not None and pk is not None and sk is not None:
        index.refresh(table, pk.value, sk.value)


def _index_queries() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_likeness_indexed", False):
        return
    original_put: Callable[..., Any] = Table.put_item
    original_delete: Callable[..., Any] = Table.delete_item
    original_update: Callable[..., Any] = DynamoDBBackend.update_item
    original_query: Callable[..., Any] = Table.query

    @functools.wraps(original_put)
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, item_attrs, *args, **kwargs)
        _refresh(self, item.hash_key, item.range_key)
        return item

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_value: Any, range_value: Any) -> Any:
        try:
            return original_delete(self, hash_value, range_value)
        finally:
            _refresh(self, hash_value, range_value)

    @functools.wraps(original_update)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:
            # moto updates the stored item in place: its index keys may have moved
            if table.range_key_attr and table.hash_key_attr in key and table.range_key_attr in key:
                _refresh(table, DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr]))

    @functools.wraps(original_query)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = _indexed_query(self, *args, **kwargs)
        return original_query(self, *args, **kwargs) if answer is None else answer

    query._likeness_indexed = True  # type: ignore[attr-defined]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign,assignment]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _indexed_query(
    table: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    projection_expressions: list[list[str]] | None,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, Any]] | None = None,
    range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
    **filter_kwargs: Any,
) -> tuple[list[Any], int, dict[str, Any] | None] | None:
    """moto's ``Table.query`` answered from the key index; None where it does not apply."""
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    index = _key_index(table)
    if index is None or filter_kwargs or index_name not in index.partitions:
        return None
    if consistent_read and index_name is not None:
        return None  # moto's own answer is the validation error DynamoDB gives
    if hash_key is None or hash_key.type != "S" or len(hash_key_conditions or [hash_key]) != 1:
        return None
    if len(range_key_conditions or []) > 1 or any(v.type != "S" for v in range_objs):
        return None
    with lock:
        entries = index.partitions[index_name].get(hash_key.value, [])
        bounds = _bounds(entries, range_comparison, [v.value for v in range_objs])
        if bounds is None:
            return None
        lo, hi = bounds
        if exclusive_start_key:
            range_attr, hash_attr = index.range_attr[index_name], index.hash_attr[None]
            after = (
                exclusive_start_key[range_attr]["S"],
                exclusive_start_key[hash_attr]["S"],
                exclusive_start_key[index.range_attr[None]]["S"],
            )
            if scan_index_forward:
                lo = max(lo, bisect.bisect_right(entries, after, lo, hi, key=_order))
            else:
                hi = min(hi, bisect.bisect_left(entries, after, lo, hi, key=_order))
        positions = range(lo, hi) if scan_index_forward else range(hi - 1, lo - 1, -1)
        page: list[Any] = []
        size = 0
        last_key = None
        for at in positions:
            item = entries[at][3]
            if (limit is not None and len(page) == limit) or size + item.size() > RESULT_SIZE_LIMIT:
                last_key = table._get_last_evaluated_key(page[-1], index_name)
                break
            page.append(item)
            size += item.size()
        # copies, as moto answers: the response is serialised after the lock is released
        results = copy.deepcopy(page)
    scanned = len(results)
    if index_name:
        projector = table.get_index(index_name)
        results = [projector.project(r) for r in results]
    if filter_expression is not None:
        results = [r for r in results if filter_expression.expr(r)]
    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]
    return results, scanned, last_key


def _bounds(entries: list[Any], comparison: str | None, values: list[str]) -> tuple[int, int] | None:
    """The slice of a partition a key condition on the sort key selects."""

    def left(value: str) -> int:
        return bisect.bisect_left(entries, value, key=lambda e: e[0])

    def right(value: str) -> int:
        return bisect.bisect_right(entries, value, key=lambda e: e[0])

    if comparison is None:
        return 0, len(entries)
    op = comparison.upper()
    if op in ("=", "EQ"):
        return left(values[0]), right(values[0])
    if op in ("<", "LT"):
        return 0, left(values[0])
    if op in ("<=", "LE"):
        return 0, right(values[0])
    if op in (">", "GT"):
        return right(values[0]), len(entries)
    if op in (">=", "GE"):
        return left(values[0]), len(entries)
    if op == "BETWEEN":
        return left(values[0]), right(values[1])
    if op == "BEGINS_WITH":
        prefix = values[0]
        if not prefix:
            return 0, len(entries)
        if prefix[-1] == _MAX_CHAR:
            return None
        # every string that starts with the prefix sorts before its successor
        return left(prefix), left(prefix[:-1] + chr(ord(prefix[-1]) + 1))
    return None


# ---------------------------------------------------------------- transactions
def _item_level_transactions() -> None:
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, "_likeness_item_level", False):
        return
    original: Callable[..., Any] = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            snapshots = _snapshot(self, transact_items)
            if snapshots is None:
                _copies.whole_tables = True  # a transaction this does not understand: moto's way
            try:
                return original(self, transact_items)
            except BaseException:
                if snapshots is not None:
                    _restore(self, snapshots)
                raise
            finally:
                _copies.whole_tables = False

    transact_write_items._likeness_item_level = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    backend_module.copy = _copies  # type: ignore[assignment]


class _TableCopies:
    """``copy`` as moto's DynamoDB backend module sees it: its only deep copy of a whole table
    is the transaction's rollback state, which ``_snapshot`` replaces with copies of the items
    concerned; so a table is handed back as itself (restoring it is then a no-op)."""

    whole_tables = False

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(value, Table) and not self.whole_tables:
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


_copies = _TableCopies()


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]] | None:
    """A copy of each item the transaction may write (None where absent), or None to let moto
    handle a transaction this does not understand."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    for entry in transact_items:
        if len(entry) != 1:
            return None
        kind, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None or not table.range_key_attr:
            return None
        if kind == "ConditionCheck":
            continue
        attrs = op.get("Item") if kind == "Put" else op.get("Key")
        if not attrs or table.hash_key_attr not in attrs or table.range_key_attr not in attrs:
            return None
        pk, sk = DynamoType(attrs[table.hash_key_attr]), DynamoType(attrs[table.range_key_attr])
        current = table.items.get(pk, {}).get(sk)
        saved.append((table, pk, sk, copy.deepcopy(current)))
    return saved


def _restore(backend: Any, snapshots: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, pk, sk, before in reversed(snapshots):
        partition = table.items[pk]
        if before is None:
            partition.pop(sk, None)
        else:
            partition[sk] = before
        if not partition:
            table.items.pop(pk, None)
        _refresh(table, pk, sk)
