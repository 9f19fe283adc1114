"""GET /identity one page at a time: own identities, identities shared with the caller's
groups and the platform's defaults merge newest first, each identity once (own ones shared with
a group, others' shared with two of the caller's groups), with exact totals from counters
through shares, unshares and deletes, and a first page that reads only the page from each source."""

from __future__ import annotations

from typing import Any

import pytest

from likeness.accounts.models import PLATFORM_ACCOUNT_ID, Caller, Scope
from likeness.identities.models import Visibility
from tests.helpers import png_bytes
from tests.integration.list_pages_support import OneFacePipeline, query_items, tick_modules

OWN = 60


def _caller(account_id: str, plan: str, scopes: frozenset[str] | None = None) -> Caller:
    return Caller(
        account_id=account_id,
        plan=plan,
        key_id="k",
        scopes=scopes or frozenset({Scope.IDENTITIES_READ.value, Scope.IDENTITIES_WRITE.value}),
    )


def _account(name: str, plan: str = "pro") -> Caller:
    from likeness.wiring import account_service

    return _caller(account_service().create_account(name=name, plan=plan).account_id, plan)


def _service() -> Any:
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
    alice, bob, carol = _account("alice"), _account("bob"), _account("carol")
    accounts.create_account(name="platform", plan="platform", account_id=PLATFORM_ACCOUNT_ID)
    admin = _caller(PLATFORM_ACCOUNT_ID, "platform", frozenset({Scope.ADMIN.value}))
    for group in ("g1", "g2"):
        accounts.create_group(group)
        for member in (alice, bob):
            accounts.add_member(group=group, account_id=member.account_id)
    service = _service()
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


def _listed(
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


def _newest_first(created: list[str], visible: set[str]) -> list[str]:
    return [code for code in reversed(created) if code in visible]


def test_the_merged_list_shows_each_identity_once_newest_first_reading_only_the_page(
    world: dict[str, Any],
) -> None:
    service, alice, created = world["service"], world["alice"], world["created"]
    own = set(world["shared_by_alice"]) | set(world["private_by_alice"])
    others = {world["bob_both"], world["bob_g2"]}
    defaults = set(world["defaults"])

    everything = _newest_first(created, own | others | defaults)
    assert len(everything) == OWN + 2 + 3
    for size in (7, 10, 65):
        assert _listed(service, alice, size) == (everything, len(everything))
    shared = _newest_first(created, set(world["shared_by_alice"]) | others)
    assert _listed(service, alice, 9, Visibility.SHARED) == (shared, len(shared))
    private = _newest_first(created, set(world["private_by_alice"]))
    assert _listed(service, alice, 9, Visibility.PRIVATE) == (private, 40)
    assert _listed(service, alice, 2, Visibility.DEFAULT) == (_newest_first(created, defaults), 3)

    # bob sees his own three, alice's 20 shared, and the defaults; carol her defaults only
    bob_sees = _newest_first(
        created,
        {world["bob_both"], world["bob_g2"], world["bob_private"]} | set(world["shared_by_alice"]) | defaults,
    )
    assert _listed(service, world["bob"], 10) == (bob_sees, 26)
    assert _listed(service, world["carol"], 10) == (_newest_first(created, defaults), 3)
    assert _listed(service, world["carol"], 10, Visibility.SHARED) == ([], 0)

    shown = service.list_identities(caller=alice, visibility=None, page=2, page_size=10)
    assert (shown.current_page, shown.page_size, shown.max_page) == (2, 10, 7)
    assert [i.owned for i in shown.data] == [code in own for code in everything[10:20]]

    with query_items() as returned:
        shown = service.list_identities(caller=alice, visibility=Visibility.PRIVATE, page=1, page_size=10)
    assert len(shown.data) == 10 and shown.total_count == 40
    # one source, the page itself: with the visibility a filter on it, at most one batch (25)
    assert sum(returned) <= 25

    with query_items() as returned:
        shown = service.list_identities(caller=alice, visibility=None, page=1, page_size=10)
    assert len(shown.data) == 10 and shown.total_count == OWN + 5
    # her groups (2 rows), then at most a page from each source: her own, g1's, g2's, the defaults
    assert sum(returned) <= 2 + 4 * 10
    with query_items() as returned:
        shown = service.list_identities(caller=alice, visibility=None, page=2, page_size=10)
    assert len(shown.data) == 10
    assert sum(returned) <= 2 + 4 * 20  # page n: the first n pages of each source


def test_totals_follow_shares_unshares_and_deletes(world: dict[str, Any]) -> None:
    service, alice, bob, created = world["service"], world["alice"], world["bob"], world["created"]

    def total(caller: Caller, visibility: Visibility | None = None) -> int:
        return int(
            service.list_identities(caller=caller, visibility=visibility, page=1, page_size=5).total_count
        )

    assert (total(alice), total(alice, Visibility.SHARED), total(alice, Visibility.PRIVATE)) == (65, 22, 40)
    # shared with one group fewer, still seen through the other
    service.unshare(caller=bob, identity_code=world["bob_both"], group="g1")
    assert (total(alice), total(alice, Visibility.SHARED)) == (65, 22)
    service.unshare(caller=bob, identity_code=world["bob_both"], group="g2")
    assert (total(alice), total(alice, Visibility.SHARED), total(bob, Visibility.PRIVATE)) == (64, 21, 2)
    # shared again, with g1 and then g2 as well: once
    service.share(caller=bob, identity_code=world["bob_both"], group="g1")
    service.share(caller=bob, identity_code=world["bob_both"], group="g2")
    service.share(caller=bob, identity_code=world["bob_both"], group="g2")  # already: no change
    assert (total(alice), total(alice, Visibility.SHARED), total(bob, Visibility.PRIVATE)) == (65, 22, 1)

    # alice shares a private one: hers, counted once, now among the shared
    mine = world["private_by_alice"][0]
    service.share(caller=alice, identity_code=mine, group="g1")
    assert (total(alice), total(alice, Visibility.SHARED), total(alice, Visibility.PRIVATE)) == (65, 23, 39)
    assert total(bob) == 26 + 1

    # deletes: one of alice's shared, one private; bob's g2-only one
    service.delete_identity(caller=alice, identity_code=world["shared_by_alice"][0])
    service.delete_identity(caller=alice, identity_code=world["private_by_alice"][1])
    service.delete_identity(caller=bob, identity_code=world["bob_g2"])
    assert (total(alice), total(alice, Visibility.SHARED), total(alice, Visibility.PRIVATE)) == (62, 21, 38)
    assert total(bob) == 25
    gone = {world["shared_by_alice"][0], world["private_by_alice"][1], world["bob_g2"], world["bob_private"]}
    visible = set(created) - gone
    assert _listed(service, alice, 10) == (_newest_first(created, visible), 62)
