"""Account-side records and the plan catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PLATFORM_ACCOUNT_ID = "platform"


class Scope(StrEnum):
    IDENTITIES_READ = "identities:read"
    IDENTITIES_WRITE = "identities:write"
    # platform operations: default identities, other accounts
    ADMIN = "admin"


DEFAULT_SCOPES: tuple[Scope, ...] = (Scope.IDENTITIES_READ, Scope.IDENTITIES_WRITE)


@dataclass(frozen=True)
class Plan:
    name: str
    identity_slots: int
    # platform ("default") identities are visible to accounts whose plan includes them
    includes_default_identities: bool


PLANS: dict[str, Plan] = {
    "free": Plan("free", identity_slots=3, includes_default_identities=False),
    "starter": Plan("starter", identity_slots=10, includes_default_identities=True),
    "pro": Plan("pro", identity_slots=100, includes_default_identities=True),
    "platform": Plan("platform", identity_slots=1_000_000, includes_default_identities=True),
}


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    plan: str
    credits: int
    identity_count: int
    created_at: str

    @property
    def plan_info(self) -> Plan:
        return PLANS[self.plan]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account behind the presented key, and what that key may do."""

    account_id: str
    plan: str
    key_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    # a demo sandbox key (short-lived playground access): it may not run metered probes
    demo: bool = False

    def can(self, scope: Scope) -> bool:
        return scope.value in self.scopes or Scope.ADMIN.value in self.scopes

    @property
    def plan_info(self) -> Plan:
        return PLANS.get(self.plan, PLANS["free"])


@dataclass(frozen=True)
class IssuedKey:
    """Returned once, at creation: the clear key is never stored."""

    key_id: str
    api_key: str
    account_id: str
    scopes: tuple[str, ...]
