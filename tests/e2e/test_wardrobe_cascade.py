"""Deleting a clothing item deletes the generations made with it (the spec): a queued one is
refunded, and the lists' totals drop with them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import ApiUser
from tests.e2e.polling import credits_of
from tests.e2e.test_wardrobe_generations import clothing_item, wait_for_generation, wardrobe_avatar


def test_a_queued_generation_deleted_with_its_clothing_item_is_refunded(
    make_user: Callable[..., ApiUser],
    local_stack: Any,
    image_server: str,
    paused_consumers: Callable[[], None],
) -> None:
    resume = paused_consumers
    user = make_user(credits=100)
    resume()
    doomed, kept = clothing_item(user, back=None), clothing_item(user, "jeans_blue.webp", back=None)
    avatar = wardrobe_avatar(user, f"{image_server}/obama.jpg")
    body = {"avatar_id": avatar, "prompt": "studio", "resolution": "1K"}
    finished = user.client.post("/generation", json={**body, "clothing_item_id": doomed}).json()
    other = user.client.post("/generation", json={**body, "clothing_item_id": kept}).json()
    assert wait_for_generation(user, finished["generation_id"])["status"] == "Done"
    assert wait_for_generation(user, other["generation_id"])["status"] == "Done"

    local_stack.consumers.stop()  # the next one stays queued
    queued = user.client.post("/generation", json={**body, "clothing_item_id": doomed})
    assert queued.status_code == 200, queued.text
    cost = queued.json()["cost"]
    assert cost > 0
    paid = credits_of(user)
    listed = user.client.get("/generations").json()
    assert listed["total_count"] == 3
    assert user.client.get("/generations", params={"status": "Created"}).json()["total_count"] == 1

    assert user.client.delete(f"/clothing-item/{doomed}").status_code == 200
    assert credits_of(user) == paid + cost  # the queued one is refunded; the finished one was made
    after = user.client.get("/generations").json()
    assert after["total_count"] == 1 and after["max_page"] == 1
    assert [g["generation_id"] for g in after["data"]] == [other["generation_id"]]
    assert user.client.get("/generations", params={"status": "Created"}).json()["total_count"] == 0
    assert user.client.get("/generations", params={"status": "Done"}).json()["total_count"] == 1
    results = user.client.get("/generation-results").json()
    assert results["total_count"] == 1 and len(results["data"]) == 1

    # the queued message still reaches the worker: it finds nothing to do, and charges nothing
    local_stack.consumers.start()
    local_stack.consumers.drain(timeout=60)
    assert credits_of(user) == paid + cost
    assert user.client.get("/generations").json()["total_count"] == 1
