"""How the media lists read only the page they return (DESIGN: no request reads a whole account).

Files and identities each have a list of their own on GSI1, sorted the list's way (files newest
first, identities by name); each audit trail is a partition sorted by time. A page is one query
with a limit (``DynamoTable.query_page``); the totals come from counters that move in the same
transaction as the writes that add or remove what they count:

  ACCOUNT#<account> / COUNTS (likeness.counters)
    media_files                                 the account's files
    media_identities                            its identities
    media_identities/source:<s>/status:<t>      its identities of one source and status: the
                                                ``source`` / ``status`` filters add these up
    media_audit                                 its audit entries
  MEDIA#<account> / COUNTER#audit#<uuid>        ``entries``: the audit entries naming one identity
                                                (an item each: an account has any number of them)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from likeness.aws.dynamodb import DynamoTable, Filter, Item
from likeness.counters import read_counts
from likeness.media.models import IdentitySource, IdentityStatus

FILES_COUNTER = "media_files"
IDENTITIES_COUNTER = "media_identities"
AUDIT_COUNTER = "media_audit"
# sorts below every character a name can go on with: "ann" before "ann b", as in Python
_NAME_END = "\x00"


def file_list_pk(account_id: str) -> str:
    return f"MEDIAFILES#{account_id}"


def file_list_keys(account_id: str, created_at: str, file_uuid: str) -> dict[str, str]:
    return {"GSI1PK": file_list_pk(account_id), "GSI1SK": f"{created_at}#{file_uuid}"}


def identity_list_pk(account_id: str) -> str:
    return f"MEDIAIDENTITIES#{account_id}"


def identity_list_keys(account_id: str, name_key: str, identity_uuid: str) -> dict[str, str]:
    """An identity's place in the account's list: by name key, then uuid."""
    return {"GSI1PK": identity_list_pk(account_id), "GSI1SK": f"{name_key}{_NAME_END}{identity_uuid}"}


def audit_counter_sk(identity_uuid: str) -> str:
    return f"COUNTER#audit#{identity_uuid}"


def identity_counter(source: str, status: str) -> str:
    return f"{IDENTITIES_COUNTER}/source:{source}/status:{status}"


def identity_counters(item: Item) -> tuple[str, str]:
    """The counters an identity adds to: the account's, and its source and status's."""
    return IDENTITIES_COUNTER, identity_counter(item["source"], item["status"])


def identity_filter(source: IdentitySource | None, status: IdentityStatus | None) -> Filter | None:
    """The page query's filter for the list's ``source`` / ``status`` (None: every identity)."""
    parts: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for placeholder, attr, value in (("src", "source", source), ("st", "status", status)):
        if value is not None:
            parts.append(f"#{placeholder} = :{placeholder}")
            names[f"#{placeholder}"] = attr
            values[f":{placeholder}"] = value.value
    return Filter(" AND ".join(parts), names, values) if parts else None


def identity_total(
    table: DynamoTable, account_id: str, source: IdentitySource | None, status: IdentityStatus | None
) -> int:
    """How many identities the filters match, added up from the counters (one item read)."""
    if source is None and status is None:
        return read_counts(table, account_id, [IDENTITIES_COUNTER])[IDENTITIES_COUNTER]
    names = [
        identity_counter(s.value, t.value)
        for s in ([source] if source is not None else list(IdentitySource))
        for t in ([status] if status is not None else list(IdentityStatus))
    ]
    return sum(read_counts(table, account_id, names).values())


def identity_count_changes(old: Item | None, new: Item | None) -> dict[str, int]:
    """What moves when an identity appears (``old`` None), goes (``new`` None) or changes source
    or status: empty when no counter moves."""
    changes: dict[str, int] = {}
    for item, delta in ((old, -1), (new, 1)):
        if item is not None:
            for name in identity_counters(item):
                changes[name] = changes.get(name, 0) + delta
    return {name: delta for name, delta in changes.items() if delta}


def page_of(matches: Iterable[Item], page: int, page_size: int) -> tuple[int, list[Item]]:
    """How many ``matches`` there are, and those on the page; only the page is kept."""
    first = (page - 1) * page_size
    count = 0
    shown: list[Item] = []
    for item in matches:
        if first <= count < first + page_size:
            shown.append(item)
        count += 1
    return count, shown
