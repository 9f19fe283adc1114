"""GET /identity, one page at a time: the caller's own identities, those shared with the
caller's groups, and the platform's defaults, newest first, each read only as far as the page.

Sources (each sorted by ``<created>#<code>`` on GSI1):
  OWNER#<account> / IDENTITY#<created>#<code>   an account's identities (the platform's are the
                                                defaults)
  GROUP#<group> / SHARE#<created>#<code>        an identity shared with the group (the share
                                                row, GROUP#<group> / SHARE#<code>, carries it)

A page at ``offset`` is the k-way merge of the sources, each read to at most ``offset + size``
items: an item among the first ``offset + size`` of the merge is among the first that many of
its own source. One identity can be in several sources (the caller's own identity shared with
its group, another's shared with two of its groups); the merge keeps it once.

The total comes from the counters sharing.py moves, never from counting rows. Identities shared
with a caller's groups S are counted once each, however many of S they are shared with: each is
counted under its one exact share set T (T meets S), and every such T is listed in the counters
of the groups of S it holds, so the distinct sets found across S's counter items add up to the
distinct identities. The caller's own identities among them (listed with the caller's own) are
taken off with the caller's own ``shareset`` counters.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from likeness.accounts.models import PLATFORM_ACCOUNT_ID, Caller
from likeness.aws.dynamodb import DynamoTable, Filter, Item
from likeness.identities.models import Visibility
from likeness.identities.sharing import (
    SHARESET,
    group_counts_key,
    identity_key,
    owner_counts_key,
    shareset_groups,
    visibility_counter,
)


@dataclass(frozen=True)
class _Source:
    pk: str
    sk_prefix: str
    where: Filter | None
    shares: bool  # its rows are share rows (the identity is read by key), not identities


def _order(row: Item) -> str:
    # "<created>#<code>": created is fixed-width ISO time, so this sorts as (created, code)
    return str(row["GSI1SK"]).split("#", 1)[1]


class IdentityLister:
    def __init__(self, *, table: DynamoTable) -> None:
        self._table = table

    def page(
        self,
        *,
        caller: Caller,
        groups: Sequence[str],
        visibility: Visibility | None,
        offset: int,
        limit: int,
    ) -> tuple[list[Item], int]:
        """The identities at ``[offset, offset + limit)`` of what the caller sees, newest first,
        and how many it sees in all."""
        me = caller.account_id
        with_shares = visibility in (None, Visibility.SHARED) and bool(groups)
        # the platform's own identities are its defaults: its own source lists them
        with_defaults = (
            visibility in (None, Visibility.DEFAULT)
            and caller.plan_info.includes_default_identities
            and me != PLATFORM_ACCOUNT_ID
        )
        sources = [_Source(f"OWNER#{me}", "IDENTITY#", _visibility_is(visibility), shares=False)]
        if with_shares:
            # unfiltered, so a page reads only itself: the caller's own identities shared with
            # its groups come again from there, and the merge keeps them once
            sources += [_Source(f"GROUP#{g}", "SHARE#", None, shares=True) for g in sorted(set(groups))]
        if with_defaults:
            defaults = _visibility_is(Visibility.DEFAULT)
            sources.append(_Source(f"OWNER#{PLATFORM_ACCOUNT_ID}", "IDENTITY#", defaults, shares=False))

        if len(sources) == 1:
            # one sorted source: the page itself, the rows before it counted, not read
            rows = self._read(sources[0], offset=offset, limit=limit)
            chosen = [(row, sources[0].shares) for row in rows]
        else:
            chosen = self._merged(sources, offset=offset, limit=limit)
        total = self._total(me, groups if with_shares else (), visibility, with_defaults)
        return self._identities(chosen), total

    # ------------------------------------------------------------------ the page
    def _read(self, source: _Source, *, offset: int, limit: int) -> list[Item]:
        return self._table.query_page(
            source.pk,
            sk_prefix=source.sk_prefix,
            index="GSI1",
            forward=False,
            offset=offset,
            limit=limit,
            where=source.where,
        )

    def _merged(self, sources: Sequence[_Source], *, offset: int, limit: int) -> list[tuple[Item, bool]]:
        wanted = offset + limit
        streams = [[(row, s.shares) for row in self._read(s, offset=0, limit=wanted)] for s in sources]
        seen: set[str] = set()
        ordered: list[tuple[Item, bool]] = []
        for row, shares in heapq.merge(*streams, key=lambda entry: _order(entry[0]), reverse=True):
            if row["identity_code"] in seen:
                continue  # shared with several of the caller's groups: shown once
            seen.add(row["identity_code"])
            ordered.append((row, shares))
            if len(ordered) == wanted:
                break
        return ordered[offset:]

    def _identities(self, chosen: Sequence[tuple[Item, bool]]) -> list[Item]:
        """The page's identity items, in order (a share row's identity read by key)."""
        shared = self._table.batch_get(
            [identity_key(row["identity_code"]) for row, shares in chosen if shares]
        )
        by_code = {i["identity_code"]: i for i in shared}
        out = []
        for row, shares in chosen:
            item = by_code.get(row["identity_code"]) if shares else row
            if item is not None:
                out.append(item)
        return out

    # ------------------------------------------------------------------ the total
    def _total(
        self, me: str, groups: Sequence[str], visibility: Visibility | None, with_defaults: bool
    ) -> int:
        keys = [owner_counts_key(me)]
        if with_defaults:
            keys.append(owner_counts_key(PLATFORM_ACCOUNT_ID))
        keys += [group_counts_key(g) for g in sorted(set(groups))]
        items = {(i["PK"], i["SK"]): i for i in self._table.batch_get(keys)}
        own = items.get(owner_counts_key(me), {})

        def counter(item: Item, name: str) -> int:
            return max(0, int(item.get(name) or 0))

        wanted = [v.value for v in Visibility] if visibility is None else [visibility.value]
        total = sum(counter(own, visibility_counter(v)) for v in wanted)
        if with_defaults:
            platform = items.get(owner_counts_key(PLATFORM_ACCOUNT_ID), {})
            total += counter(platform, visibility_counter(Visibility.DEFAULT.value))
        if groups:
            member_of = set(groups)
            # each exact share set once, from whichever of the caller's groups lists it
            sets: dict[str, int] = {}
            for group in member_of:
                item = items.get(group_counts_key(group), {})
                for name in item:
                    if name.startswith(SHARESET):
                        sets[name] = counter(item, name)
            mine = sum(
                counter(own, name)
                for name in own
                if name.startswith(SHARESET) and shareset_groups(name) & member_of
            )
            total += max(0, sum(sets.values()) - mine)
        return total


def _visibility_is(visibility: Visibility | None) -> Filter | None:
    if visibility is None:
        return None
    return Filter("visibility = :visibility", values={":visibility": visibility.value})
