"""Sandbox sessions of a character and their event log.

Layout (PK / SK):
  SESSION#<id> / SESSION           the session: owner, character, state, the event counter ``event_seq``
                                   (GSI1: CHARACTER#<account>#<slug> / SESSION#<created>#<id>)
  SESSION#<id> / EVENT#<seq>       one event, seq zero-padded so the sort key orders them

Sequence numbers come from an atomic counter on the session item, so two events never share one.
They only grow; a write that failed after taking a number leaves a gap, which readers skip.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.characters.models import SessionEvent, SessionPublic, SessionState
from likeness.characters.service import CharacterService, character_pk, require_scope
from likeness.clock import now_iso
from likeness.errors import Conflict, NotFound

SESSION_OPENED = "session.opened"
SESSION_EXITED = "session.exited"


def session_key(session_id: str) -> tuple[str, str]:
    return f"SESSION#{session_id}", "SESSION"


def event_sk(seq: int) -> str:
    return f"EVENT#{seq:012d}"


def session_not_found(session_id: str) -> NotFound:
    return NotFound(
        f"session {session_id} not found",
        code="session_not_found",
        fix="Open one with POST /v1/characters/{slug}/sessions and use its session_id.",
    )


def session_public(item: Item) -> SessionPublic:
    return SessionPublic(
        session_id=item["session_id"],
        slug=item["slug"],
        state=SessionState(item["state"]),
        version_id=item["version_id"],
        last_seq=int(item.get("event_seq", 0)),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        exited_at=item.get("exited_at"),
    )


def event_public(item: Item) -> SessionEvent:
    return SessionEvent(
        seq=int(item["seq"]),
        type=item["event_type"],
        data=item.get("data") or {},
        created_at=item["created_at"],
    )


def _event_item(session_id: str, seq: int, event_type: str, data: dict[str, Any], now: str) -> Item:
    pk, _ = session_key(session_id)
    return {
        "PK": pk,
        "SK": event_sk(seq),
        "type": "session_event",
        "session_id": session_id,
        "seq": seq,
        "event_type": event_type,
        "data": data,
        "created_at": now,
    }


class SessionService:
    def __init__(self, *, table: DynamoTable, characters: CharacterService) -> None:
        self._table = table
        self._characters = characters

    # ------------------------------------------------------------------ lifecycle
    def open(self, *, caller: Caller, slug: str) -> Item:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        _, version = self._characters.require_active(caller=caller, slug=slug)
        session_id = "ses_" + secrets.token_hex(10)
        now = now_iso()
        pk, sk = session_key(session_id)
        item: Item = {
            "PK": pk,
            "SK": sk,
            "GSI1PK": character_pk(caller.account_id, slug),
            "GSI1SK": f"SESSION#{now}#{session_id}",
            "type": "character_session",
            "session_id": session_id,
            "account_id": caller.account_id,
            "slug": slug,
            "version_id": version["version_id"],
            "state": SessionState.OPEN.value,
            # the opening event takes seq 1 in the same transaction
            "event_seq": 1,
            "created_at": now,
            "updated_at": now,
        }
        opened = _event_item(
            session_id, 1, SESSION_OPENED, {"slug": slug, "version_id": version["version_id"]}, now
        )
        self._table.transact(
            [
                TransactItem(kind="Put", item=item, condition="attribute_not_exists(PK)"),
                TransactItem(kind="Put", item=opened, condition="attribute_not_exists(PK)"),
            ]
        )
        return item

    def exit(self, *, caller: Caller, session_id: str) -> Item:
        """Close the session; exiting an exited session returns it unchanged."""
        require_scope(caller, Scope.IDENTITIES_WRITE)
        item = self._owned(caller, session_id)
        if item["state"] == SessionState.EXITED.value:
            return item
        exited = self.event_write(session_id=session_id, event_type=SESSION_EXITED, data={})
        now = now_iso()
        pk, sk = session_key(session_id)
        # a concurrent exit may win (the condition fails): its result is the answer
        with contextlib.suppress(ConditionFailed):
            self._table.transact(
                [
                    TransactItem(
                        kind="Update",
                        key={"PK": pk, "SK": sk},
                        update="SET #state = :exited, exited_at = :now, updated_at = :now",
                        condition="#state = :open",
                        names={"#state": "state"},
                        values={
                            ":exited": SessionState.EXITED.value,
                            ":open": SessionState.OPEN.value,
                            ":now": now,
                        },
                    ),
                    exited,
                ]
            )
        return self._owned(caller, session_id)

    # ------------------------------------------------------------------ reads
    def get(self, *, caller: Caller, session_id: str) -> Item:
        require_scope(caller, Scope.IDENTITIES_READ)
        return self._owned(caller, session_id)

    def get_open(self, *, caller: Caller, session_id: str, slug: str) -> Item:
        """The caller's open session of character ``slug``: 404 session_not_found when unknown,
        another account's or another character's; 409 session_exited when exited."""
        item = self._owned(caller, session_id)
        if item["slug"] != slug:
            raise session_not_found(session_id)
        if item["state"] != SessionState.OPEN.value:
            raise Conflict(
                f"session {session_id} has exited",
                code="session_exited",
                fix=f"Open a new session: POST /v1/characters/{slug}/sessions.",
            )
        return item

    def list_sessions(self, *, caller: Caller, slug: str) -> list[Item]:
        require_scope(caller, Scope.IDENTITIES_READ)
        self._characters.require_active(caller=caller, slug=slug)
        return self._table.query(character_pk(caller.account_id, slug), sk_prefix="SESSION#", index="GSI1")

    def events(
        self, *, caller: Caller, session_id: str, since: int, limit: int
    ) -> tuple[Item, list[Item], bool]:
        """The session, its events with ``seq > since`` (oldest first, at most ``limit``), and
        whether more follow."""
        require_scope(caller, Scope.IDENTITIES_READ)
        item = self._owned(caller, session_id)
        pk, _ = session_key(session_id)
        events: list[Item] = []
        has_more = False
        # the adapter queries by prefix only; skipping the old events costs reads, not results
        for event in self._table.iter_query(pk, sk_prefix="EVENT#"):
            if int(event["seq"]) <= since:
                continue
            if len(events) == limit:
                has_more = True
                break
            events.append(event)
        return item, events, has_more

    # ------------------------------------------------------------------ event log
    def event_write(self, *, session_id: str, event_type: str, data: dict[str, Any]) -> TransactItem:
        """A Put of the session's next event, for the caller's own transaction.

        The seq is taken now (an atomic counter on the session), so it is unique even when the
        transaction is never run; that leaves a gap, not a duplicate.
        """
        pk, sk = session_key(session_id)
        try:
            updated = self._table.update(
                pk,
                sk,
                update="ADD event_seq :one",
                condition="attribute_exists(PK)",
                values={":one": 1},
            )
        except ConditionFailed as exc:
            raise session_not_found(session_id) from exc
        seq = int(updated["event_seq"])
        return TransactItem(
            kind="Put",
            item=_event_item(session_id, seq, event_type, data, now_iso()),
            condition="attribute_not_exists(PK)",
        )

    # ------------------------------------------------------------------ helpers
    def _owned(self, caller: Caller, session_id: str) -> Item:
        item = self._table.get(*session_key(session_id))
        # another account's session is indistinguishable from a missing one
        if item is None or item.get("account_id") != caller.account_id:
            raise session_not_found(session_id)
        return item
