"""GET /identity one page at a time: own identities, identities shared with the caller's
groups and the platform's defaults merge newest first, each identity once (own ones shared with
a group, others' shared with two of the caller's groups), and a first page that reads only the
page from each source."""

from __future__ import annotations

from typing import Any

from likeness.identities.models import Visibility
from tests.integration.identity_world import OWN, listed, newest_first
from tests.integration.identity_world import world as world  # the fixture
from tests.integration.list_pages_support import query_items


def test_the_merged_list_shows_each_identity_once_newest_first_reading_only_the_page(
    world: dict[str, Any],
) -> None:
    service, alice, created = world["service"], world["alice"], world["created"]
    own = set(world["shared_by_alice"]) | set(world["private_by_alice"])
    others = {world["bob_both"], world["bob_g2"]}
    defaults = set(world["defaults"])

    everything = newest_first(created, own | others | defaults)
    assert len(everything) == OWN + 2 + 3
    for size in (7, 10, 65):
        assert listed(service, alice, size) == (everything, len(everything))
    shared = newest_first(created, set(world["shared_by_alice"]) | others)
    assert listed(service, alice, 9, Visibility.SHARED) == (shared, len(shared))
    private = newest_first(created, set(world["private_by_alice"]))
    assert listed(service, alice, 9, Visibility.PRIVATE) == (private, 40)
    assert listed(service, alice, 2, Visibility.DEFAULT) == (newest_first(created, defaults), 3)

    # bob sees his own three, alice's 20 shared, and the defaults; carol her defaults only
    bob_sees = newest_first(
        created,
        {world["bob_both"], world["bob_g2"], world["bob_private"]} | set(world["shared_by_alice"]) | defaults,
    )
    assert listed(service, world["bob"], 10) == (bob_sees, 26)
    assert listed(service, world["carol"], 10) == (newest_first(created, defaults), 3)
    assert listed(service, world["carol"], 10, Visibility.SHARED) == ([], 0)

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
