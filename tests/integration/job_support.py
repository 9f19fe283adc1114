"""What the job-system integration tests share: a paying caller and its balance."""

from __future__ import annotations

from likeness.accounts.models import Caller


def paying_caller(credits: int = 100, *, name: str = "jobs") -> Caller:
    """A new account with ``credits`` and a read/write key's caller."""
    from likeness.wiring import account_service

    account = account_service().create_account(name=name, plan="pro", credits=credits)
    return Caller(
        account_id=account.account_id,
        plan="pro",
        key_id="k",
        scopes=frozenset({"identities:read", "identities:write"}),
    )


def credits_of(caller: Caller) -> int:
    from likeness.wiring import account_service

    return account_service().get_account(caller.account_id).credits
