"""Who can see, share and delete which identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser, wait_for_status
from tests.helpers import error_code

pytestmark = pytest.mark.e2e


def _codes(user: ApiUser, **params: str) -> set[str]:
    resp = user.client.get("/identity", params=params)
    assert resp.status_code == 200, resp.text
    return {i["identity_code"] for i in resp.json()["data"]}


def test_requests_without_a_valid_key_are_refused_by_the_authorizer(api_url: str, alice: ApiUser) -> None:
    """API Gateway's answer to a request its Lambda authorizer refuses (docs/security.md)."""
    import httpx

    refused = {"message": "Forbidden"}
    missing = httpx.get(f"{api_url}/identity")
    assert (missing.status_code, missing.json()) == (403, refused)
    bad = httpx.get(f"{api_url}/identity", headers={"Authorization": "Bearer lk_not_a_real_key"})
    assert (bad.status_code, bad.json()) == (403, refused)
    assert httpx.get(f"{api_url}/identity", headers={"Authorization": "Basic abc"}).status_code == 403
    # both header forms authenticate
    assert httpx.get(f"{api_url}/identity", headers={"X-API-Key": alice.api_key}).status_code == 200
    assert (
        httpx.get(f"{api_url}/identity", headers={"Authorization": f"Bearer {alice.api_key}"}).status_code
        == 200
    )


def test_a_read_only_key_may_list_but_not_upload(make_user: Callable[..., ApiUser]) -> None:
    reader = make_user(scopes=("identities:read",))
    assert reader.client.get("/identity").status_code == 200
    resp = reader.upload_fixture("obama.jpg")
    assert resp.status_code == 403
    assert "identities:write" in resp.json()["detail"]["message"]


def test_only_admins_may_add_default_identities(alice: ApiUser) -> None:
    resp = alice.upload_fixture("obama.jpg", visibility="default")
    assert resp.status_code == 403


def test_another_account_cannot_see_share_or_delete_a_private_identity(alice: ApiUser, bob: ApiUser) -> None:
    from likeness.wiring import account_service

    code = alice.upload_fixture("obama2.jpg").json()["identity_code"]
    accounts = account_service()
    group = f"g-{code[-6:]}"
    accounts.create_group(group)
    accounts.add_member(group=group, account_id=bob.account_id)

    assert code not in _codes(bob)
    for method, path in [
        ("GET", f"/identity/{code}"),
        ("GET", f"/identity/{code}/status"),
        ("GET", f"/identity/{code}/results"),
        ("POST", f"/identity/{code}/share/{group}"),
        ("DELETE", f"/identity/{code}"),
    ]:
        resp = bob.client.request(method, path)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["detail"]["code"] == "not_found"
    # still there, untouched, for its owner
    mine = alice.client.get(f"/identity/{code}").json()
    assert mine["visibility"] == "private" and mine["shared_with"] == []


def test_a_group_member_sees_a_shared_identity_until_it_is_unshared(
    make_user: Callable[..., ApiUser],
) -> None:
    from likeness.wiring import account_service

    owner, member, outsider = make_user(), make_user(), make_user()
    accounts = account_service()
    group = f"studio-{owner.account_id[-6:]}"
    accounts.create_group(group)
    accounts.add_member(group=group, account_id=owner.account_id)
    accounts.add_member(group=group, account_id=member.account_id)

    code = owner.upload_fixture("biden.jpg", name="Joe").json()["identity_code"]
    wait_for_status(owner, code)

    shared = owner.client.post(f"/identity/{code}/share/{group}")
    assert shared.status_code == 200, shared.text
    assert shared.json()["visibility"] == "shared"
    assert shared.json()["shared_with"] == [group]

    assert code in _codes(member)
    assert code in _codes(member, visibility="shared")
    assert code not in _codes(outsider)
    seen = member.client.get(f"/identity/{code}")
    assert seen.status_code == 200
    assert seen.json()["owned"] is False and seen.json()["shared_with"] == []
    assert member.client.get(f"/identity/{code}/results").status_code == 200
    # seeing is not owning
    assert member.client.delete(f"/identity/{code}").status_code == 403
    assert member.client.delete(f"/identity/{code}/share/{group}").status_code == 403

    # sharing with a group one is not in, or one that does not exist
    other_group = f"other-{owner.account_id[-6:]}"
    accounts.create_group(other_group)
    assert owner.client.post(f"/identity/{code}/share/{other_group}").status_code == 403
    assert error_code(owner.client.post(f"/identity/{code}/share/no-such-group"), 404) == "group_not_found"

    unshared = owner.client.delete(f"/identity/{code}/share/{group}")
    assert unshared.status_code == 200
    assert unshared.json()["visibility"] == "private"
    assert code not in _codes(member)
    assert error_code(member.client.get(f"/identity/{code}"), 404) == "not_found"
    assert error_code(owner.client.delete(f"/identity/{code}/share/{group}"), 404) == "share_not_found"


def test_default_identities_follow_the_plan(make_user: Callable[..., ApiUser], local_stack: Any) -> None:
    # the seeded developer key carries the admin scope, which default identities need
    admin = make_user()
    admin.client.headers["X-API-Key"] = local_stack.info.api_key
    resp = admin.upload_fixture("rose_leslie_img1.jpg", name="Platform Rose", visibility="default")
    assert resp.status_code == 201, resp.text
    code = resp.json()["identity_code"]
    assert resp.json()["visibility"] == "default"

    pro, free = make_user(plan="pro"), make_user(plan="free")
    assert code in _codes(pro, visibility="default")
    assert code not in _codes(pro, visibility="private")
    assert pro.client.get(f"/identity/{code}").status_code == 200
    assert code not in _codes(free)
    assert error_code(free.client.get(f"/identity/{code}"), 404) == "not_found"
    # visible to the plan, owned by the platform
    assert pro.client.delete(f"/identity/{code}").status_code == 403


def test_uploading_as_shared_shares_with_all_of_the_owners_groups(make_user: Callable[..., ApiUser]) -> None:
    from likeness.wiring import account_service

    owner, member, loner = make_user(), make_user(), make_user()
    accounts = account_service()
    group = f"crew-{owner.account_id[-6:]}"
    accounts.create_group(group)
    for user in (owner, member):
        accounts.add_member(group=group, account_id=user.account_id)

    resp = owner.upload_fixture("lin-manuel-miranda.png", visibility="shared")
    assert resp.status_code == 201, resp.text
    assert resp.json()["visibility"] == "shared" and resp.json()["shared_with"] == [group]
    assert resp.json()["identity_code"] in _codes(member, visibility="shared")
    # with no group to share with, "shared" is refused rather than silently private
    refused = loner.upload_fixture("lin-manuel-miranda.png", visibility="shared")
    assert refused.status_code == 400
    assert "belongs to none" in refused.json()["detail"]["message"]


def test_listing_paginates_and_filters(alice: ApiUser) -> None:
    for i in range(3):
        assert alice.upload_fixture("obama_small.jpg", name=f"page-{i}").status_code == 201
    # default identities (the plan includes them) are filtered out, to count only alice's
    first = alice.client.get("/identity", params={"visibility": "private", "page": 1, "page_size": 2}).json()
    second = alice.client.get("/identity", params={"visibility": "private", "page": 2, "page_size": 2}).json()
    assert first["total_count"] == 3 and first["max_page"] == 2 and first["current_page"] == 1
    assert len(first["data"]) == 2 and len(second["data"]) == 1
    names = [i["name"] for i in first["data"] + second["data"]]
    assert names == ["page-2", "page-1", "page-0"]  # newest first
    assert alice.client.get("/identity", params={"visibility": "shared"}).json()["total_count"] == 0
    assert alice.client.get("/identity", params={"page_size": 0}).status_code == 422
    assert alice.client.get("/identity", params={"visibility": "everyone"}).status_code == 422


def test_deleting_an_identity_removes_its_records_and_files(alice: ApiUser) -> None:
    from tests.e2e.conftest import bucket_keys

    code = alice.upload_fixture("obama-240p.jpg").json()["identity_code"]
    wait_for_status(alice, code)
    assert bucket_keys(f"identities/{code}/")
    assert alice.client.delete(f"/identity/{code}").status_code == 204
    assert error_code(alice.client.get(f"/identity/{code}"), 404) == "not_found"
    assert bucket_keys(f"identities/{code}/") == []
    assert error_code(alice.client.delete(f"/identity/{code}"), 404) == "not_found"
