"""Characters and their versions.

Layout (PK / SK):
  CHARACTER#<account>#<slug> / CHARACTER          the character: name, active version, version counter
                                                  (GSI1: ACCOUNT#<account> / CHARACTER#<slug>)
  CHARACTER#<account>#<slug> / VERSION#<000001>   one immutable version: profile, behavioral_thresholds
  CHARACTER#<account>#<slug> / ASSET#<asset_id>   a visual asset (likeness.characters.assets)

The slug is unique per account because it is part of the partition key. A profile or thresholds
change writes a new version and moves ``active_version_id`` to it in one transaction; older
versions stay readable.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.characters.models import (
    BehavioralThresholds,
    CharacterCreate,
    CharacterPatch,
    CharacterPublic,
    CharacterVersionPublic,
)
from likeness.clock import now_iso
from likeness.errors import BadRequest, Conflict, Forbidden, NotFound

# optimistic retries when two PATCHes race for the next version number
_PATCH_ATTEMPTS = 5
# GET /v1/characters: a page of this many unless ``limit`` says otherwise (1-100)
LIST_LIMIT = 50


def character_pk(account_id: str, slug: str) -> str:
    return f"CHARACTER#{account_id}#{slug}"


def character_key(account_id: str, slug: str) -> tuple[str, str]:
    return character_pk(account_id, slug), "CHARACTER"


def version_sk(number: int) -> str:
    return f"VERSION#{number:06d}"


def _encode_cursor(offset: int) -> str:
    """The next page's cursor: opaque to the client (where the page starts in the slug order)."""
    return base64.urlsafe_b64encode(f"characters:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, offset = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if kind != "characters" or not offset.isdigit():
            raise ValueError(cursor)
        return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(
            "the cursor is not valid", code="invalid_cursor", fix="Pass next_cursor from the previous page."
        ) from exc


def require_scope(caller: Caller, scope: Scope) -> None:
    if not caller.can(scope):
        raise Forbidden(f"this API key lacks the '{scope.value}' scope")


def character_not_found(slug: str) -> NotFound:
    return NotFound(
        f"character {slug!r} not found",
        code="character_not_found",
        fix="Create it with POST /v1/characters, or check the slug (GET /v1/characters lists yours).",
    )


def to_public(character: Item, version: Item) -> CharacterPublic:
    return CharacterPublic(
        slug=character["slug"],
        name=character["name"],
        active_version_id=character["active_version_id"],
        version=int(version["version"]),
        version_count=int(character["latest_version"]),
        profile=version.get("profile") or {},
        behavioral_thresholds=BehavioralThresholds(**(version.get("behavioral_thresholds") or {})),
        created_at=character["created_at"],
        updated_at=character["updated_at"],
    )


def version_public(version: Item, *, active_version_id: str) -> CharacterVersionPublic:
    return CharacterVersionPublic(
        version_id=version["version_id"],
        version=int(version["version"]),
        active=version["version_id"] == active_version_id,
        profile=version.get("profile") or {},
        behavioral_thresholds=BehavioralThresholds(**(version.get("behavioral_thresholds") or {})),
        created_at=version["created_at"],
    )


class CharacterService:
    def __init__(self, *, table: DynamoTable) -> None:
        self._table = table

    # ------------------------------------------------------------------ writes
    def create(self, *, caller: Caller, create: CharacterCreate) -> tuple[Item, Item]:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        account_id = caller.account_id
        now = now_iso()
        version = self._version_item(
            account_id,
            create.slug,
            number=1,
            profile=create.profile.as_dict(),
            thresholds=create.behavioral_thresholds,
            now=now,
        )
        pk, sk = character_key(account_id, create.slug)
        character: Item = {
            "PK": pk,
            "SK": sk,
            "GSI1PK": f"ACCOUNT#{account_id}",
            "GSI1SK": f"CHARACTER#{create.slug}",
            "type": "character",
            "account_id": account_id,
            "slug": create.slug,
            "name": create.name,
            "active_version_id": version["version_id"],
            "version": 1,
            "latest_version": 1,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._table.transact(
                [
                    TransactItem(kind="Put", item=character, condition="attribute_not_exists(PK)"),
                    TransactItem(kind="Put", item=version, condition="attribute_not_exists(PK)"),
                ]
            )
        except ConditionFailed as exc:
            raise Conflict(
                f"a character with slug {create.slug!r} already exists in this account",
                code="slug_taken",
                fix="Choose another slug, or PATCH /v1/characters/{slug} to change the existing one.",
            ) from exc
        return character, version

    def update(self, *, caller: Caller, slug: str, patch: CharacterPatch) -> tuple[Item, Item]:
        require_scope(caller, Scope.IDENTITIES_WRITE)
        versioned = patch.profile is not None or patch.behavioral_thresholds is not None
        for _ in range(_PATCH_ATTEMPTS):
            character, active = self.require_active(caller=caller, slug=slug)
            if not versioned:
                if patch.name is None:
                    return character, active
                return self._rename(character, patch.name), active
            try:
                return self._new_version(character, active, patch)
            except ConditionFailed:
                continue  # another PATCH took the next number first: rebuild on top of it
        raise Conflict(
            f"character {slug!r} is being changed by other requests; try again",
            code="character_busy",
        )

    def _rename(self, character: Item, name: str) -> Item:
        try:
            return self._table.update(
                character["PK"],
                character["SK"],
                update="SET #name = :name, updated_at = :now",
                condition="attribute_exists(PK)",
                names={"#name": "name"},
                values={":name": name, ":now": now_iso()},
            )
        except ConditionFailed as exc:
            raise character_not_found(character["slug"]) from exc

    def _new_version(self, character: Item, active: Item, patch: CharacterPatch) -> tuple[Item, Item]:
        # the spec's warning, on purpose: a profile sent is the whole new profile
        profile = patch.profile.as_dict() if patch.profile is not None else dict(active.get("profile") or {})
        thresholds = BehavioralThresholds(**(active.get("behavioral_thresholds") or {}))
        if patch.behavioral_thresholds is not None:
            changes = patch.behavioral_thresholds.model_dump(exclude_none=True)
            thresholds = thresholds.model_copy(update=changes)
        current = int(character["latest_version"])
        now = now_iso()
        version = self._version_item(
            character["account_id"],
            character["slug"],
            number=current + 1,
            profile=profile,
            thresholds=thresholds,
            now=now,
        )
        names = {"#version": "version"}
        values = {
            ":n": current + 1,
            ":cur": current,
            ":vid": version["version_id"],
            ":now": now,
        }
        update = "SET #version = :n, latest_version = :n, active_version_id = :vid, updated_at = :now"
        if patch.name is not None:
            update += ", #name = :name"
            names["#name"] = "name"
            values[":name"] = patch.name
        self._table.transact(
            [
                TransactItem(kind="Put", item=version, condition="attribute_not_exists(PK)"),
                TransactItem(
                    kind="Update",
                    key={"PK": character["PK"], "SK": character["SK"]},
                    update=update,
                    condition="latest_version = :cur",
                    names=names,
                    values=values,
                ),
            ]
        )
        updated = self._table.get(character["PK"], character["SK"])
        if updated is None:
            raise character_not_found(character["slug"])
        return updated, version

    @staticmethod
    def _version_item(
        account_id: str,
        slug: str,
        *,
        number: int,
        profile: dict[str, object],
        thresholds: BehavioralThresholds,
        now: str,
    ) -> Item:
        return {
            "PK": character_pk(account_id, slug),
            "SK": version_sk(number),
            "type": "character_version",
            "account_id": account_id,
            "slug": slug,
            "version_id": "ver_" + secrets.token_hex(10),
            "version": number,
            "profile": profile,
            "behavioral_thresholds": thresholds.model_dump(),
            "created_at": now,
        }

    # ------------------------------------------------------------------ reads
    def get(self, *, caller: Caller, slug: str) -> tuple[Item, Item]:
        require_scope(caller, Scope.IDENTITIES_READ)
        return self.require_active(caller=caller, slug=slug)

    def require_active(self, *, caller: Caller, slug: str) -> tuple[Item, Item]:
        """The caller's character and its active version (``version_id``, ``profile``,
        ``behavioral_thresholds``). Checks ownership, not scopes: the caller's route does that."""
        return self.active_for(account_id=caller.account_id, slug=slug)

    def active_for(self, *, account_id: str, slug: str) -> tuple[Item, Item]:
        # another account's character has another partition key: it is simply not found
        character = self._table.get(*character_key(account_id, slug))
        if character is None:
            raise character_not_found(slug)
        version = self._table.get(character["PK"], version_sk(int(character["version"])))
        if version is None:  # written in the same transaction; absent only if the table was edited
            raise character_not_found(slug)
        return character, version

    def list_characters(
        self, *, caller: Caller, limit: int = LIST_LIMIT, cursor: str | None = None
    ) -> tuple[list[tuple[Item, Item]], str | None]:
        """A page of the caller's characters by slug, with each one's active version, and the
        cursor of the next page (None after the last). Only the page is read, and its versions."""
        require_scope(caller, Scope.IDENTITIES_READ)
        offset = _decode_cursor(cursor) if cursor else 0
        characters = self._table.query_page(
            f"ACCOUNT#{caller.account_id}",
            sk_prefix="CHARACTER#",
            index="GSI1",
            offset=offset,
            limit=limit + 1,
        )
        more = len(characters) > limit
        characters = characters[:limit]
        versions = {
            (v["PK"], v["SK"]): v
            for v in self._table.batch_get([(c["PK"], version_sk(int(c["version"]))) for c in characters])
        }
        listed = [
            (c, versions[(c["PK"], version_sk(int(c["version"])))])
            for c in characters
            if (c["PK"], version_sk(int(c["version"]))) in versions
        ]
        return listed, _encode_cursor(offset + limit) if more else None

    def versions(self, *, caller: Caller, slug: str) -> tuple[Item, list[Item]]:
        require_scope(caller, Scope.IDENTITIES_READ)
        character, _ = self.require_active(caller=caller, slug=slug)
        return character, self._table.query(character["PK"], sk_prefix="VERSION#")
