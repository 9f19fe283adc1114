"""A world of identities for the GET /identity list tests: own ones, ones shared through two
groups, private ones and the platform's defaults. One world per test module: it creates the
platform account and the groups by name, which a module's emulator holds once."""

from __future__ import annotations

from typing import Any

import pytest

from likeness.accounts.models import PLATFORM_ACCOUNT_ID, Caller, Scope
from likeness.identities.models import Visibility
from tests.helpers import png_bytes
from tests.integration.list_pages_support import OneFacePipeline, tick_modules

OWN = 60


def caller_of(account_id: str, plan: str, scopes: frozenset[str] | None = None) -> Caller:
    return Caller(
        account_id=account_id,
        plan=plan,
        key_id="k",
        scopes=scopes or frozenset({Scope.IDENTITIES_READ.value, Scope.IDENTITIES_WRITE.value}),
    )


def account_of(name: str, plan: str = "pro") -> Caller:
    from likeness.wiring import account_service

    return caller_of(account_service().create_account(name=name, plan=plan).account_id, plan)


def identity_service() -> Any:
    from likeness.aws.clients import get_client
    from likeness.aws.sqs import JobQueue
    from likeness.identities.service import IdentityService
    from likeness.settings import get_settings
    from likeness.wiring import account_service, blob_store, event_publisher, table

    settings = get_settings()
    return IdentityService(
        table=table(),
        blobs=blob_store(),
        queue=JobQueue(client=get_client("sqs"), queue_url=settings.preprocess_queue_url),
        events=event_publisher(),
        accounts=account_service(),
        settings=settings,
        pipeline=OneFacePipeline,
    )


@pytest.fixture
def world(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """alice: 60 identities (every third shared with her groups g1 and g2); bob (in g1 and g2):
    one shared with both groups, one shared with g2 only, one private; carol: in no group;
    the platform: 3 defaults. ``created`` lists every identity code, oldest first."""
    from likeness.identities.models import IdentityCreate
    from likeness.wiring import account_service

    tick_modules(monkeypatch, "likeness.identities.service")
    accounts = account_service()
    alice, bob, carol = account_of("alice"), account_of("bob"), account_of("carol")
    accounts.create_account(name="platform", plan="platform", account_id=PLATFORM_ACCOUNT_ID)
    admin = caller_of(PLATFORM_ACCOUNT_ID, "platform", frozenset({Scope.ADMIN.value}))
    for group in ("g1", "g2"):
        accounts.create_group(group)
        for member in (alice, bob):
            accounts.add_member(group=group, account_id=member.account_id)
    service = identity_service()
    created: list[str] = []

    def upload(caller: Caller, name: str, visibility: Visibility) -> str:
        item = service.upload_identity(
            caller=caller, create=IdentityCreate(name=name, visibility=visibility), data=png_bytes(64, 64)
        )
        created.append(item.identity_code)
        return str(item.identity_code)

    shared_by_alice: list[str] = []
    private_by_alice: list[str] = []
    defaults: list[str] = []
    for n in range(OWN):
        if n == 30:
            defaults.append(upload(admin, "default 1", Visibility.DEFAULT))
            bob_both = upload(bob, "both groups", Visibility.SHARED)
        if n % 3 == 0:
            shared_by_alice.append(upload(alice, f"alice {n}", Visibility.SHARED))
        else:
            private_by_alice.append(upload(alice, f"alice {n}", Visibility.PRIVATE))
    bob_g2 = upload(bob, "g2 only", Visibility.PRIVATE)
    service.share(caller=bob, identity_code=bob_g2, group="g2")
    bob_private = upload(bob, "private", Visibility.PRIVATE)
    defaults += [upload(admin, f"default {n}", Visibility.DEFAULT) for n in (2, 3)]
    return {
        "service": service,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "created": created,
        "shared_by_alice": shared_by_alice,
        "private_by_alice": private_by_alice,
        "bob_both": bob_both,
        "bob_g2": bob_g2,
        "bob_private": bob_private,
        "defaults": defaults,
    }


def listed(
    service: Any, caller: Caller, size: int, visibility: Visibility | None = None
) -> tuple[list[str], int]:
    """Every page's codes in order, and the total the first page gave."""
    first = service.list_identities(caller=caller, visibility=visibility, page=1, page_size=size)
    codes = [i.identity_code for i in first.data]
    for page in range(2, first.max_page + 2):  # one past the last page: empty
        shown = service.list_identities(caller=caller, visibility=visibility, page=page, page_size=size)
        assert shown.total_count == first.total_count
        codes += [i.identity_code for i in shown.data]
    return codes, first.total_count


def newest_first(created: list[str], visible: set[str]) -> list[str]:
    return [code for code in reversed(created) if code in visible]
