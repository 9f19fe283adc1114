"""Accounts, keys, groups and credits over the single table.

Layout (PK / SK):
  ACCOUNT#<id> / ACCOUNT            the account, its plan, credit balance and identity count
  APIKEY#<hmac> / APIKEY            one API key (GSI1: ACCOUNT#<id> / APIKEY#<key_id>)
  GROUP#<name> / GROUP              a group of accounts
  GROUP#<name> / MEMBER#<id>        a membership (GSI1: ACCOUNT#<id> / GROUP#<name>)
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable

from likeness.accounts.keys import display_prefix, generate_api_key, hash_api_key
from likeness.accounts.models import (
    DEFAULT_SCOPES,
    PLANS,
    Account,
    Caller,
    IssuedKey,
    Scope,
)
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Item, TransactItem
from likeness.clock import now_iso
from likeness.errors import BadRequest, Conflict, InsufficientCredits, NotFound, Unauthorized

GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _require_positive(amount: int) -> None:
    if amount <= 0:
        raise BadRequest("credit amounts are positive whole numbers")


def _account_from_item(item: Item) -> Account:
    return Account(
        account_id=item["account_id"],
        name=item["name"],
        plan=item["plan"],
        credits=int(item.get("credits", 0)),
        identity_count=int(item.get("identity_count", 0)),
        created_at=item["created_at"],
    )


class AccountService:
    def __init__(self, *, table: DynamoTable, pepper: str | Callable[[], str]) -> None:
        """``pepper``: the key pepper, or what reads it when a key is first hashed (functions
        that only move credits never read the secret)."""
        self._table = table
        self._pepper_source = pepper

    @property
    def _pepper(self) -> str:
        source = self._pepper_source
        return source if isinstance(source, str) else source()

    # -- accounts
    def create_account(
        self, *, name: str, plan: str = "free", credits: int = 0, account_id: str | None = None
    ) -> Account:
        if plan not in PLANS:
            raise BadRequest(f"unknown plan {plan!r}; plans are {', '.join(PLANS)}")
        account_id = account_id or "acc_" + secrets.token_hex(8)
        item = {
            "PK": account_pk(account_id),
            "SK": "ACCOUNT",
            "type": "account",
            "account_id": account_id,
            "name": name,
            "plan": plan,
            "credits": credits,
            "identity_count": 0,
            "created_at": now_iso(),
        }
        try:
            self._table.put(item, condition="attribute_not_exists(PK)")
        except ConditionFailed as exc:
            raise Conflict(f"account {account_id} already exists", code="account_exists") from exc
        return _account_from_item(item)

    def get_account(self, account_id: str) -> Account:
        item = self._table.get(account_pk(account_id), "ACCOUNT")
        if item is None:
            raise NotFound(f"account {account_id} not found")
        return _account_from_item(item)

    def set_plan(self, *, account_id: str, plan: str) -> Account:
        if plan not in PLANS:
            raise BadRequest(f"unknown plan {plan!r}; plans are {', '.join(PLANS)}")
        try:
            item = self._table.update(
                account_pk(account_id),
                "ACCOUNT",
                update="SET #plan = :plan",
                condition="attribute_exists(PK)",
                names={"#plan": "plan"},
                values={":plan": plan},
            )
        except ConditionFailed as exc:
            raise NotFound(f"account {account_id} not found") from exc
        return _account_from_item(item)

    # -- keys
    def issue_key(
        self,
        *,
        account_id: str,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        api_key: str | None = None,
        label: str = "",
        demo: bool = False,
    ) -> IssuedKey:
        """A persistent developer key, or (``demo``) a demo sandbox key."""
        account = self.get_account(account_id)
        scope_list = tuple(sorted({Scope(s).value for s in scopes}))
        api_key = api_key or generate_api_key()
        key_id = "key_" + secrets.token_hex(6)
        digest = hash_api_key(api_key, pepper=self._pepper)
        item = {
            "PK": f"APIKEY#{digest}",
            "SK": "APIKEY",
            "GSI1PK": account_pk(account.account_id),
            "GSI1SK": f"APIKEY#{key_id}",
            "type": "api_key",
            "key_id": key_id,
            "account_id": account.account_id,
            "prefix": display_prefix(api_key),
            "scopes": list(scope_list),
            "label": label,
            "kind": "demo" if demo else "developer",
            "created_at": now_iso(),
        }
        try:
            self._table.put(item, condition="attribute_not_exists(PK)")
        except ConditionFailed as exc:
            raise Conflict("that API key is already registered", code="api_key_exists") from exc
        return IssuedKey(key_id=key_id, api_key=api_key, account_id=account.account_id, scopes=scope_list)

    def find_key(self, api_key: str) -> Item | None:
        return self._table.get(f"APIKEY#{hash_api_key(api_key, pepper=self._pepper)}", "APIKEY")

    def list_keys(self, account_id: str) -> list[Item]:
        return [
            {
                k: v
                for k, v in item.items()
                if k in ("key_id", "prefix", "scopes", "label", "kind", "created_at", "revoked_at")
            }
            for item in self._table.query(account_pk(account_id), sk_prefix="APIKEY#", index="GSI1")
        ]

    def revoke_key(self, *, account_id: str, key_id: str) -> None:
        for item in self._table.query(account_pk(account_id), sk_prefix=f"APIKEY#{key_id}", index="GSI1"):
            self._table.update(
                item["PK"], "APIKEY", update="SET revoked_at = :now", values={":now": now_iso()}
            )
            return
        raise NotFound(f"key {key_id} not found for account {account_id}")

    def authenticate(self, api_key: str) -> Caller:
        key = self.find_key(api_key)
        if key is None or key.get("revoked_at"):
            raise Unauthorized(
                "invalid or revoked API key", fix="Send a valid key as 'Authorization: Bearer KEY'."
            )
        account = self.get_account(key["account_id"])
        return Caller(
            account_id=account.account_id,
            plan=account.plan,
            key_id=key["key_id"],
            scopes=frozenset(key.get("scopes", [])),
            demo=key.get("kind") == "demo",
        )

    # -- groups
    def create_group(self, name: str) -> None:
        if not GROUP_NAME.match(name):
            raise BadRequest("group names are 1-64 letters, digits, '_', '.' or '-'")
        try:
            self._table.put(
                {
                    "PK": f"GROUP#{name}",
                    "SK": "GROUP",
                    "type": "group",
                    "name": name,
                    "created_at": now_iso(),
                },
                condition="attribute_not_exists(PK)",
            )
        except ConditionFailed as exc:
            raise Conflict(f"group {name} already exists", code="group_exists") from exc

    def group_exists(self, name: str) -> bool:
        return self._table.get(f"GROUP#{name}", "GROUP") is not None

    def add_member(self, *, group: str, account_id: str) -> None:
        if not self.group_exists(group):
            raise NotFound(f"group {group} not found")
        self.get_account(account_id)
        self._table.put(
            {
                "PK": f"GROUP#{group}",
                "SK": f"MEMBER#{account_id}",
                "GSI1PK": account_pk(account_id),
                "GSI1SK": f"GROUP#{group}",
                "type": "membership",
                "group": group,
                "account_id": account_id,
                "created_at": now_iso(),
            }
        )

    def remove_member(self, *, group: str, account_id: str) -> None:
        self._table.delete(f"GROUP#{group}", f"MEMBER#{account_id}")

    def groups_of(self, account_id: str) -> list[str]:
        return [
            i["group"] for i in self._table.query(account_pk(account_id), sk_prefix="GROUP#", index="GSI1")
        ]

    def is_member(self, *, group: str, account_id: str) -> bool:
        return self._table.get(f"GROUP#{group}", f"MEMBER#{account_id}") is not None

    # -- credits
    def add_credits(self, *, account_id: str, amount: int) -> int:
        _require_positive(amount)
        try:
            return self._add_credits(account_id, amount)
        except ConditionFailed as exc:
            raise NotFound(f"account {account_id} not found") from exc

    def charge_credits(self, *, account_id: str, amount: int) -> int:
        """Atomically take credits, or raise InsufficientCredits and change nothing."""
        _require_positive(amount)
        try:
            return self._add_credits(account_id, -amount, balance_at_least=amount)
        except ConditionFailed as exc:
            balance = self.get_account(account_id).credits
            raise InsufficientCredits(
                f"this needs {amount} credits and the account has {balance}",
                fix="Add credits to the account, then retry.",
            ) from exc

    def _add_credits(self, account_id: str, delta: int, *, balance_at_least: int = 0) -> int:
        # one conditional write: concurrent charges can never overdraw the balance
        item = self._table.update(
            account_pk(account_id),
            "ACCOUNT",
            update="ADD credits :delta",
            condition="attribute_exists(PK) AND credits >= :floor",
            values={":delta": delta, ":floor": balance_at_least},
        )
        return int(item["credits"])


def charge_write(account_id: str, amount: int) -> TransactItem:
    """Take ``amount`` credits inside a caller's transaction; the condition never lets it overdraw."""
    return TransactItem(
        kind="Update",
        key={"PK": account_pk(account_id), "SK": "ACCOUNT"},
        update="ADD credits :delta",
        condition="attribute_exists(PK) AND credits >= :amount",
        values={":delta": -amount, ":amount": amount},
    )


def refund_write(account_id: str, amount: int) -> TransactItem:
    return TransactItem(
        kind="Update",
        key={"PK": account_pk(account_id), "SK": "ACCOUNT"},
        update="ADD credits :delta",
        condition="attribute_exists(PK)",
        values={":delta": amount},
    )
