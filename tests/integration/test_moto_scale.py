"""The local emulator's DynamoDB answers as DynamoDB does, at a cost that does not grow with the
table: queries from a maintained key index, item-level transaction rollback, no retained copies."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Filter, TransactItem


@pytest.fixture
def table(aws: dict[str, str]) -> DynamoTable:
    from likeness.wiring import table as wired_table

    return wired_table()


@pytest.fixture
def acct() -> str:
    """The module shares one emulator: each test keeps to its own partitions."""
    return uuid.uuid4().hex[:8]


def _keys(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["PK"], i["SK"]) for i in items]


def _seed(table: DynamoTable, n: int, *, account: str) -> list[dict[str, Any]]:
    rng = random.Random(7)
    items = []
    for i in range(n):
        item = {"PK": f"{account}#THING#{i:04d}", "SK": "META", "n": i}
        if i % 3:  # a sparse index: every third item is not listed
            # ties on the sort key are ordered by the table's keys, as in DynamoDB
            item |= {"GSI1PK": f"ACCOUNT#{account}", "GSI1SK": f"T#{rng.randrange(40):03d}"}
        items.append(item)
    table.batch_write(puts=items)
    return items


def _expected(
    items: list[dict[str, Any]], *, prefix: str = "", forward: bool = True
) -> list[tuple[str, str]]:
    listed = [i for i in items if "GSI1PK" in i and i["GSI1SK"].startswith(prefix)]
    listed.sort(key=lambda i: (i["GSI1SK"], i["PK"], i["SK"]), reverse=not forward)
    return _keys(listed)


def test_index_queries_page_in_the_index_order_both_ways(table: DynamoTable, acct: str) -> None:
    items = _seed(table, 120, account=acct)
    for forward in (True, False):
        everything = _keys(table.query(f"ACCOUNT#{acct}", index="GSI1", forward=forward))
        assert everything == _expected(items, forward=forward)
        pages = [
            _keys(table.query_page(f"ACCOUNT#{acct}", index="GSI1", forward=forward, offset=o, limit=7))
            for o in range(0, len(everything), 7)
        ]
        assert [k for page in pages for k in page] == everything
    assert _keys(table.query(f"ACCOUNT#{acct}", index="GSI1", sk_prefix="T#01")) == _expected(
        items, prefix="T#01"
    )
    assert table.query_page(f"ACCOUNT#{acct}", index="GSI1", offset=10_000, limit=5) == []


def test_a_write_moves_an_item_in_every_index_it_is_listed_in(table: DynamoTable, acct: str) -> None:
    _seed(table, 30, account=acct)
    table.update(f"{acct}#THING#0001", "META", update="SET GSI1SK = :sk", values={":sk": "T#999"})
    assert _keys(table.query(f"ACCOUNT#{acct}", index="GSI1", forward=False, limit=1)) == [
        (f"{acct}#THING#0001", "META")
    ]
    table.update(f"{acct}#THING#0002", "META", update="REMOVE GSI1PK")
    table.delete(f"{acct}#THING#0004", "META")
    listed = _keys(table.query(f"ACCOUNT#{acct}", index="GSI1"))
    assert (f"{acct}#THING#0002", "META") not in listed and (f"{acct}#THING#0004", "META") not in listed
    assert len(listed) == 20 - 2
    table.put(
        {"PK": f"{acct}#THING#0004", "SK": "META", "GSI1PK": f"ACCOUNT#{acct}-other", "GSI1SK": "T#000"}
    )
    assert _keys(table.query(f"ACCOUNT#{acct}-other", index="GSI1")) == [(f"{acct}#THING#0004", "META")]


def test_a_cancelled_transaction_leaves_items_and_indexes_as_they_were(table: DynamoTable, acct: str) -> None:
    _seed(table, 9, account=acct)
    before = _keys(table.query(f"ACCOUNT#{acct}", index="GSI1"))
    with pytest.raises(ConditionFailed) as failed:
        table.transact(
            [
                TransactItem(
                    kind="Put",
                    item={"PK": f"{acct}#NEW", "SK": "META", "GSI1PK": f"ACCOUNT#{acct}", "GSI1SK": "A"},
                ),
                TransactItem(
                    kind="Update",
                    key={"PK": f"{acct}#THING#0001", "SK": "META"},
                    update="SET GSI1SK = :z",
                    values={":z": "Z"},
                ),
                TransactItem(kind="Delete", key={"PK": f"{acct}#THING#0002", "SK": "META"}),
                TransactItem(
                    kind="Update",
                    key={"PK": f"{acct}#THING#0003", "SK": "META"},
                    update="SET n = :n",
                    condition="n = :wrong",
                    values={":n": 1, ":wrong": -1},
                ),
            ]
        )
    assert failed.value.reasons[3] == "ConditionalCheckFailed"
    assert table.get(f"{acct}#NEW", "META") is None
    assert table.get(f"{acct}#THING#0002", "META") is not None
    assert _keys(table.query(f"ACCOUNT#{acct}", index="GSI1")) == before


def test_filters_and_counts_skip_exactly(table: DynamoTable, acct: str) -> None:
    items = _seed(table, 60, account=acct)

    odd = Filter("attribute_exists(GSI1SK) AND begins_with(GSI1SK, :t)", values={":t": "T#0"})
    expected = _expected(items, prefix="T#0")
    got = [
        k
        for o in range(0, 40, 4)
        for k in _keys(table.query_page(f"ACCOUNT#{acct}", index="GSI1", offset=o, limit=4, where=odd))
    ]
    assert got == expected
    assert table.count(f"ACCOUNT#{acct}", index="GSI1", where=odd) == len(expected)


def test_the_emulator_keeps_no_copies_of_what_it_answered(table: DynamoTable, acct: str) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    _seed(table, 50, account=acct)
    tracked = len(Item.instances_tracked)
    for _ in range(200):
        table.query(f"ACCOUNT#{acct}", index="GSI1")
        table.transact(
            [
                TransactItem(
                    kind="Update",
                    key={"PK": f"{acct}#THING#0001", "SK": "META"},
                    update="SET n = :n",
                    values={":n": 1},
                )
            ]
        )
    assert len(Item.instances_tracked) == tracked
