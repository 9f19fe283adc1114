"""What sharing an identity writes, and the counters the identity list answers its total from.

Every change to an identity's visibility or groups (create, share, unshare, delete) is one
transaction, guarded by the state it was planned from (``ShareState.condition``) and moving the
counters with it (``count_writes``), so the counters stay exact under concurrent changes:
  ACCOUNT#<owner> / COUNTS#IDENTITY   ``visibility:<v>``: the owner's identities by
                                      visibility; ``shareset:<g1,g2..>``: the owner's
                                      identities shared with exactly those groups
  GROUP#<group> / COUNTS#IDENTITY     ``shareset:<g1,g2..>``: identities (of any owner) shared
                                      with exactly those groups, for every set holding the group
(They live in items of their own: an identity's creation also moves its job's counters in the
account's ``COUNTS`` item, and a transaction touches an item once.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from likeness.aws.dynamodb import Item, TransactItem
from likeness.counters import count_change_at
from likeness.identities.models import Visibility


def identity_key(code: str) -> tuple[str, str]:
    return f"IDENTITY#{code}", "IDENTITY"


def _key(code: str) -> Item:
    pk, sk = identity_key(code)
    return {"PK": pk, "SK": sk}


IDENTITY_COUNTS_SK = "COUNTS#IDENTITY"


def owner_counts_key(account_id: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", IDENTITY_COUNTS_SK


def group_counts_key(group: str) -> tuple[str, str]:
    return f"GROUP#{group}", IDENTITY_COUNTS_SK


def visibility_counter(visibility: str) -> str:
    return f"visibility:{visibility}"


SHARESET = "shareset:"


def shareset_counter(groups: Iterable[str]) -> str:
    # group names are letters, digits, '_', '.' and '-': a comma cannot be part of one
    return SHARESET + ",".join(sorted(groups))


def shareset_groups(counter: str) -> frozenset[str]:
    return frozenset(counter[len(SHARESET) :].split(","))


@dataclass(frozen=True)
class ShareState:
    """What an identity's counters depend on: its visibility and the groups it is shared with."""

    visibility: str
    groups: frozenset[str]

    @staticmethod
    def of(item: Item) -> ShareState:
        return ShareState(str(item["visibility"]), frozenset(item.get("shared_with") or ()))

    def condition(self) -> tuple[str, dict[str, object]]:
        """A condition that holds while the identity is still in this state (placeholders
        ``:was_*``), so counters moved from it stay exact under concurrent changes."""
        values: dict[str, object] = {":was_vis": self.visibility}
        if not self.groups:
            return "visibility = :was_vis AND attribute_not_exists(shared_with)", values
        groups = sorted(self.groups)
        values[":was_n"] = len(groups)
        values.update({f":was_g{n}": g for n, g in enumerate(groups)})
        held = " AND ".join(f"contains(shared_with, :was_g{n})" for n in range(len(groups)))
        return f"visibility = :was_vis AND size(shared_with) = :was_n AND {held}", values


def count_writes(owner: str, before: ShareState | None, after: ShareState | None) -> list[TransactItem]:
    """The counter writes for an identity of ``owner`` going from ``before`` to ``after``
    (None: not there), one per counters item: for the transaction that makes the change."""
    owner_changes: Counter[str] = Counter()
    group_changes: dict[str, Counter[str]] = {}
    for state, sign in ((before, -1), (after, 1)):
        if state is None:
            continue
        owner_changes[visibility_counter(state.visibility)] += sign
        if state.groups:
            owner_changes[shareset_counter(state.groups)] += sign
            for group in state.groups:
                group_changes.setdefault(group, Counter())[shareset_counter(state.groups)] += sign
    writes = []
    for (pk, sk), changes in [
        (owner_counts_key(owner), owner_changes),
        *[(group_counts_key(g), c) for g, c in sorted(group_changes.items())],
    ]:
        if any(changes.values()):
            writes.append(count_change_at(pk, sk, changes))
    return writes


def share_row(item: Item, group: str, *, now: str) -> Item:
    """The row that shares identity ``item`` with ``group``, listed in the group's GSI1 by the
    identity's creation time."""
    code = item["identity_code"]
    return {
        "PK": f"GROUP#{group}",
        "SK": f"SHARE#{code}",
        "GSI1PK": f"GROUP#{group}",
        "GSI1SK": f"SHARE#{item['created_at']}#{code}",
        "type": "identity_share",
        "identity_code": code,
        "owner_account_id": item["owner_account_id"],
        "group": group,
        "created_at": now,
    }


def share_writes(item: Item, group: str, *, now: str) -> list[TransactItem] | None:
    """Share ``item`` with ``group`` (None: it already is)."""
    before = ShareState.of(item)
    if group in before.groups:
        return None
    guard, guarded = before.condition()
    return [
        TransactItem(
            kind="Update",
            key=_key(item["identity_code"]),
            update="ADD shared_with :group SET visibility = :shared, updated_at = :now",
            condition=f"attribute_exists(PK) AND {guard}",
            values={":group": {group}, ":shared": Visibility.SHARED.value, ":now": now, **guarded},
        ),
        TransactItem(kind="Put", item=share_row(item, group, now=now)),
        *count_writes(
            item["owner_account_id"], before, ShareState(Visibility.SHARED.value, before.groups | {group})
        ),
    ]


def unshare_writes(item: Item, group: str, *, now: str) -> list[TransactItem] | None:
    """Stop sharing ``item`` with ``group`` (None: it is not shared with it). The visibility
    stays: ``private_again_writes`` turns it private once no group is left."""
    before = ShareState.of(item)
    if group not in before.groups:
        return None
    guard, guarded = before.condition()
    code = item["identity_code"]
    return [
        TransactItem(
            kind="Update",
            key=_key(code),
            update="DELETE shared_with :group SET updated_at = :now",
            condition=f"attribute_exists(PK) AND {guard}",
            values={":group": {group}, ":now": now, **guarded},
        ),
        TransactItem(kind="Delete", key={"PK": f"GROUP#{group}", "SK": f"SHARE#{code}"}),
        *count_writes(
            item["owner_account_id"], before, ShareState(before.visibility, before.groups - {group})
        ),
    ]


def private_again_writes(item: Item) -> list[TransactItem]:
    """A shared identity with no group left becomes private (fails while it has a group)."""
    shared, private = Visibility.SHARED.value, Visibility.PRIVATE.value
    return [
        TransactItem(
            kind="Update",
            key=_key(item["identity_code"]),
            update="SET visibility = :private",
            condition="attribute_exists(PK) AND attribute_not_exists(shared_with) AND visibility = :shared",
            values={":private": private, ":shared": shared},
        ),
        *count_writes(
            item["owner_account_id"], ShareState(shared, frozenset()), ShareState(private, frozenset())
        ),
    ]


def removal_writes(item: Item) -> list[TransactItem]:
    """The identity's record, its share rows and its counts, as they are in ``item``."""
    code = item["identity_code"]
    state = ShareState.of(item)
    guard, guarded = state.condition()
    return [
        TransactItem(
            kind="Delete", key=_key(code), condition=f"attribute_exists(PK) AND {guard}", values=guarded
        ),
        *[
            TransactItem(kind="Delete", key={"PK": f"GROUP#{g}", "SK": f"SHARE#{code}"})
            for g in sorted(state.groups)
        ],
        *count_writes(item["owner_account_id"], state, None),
    ]
