"""Seeding for the local stack: a developer account with a known or fresh key."""

from __future__ import annotations

from likeness.accounts.models import DEFAULT_SCOPES, PLATFORM_ACCOUNT_ID, Scope
from likeness.accounts.service import AccountService
from likeness.errors import Conflict, NotFound

DEV_ACCOUNT_ID = "acc_dev"


def ensure_platform_account(accounts: AccountService) -> None:
    try:
        accounts.get_account(PLATFORM_ACCOUNT_ID)
    except NotFound:
        accounts.create_account(name="Likeness platform", plan="platform", account_id=PLATFORM_ACCOUNT_ID)


def seed_dev_account(*, api_key: str | None, accounts: AccountService | None = None) -> tuple[str, str]:
    """Create (once) the developer account and register ``api_key`` for it (or a new key)."""
    if accounts is None:
        from likeness.wiring import account_service

        accounts = account_service()
    ensure_platform_account(accounts)
    try:
        accounts.get_account(DEV_ACCOUNT_ID)
    except NotFound:
        accounts.create_account(name="Local developer", plan="pro", credits=1000, account_id=DEV_ACCOUNT_ID)
    if api_key and accounts.find_key(api_key) is not None:
        return DEV_ACCOUNT_ID, api_key
    scopes = (*DEFAULT_SCOPES, Scope.ADMIN)
    try:
        issued = accounts.issue_key(account_id=DEV_ACCOUNT_ID, scopes=scopes, api_key=api_key, label="dev")
    except Conflict:  # registered concurrently
        assert api_key is not None
        return DEV_ACCOUNT_ID, api_key
    return DEV_ACCOUNT_ID, issued.api_key
