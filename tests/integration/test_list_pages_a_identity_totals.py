"""GET /identity's exact totals from counters through shares, unshares and deletes (a module
of its own: the identity world is made once per module's emulator)."""

from __future__ import annotations

from typing import Any

from likeness.accounts.models import Caller
from likeness.identities.models import Visibility
from tests.integration.identity_world import listed, newest_first
from tests.integration.identity_world import world as world  # the fixture


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
    assert listed(service, alice, 10) == (newest_first(created, visible), 62)
