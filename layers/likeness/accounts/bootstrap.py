"""Seeding for the local stack: a developer account with a known or fresh key, and the
platform's default identities (the reference library) from shipped portraits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from likeness.accounts.models import DEFAULT_SCOPES, PLATFORM_ACCOUNT_ID, Caller, Scope
from likeness.accounts.service import AccountService
from likeness.errors import Conflict, NotFound

if TYPE_CHECKING:
    from likeness.identities.service import IdentityService

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


def _platform_admin() -> Caller:
    return Caller(
        account_id=PLATFORM_ACCOUNT_ID,
        plan="platform",
        key_id="local-seed",
        scopes=frozenset({Scope.ADMIN.value}),
    )


def seed_default_library(
    portraits: Iterable[tuple[str, bytes]],
    *,
    accounts: AccountService | None = None,
    identities: IdentityService | None = None,
) -> list[str]:
    """Add each ``(name, photo)`` as a default (platform) identity unless one of that name exists,
    so starting again adds nothing. Returns the codes of the identities made now; each is queued
    for preprocessing like any upload, and joins the library once that completes."""
    from likeness.identities.models import IdentityCreate, Visibility

    if accounts is None or identities is None:
        from likeness.wiring import account_service, identity_service

        accounts = accounts or account_service()
        identities = identities or identity_service()
    ensure_platform_account(accounts)
    admin = _platform_admin()
    created = []
    for name, photo in portraits:
        try:
            identity = identities.upload_identity(
                caller=admin, create=IdentityCreate(name=name, visibility=Visibility.DEFAULT), data=photo
            )
        except Conflict as exc:
            if exc.error_code != "identity_name_taken":
                raise
            continue  # seeded before (or by an administrator): left as it is
        created.append(identity.identity_code)
    return created


def library_still_preprocessing(
    codes: Iterable[str], *, identities: IdentityService | None = None
) -> list[str]:
    """Those of these default identities whose preprocessing has not finished (pending, processing)."""
    from likeness.identities.models import PreprocessingStatus

    if identities is None:
        from likeness.wiring import identity_service

        identities = identity_service()
    admin = _platform_admin()
    finished = (PreprocessingStatus.COMPLETED, PreprocessingStatus.FAILED)
    return [
        code
        for code in codes
        if identities.get_status(caller=admin, identity_code=code).preprocessing_status not in finished
    ]
