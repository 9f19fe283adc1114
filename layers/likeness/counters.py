"""Per-account counts of what the lists show, kept beside the items they count.

A list answers ``total_count`` / ``max_page`` from these counters instead of counting rows, so
its cost does not grow with the account. Each counter moves in the same transaction as the
write that adds or removes what it counts (``count_change``), so it never drifts from the rows;
concurrent changes are ``ADD``s, which DynamoDB applies atomically.

Counters live in one item per account, ``ACCOUNT#<id>`` / ``COUNTS``; their names say what
they count (``avatars``, ``jobs/type:avatar``, ``wardrobe_generations:Done`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from likeness.aws.dynamodb import DynamoTable, TransactItem

COUNTS_SK = "COUNTS"


def counts_key(account_id: str) -> dict[str, str]:
    return {"PK": f"ACCOUNT#{account_id}", "SK": COUNTS_SK}


def count_change(account_id: str, changes: Mapping[str, int]) -> TransactItem:
    """One transaction item that adds ``changes`` (negative to remove) to the account's counters."""
    moved = {name: delta for name, delta in changes.items() if delta}
    if not moved:
        raise ValueError("count_change needs at least one non-zero change")
    names = {f"#c{i}": name for i, name in enumerate(moved)}
    values = {f":c{i}": delta for i, delta in enumerate(moved.values())}
    return TransactItem(
        kind="Update",
        key=counts_key(account_id),
        update="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(moved))),
        names=names,
        values=values,
    )


def counted_delete(account_id: str, key: tuple[str, str], counter: str) -> list[TransactItem]:
    """Deleting one of the account's items and taking it out of its list's count, once: the
    condition (it is there, and the account's) fails for a second delete or another account."""
    pk, sk = key
    return [
        TransactItem(
            kind="Delete",
            key={"PK": pk, "SK": sk},
            condition="attribute_exists(PK) AND account_id = :owner",
            values={":owner": account_id},
        ),
        count_change(account_id, {counter: -1}),
    ]


def apply_change(table: DynamoTable, account_id: str, changes: Mapping[str, int]) -> None:
    """``count_change`` on its own, for a write that is not a transaction."""
    change = count_change(account_id, changes)
    key = counts_key(account_id)
    assert change.update is not None
    table.update(key["PK"], key["SK"], update=change.update, names=change.names, values=change.values)


def read_counts(table: DynamoTable, account_id: str, names: Iterable[str]) -> dict[str, int]:
    """The named counters (0 for one never moved): one item read, whatever the account's size."""
    key = counts_key(account_id)
    item = table.get(key["PK"], key["SK"]) or {}
    return {name: max(0, int(item.get(name) or 0)) for name in names}


def read_count(table: DynamoTable, account_id: str, name: str) -> int:
    return read_counts(table, account_id, [name])[name]


# -- counters kept in an item of their own
#
# A surface whose writes share a transaction with another counted write on the same account
# (an identity and its preprocessing job, a generation's results and its job's completion)
# keeps its counters in an item of its own: a transaction may touch an item only once.


def count_change_at(pk: str, sk: str, changes: Mapping[str, int]) -> TransactItem:
    """``count_change`` for the counters item ``pk`` / ``sk``."""
    change = count_change("-", changes)
    change.key = {"PK": pk, "SK": sk}
    return change

