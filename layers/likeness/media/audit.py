"""The media audit trail: every change to identities, newest first, for the account and for each
identity it names (likeness.media.store has the layout).

Each copy of an entry is written with its counter in one transaction, so the trail's ``count``
is read from a counter, and a page of it reads only itself.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from likeness.aws.dynamodb import Item, TransactItem
from likeness.clock import now_iso
from likeness.counters import count_change, read_count
from likeness.media.listing import AUDIT_COUNTER, audit_counter_sk
from likeness.media.store import AUDIT_TYPE, MediaStore, account_pk, audit_pk

# a transaction holds 100 writes: an entry's copies go 50 (and their counters) at a time
_COPIES_PER_WRITE = 50


def add_audit(
    store: MediaStore,
    account_id: str,
    *,
    action: str,
    identity_uuids: Sequence[str],
    details: dict[str, Any],
    key_id: str | None,
) -> Item:
    now = now_iso()
    audit_id = "aud_" + secrets.token_hex(8)
    uuids = list(dict.fromkeys(identity_uuids))
    entry: Item = {
        "type": AUDIT_TYPE,
        "audit_id": audit_id,
        "account_id": account_id,
        "action": action,
        "identity_uuid": uuids[0] if uuids else None,
        "identity_uuids": uuids,
        "details_json": json.dumps(details, separators=(",", ":"), default=str),
        "key_id": key_id,
        "created_at": now,
    }
    sk = f"{now}#{audit_id}"
    copies = [(audit_pk(account_id), count_change(account_id, {AUDIT_COUNTER: 1}))]
    copies += [(audit_pk(account_id, u), _identity_counted(account_id, u)) for u in uuids]
    for start in range(0, len(copies), _COPIES_PER_WRITE):
        writes: list[TransactItem] = []
        for pk, counter in copies[start : start + _COPIES_PER_WRITE]:
            writes += [TransactItem(kind="Put", item={**entry, "PK": pk, "SK": sk}), counter]
        store.table.transact(writes)
    return entry


def _identity_counted(account_id: str, identity_uuid: str) -> TransactItem:
    key = {"PK": account_pk(account_id), "SK": audit_counter_sk(identity_uuid)}
    return TransactItem(kind="Update", key=key, update="ADD entries :one", values={":one": 1})


def audit_page(
    store: MediaStore, account_id: str, identity_uuid: str | None, *, offset: int, limit: int
) -> list[Item]:
    """Newest first: only the page is read."""
    pk = audit_pk(account_id, identity_uuid)
    return store.table.query_page(pk, forward=False, offset=offset, limit=limit)


def audit_total(store: MediaStore, account_id: str, identity_uuid: str | None) -> int:
    """How many entries the trail has (the account's, or one identity's): one item read."""
    if identity_uuid is None:
        return read_count(store.table, account_id, AUDIT_COUNTER)
    item = store.table.get(account_pk(account_id), audit_counter_sk(identity_uuid)) or {}
    return int(item.get("entries") or 0)
