"""Signed webhooks through the local stack: the /webhooks API, and deliveries of real events
(an identity upload and its preprocessing) to a receiver on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import ApiUser, bus_events, wait_for_status
from tests.helpers import error_code
from tests.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver(local_stack: Any) -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx
        # nothing left scheduled for the next test (retries run on a 1 s / 2 s schedule here)
        local_stack.consumers.drain(timeout=60)


def _create(user: ApiUser, url: str, **fields: Any) -> dict[str, Any]:
    resp = user.client.post("/webhooks/endpoints", json={"url": url, **fields})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _detail(resp: httpx.Response) -> dict[str, Any]:
    detail: dict[str, Any] = resp.json()["detail"]
    return detail


def test_endpoint_crud_over_http(
    alice: ApiUser, bob: ApiUser, make_user: Callable[..., ApiUser], receiver: Receiver
) -> None:
    resp = alice.client.post(
        "/webhooks/endpoints",
        json={"url": receiver.url("/hook"), "events": ["identity.*"], "description": "studio"},
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    endpoint_id = created["endpoint_id"]
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["identity.*"] and created["enabled"] is True
    assert resp.headers["location"] == f"/webhooks/endpoints/{endpoint_id}"

    listed = alice.client.get("/webhooks/endpoints")
    assert listed.status_code == 200
    [shown] = listed.json()["data"]
    assert shown["endpoint_id"] == endpoint_id and "secret" not in shown
    fetched = alice.client.get(f"/webhooks/endpoints/{endpoint_id}")
    assert fetched.status_code == 200 and "secret" not in fetched.json()

    patched = alice.client.patch(
        f"/webhooks/endpoints/{endpoint_id}", json={"events": ["job.*", "identity.created"]}
    )
    assert patched.status_code == 200, patched.text
    assert (
        patched.json()["events"] == ["job.*", "identity.created"]
        and patched.json()["description"] == "studio"
    )

    rotated = alice.client.post(f"/webhooks/endpoints/{endpoint_id}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != created["secret"]

    disabled = alice.client.post(f"/webhooks/endpoints/{endpoint_id}/disable")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"]
    enabled = alice.client.post(f"/webhooks/endpoints/{endpoint_id}/enable")
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None

    # another account sees nothing and changes nothing
    for method, path in [
        ("GET", f"/webhooks/endpoints/{endpoint_id}"),
        ("PATCH", f"/webhooks/endpoints/{endpoint_id}"),
        ("POST", f"/webhooks/endpoints/{endpoint_id}/rotate-secret"),
        ("POST", f"/webhooks/endpoints/{endpoint_id}/disable"),
        ("GET", f"/webhooks/endpoints/{endpoint_id}/deliveries"),
        ("DELETE", f"/webhooks/endpoints/{endpoint_id}"),
    ]:
        resp = bob.client.request(method, path, json={} if method == "PATCH" else None)
        assert resp.status_code == 404, (method, path, resp.text)
        assert _detail(resp)["code"] == "endpoint_not_found"
    assert bob.client.get("/webhooks/endpoints").json()["data"] == []

    # a read-only key reads but does not write
    reader = make_user(scopes=("identities:read",))
    assert reader.client.get("/webhooks/endpoints").status_code == 200
    assert reader.client.post("/webhooks/endpoints", json={"url": receiver.url("/x")}).status_code == 403
    anonymous = httpx.post(f"{alice.client.base_url}/webhooks/endpoints", json={"url": receiver.url("/x")})
    assert anonymous.status_code == 403  # the API key authorizer refuses it

    deleted = alice.client.delete(f"/webhooks/endpoints/{endpoint_id}")
    assert deleted.status_code == 204
    assert error_code(alice.client.get(f"/webhooks/endpoints/{endpoint_id}"), 404) == "endpoint_not_found"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",
        "http://metadata.google.internal/",
        "http://0.0.0.0:8080/",
        "ftp://example.com/hook",
        "http://user:pass@127.0.0.1/",
    ],
)
def test_hostile_urls_are_refused_even_though_loopback_is_allowed_here(alice: ApiUser, url: str) -> None:
    resp = alice.client.post("/webhooks/endpoints", json={"url": url})
    assert resp.status_code == 400, resp.text
    detail = _detail(resp)
    assert detail["code"] == "url_not_allowed" and detail["message"] and detail["fix"]


def test_invalid_requests_get_the_error_shape(alice: ApiUser) -> None:
    resp = alice.client.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:9/", "events": ["job.**"]})
    assert resp.status_code == 422 and _detail(resp)["code"] == "invalid_request"
    resp = alice.client.post("/webhooks/endpoints", json={"events": ["job.*"]})
    assert resp.status_code == 422
    assert error_code(alice.client.get("/webhooks/deliveries/whdlv_missing"), 404) == "delivery_not_found"
    resp = alice.client.get("/webhooks/events", params={"limit": 1000})
    assert resp.status_code == 422


def test_an_identity_upload_is_delivered_signed_and_logged(
    alice: ApiUser, receiver: Receiver, local_stack: Any
) -> None:
    endpoint = _create(alice, receiver.url("/studio"), events=["identity.*"])
    other = _create(alice, receiver.url("/jobs-only"), events=["job.*"])

    uploaded = alice.upload_fixture("obama.jpg", name="Barack")
    assert uploaded.status_code == 201, uploaded.text
    code = uploaded.json()["identity_code"]
    assert wait_for_status(alice, code)["preprocessing_status"] == "completed"

    local_stack.consumers.drain(timeout=60)  # each attempt is recorded after its answer
    requests = receiver.to("/studio")
    payloads = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in requests]
    mine = [p for p in payloads if p["data"].get("identity_code") == code]
    assert [p["type"] for p in mine] == [
        "identity.created",
        "identity.preprocessing.started",
        "identity.preprocessing.completed",
    ]
    created = mine[0]
    assert created["data"]["name"] == "Barack" and "account_id" not in created["data"]
    assert created["timestamp"] == created["data"]["occurred_at"]
    assert receiver.to("/jobs-only") == []

    # the delivery log, newest first, each with its attempt
    resp = alice.client.get(f"/webhooks/endpoints/{endpoint['endpoint_id']}/deliveries", params={"limit": 2})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    newest = page["data"][0]
    assert newest["event_type"] == "identity.preprocessing.completed" and newest["status"] == "succeeded"
    [attempt] = newest["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["duration_ms"] >= 0
    rest = alice.client.get(
        f"/webhooks/endpoints/{endpoint['endpoint_id']}/deliveries",
        params={"limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [d["event_type"] for d in rest["data"]] == ["identity.created"] and rest["next_cursor"] is None
    assert alice.client.get(f"/webhooks/endpoints/{other['endpoint_id']}/deliveries").json()["data"] == []

    first_id = rest["data"][0]["delivery_id"]
    detail = alice.client.get(f"/webhooks/deliveries/{first_id}").json()
    assert detail["payload"] == created
    assert detail["message_id"] == requests[0].headers["webhook-id"]

    # the account's event log
    events = alice.client.get("/webhooks/events", params={"limit": 10}).json()["data"]
    assert [e["type"] for e in events][:3] == [
        "identity.preprocessing.completed",
        "identity.preprocessing.started",
        "identity.created",
    ]
    logged = [
        e["detail-type"] for e in bus_events(alice.account_id) if e["detail"].get("identity_code") == code
    ]
    assert logged == [
        "identity.created",
        "identity.preprocessing.started",
        "identity.preprocessing.completed",
    ]

    # redeliver: the same message again, as a new attempt cycle
    resp = alice.client.post(f"/webhooks/deliveries/{first_id}/redeliver")
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "pending" and resp.json()["cycle"] == 2
    local_stack.consumers.drain(timeout=60)
    again = receiver.to("/studio")[-1]
    assert len(receiver.to("/studio")) == 4
    assert again.headers["webhook-id"] == detail["message_id"] and again.body == requests[0].body
    Webhook(endpoint["secret"]).verify(again.body, again.headers)
    redelivered = alice.client.get(f"/webhooks/deliveries/{first_id}").json()
    assert redelivered["status"] == "succeeded" and redelivered["attempt_count"] == 2
    assert [a["cycle"] for a in redelivered["attempts"]] == [2, 1]


def test_failing_endpoints_are_retried_then_failed_and_410_disables(
    alice: ApiUser, receiver: Receiver, local_stack: Any
) -> None:
    receiver.always["/down"] = (500, {})
    receiver.always["/gone"] = (410, {})
    down = _create(alice, receiver.url("/down"), events=["identity.created"])
    gone = _create(alice, receiver.url("/gone"), events=["identity.created"])

    uploaded = alice.upload_fixture("biden.jpg")
    assert uploaded.status_code == 201, uploaded.text
    local_stack.consumers.drain(timeout=60)  # the 1 s and 2 s retries included

    # the schedule here is [1, 2]: three attempts, then failed
    assert len(receiver.to("/down")) == 3
    [failed] = alice.client.get(f"/webhooks/endpoints/{down['endpoint_id']}/deliveries").json()["data"]
    assert failed["status"] == "failed" and failed["attempt_count"] == 3
    assert [a["status_code"] for a in failed["attempts"]] == [500, 500, 500]
    assert "gave up after 3 attempts" in failed["last_error"]
    assert len({r.headers["webhook-id"] for r in receiver.to("/down")}) == 1

    assert len(receiver.to("/gone")) == 1
    endpoint = alice.client.get(f"/webhooks/endpoints/{gone['endpoint_id']}").json()
    assert endpoint["enabled"] is False and "410" in endpoint["disabled_reason"]
    [gone_delivery] = alice.client.get(f"/webhooks/endpoints/{gone['endpoint_id']}/deliveries").json()["data"]
    assert gone_delivery["status"] == "failed" and gone_delivery["last_status_code"] == 410
    resp = alice.client.post(f"/webhooks/deliveries/{gone_delivery['delivery_id']}/redeliver")
    assert resp.status_code == 409 and _detail(resp)["code"] == "endpoint_disabled"


def test_the_account_signing_secret(alice: ApiUser, bob: ApiUser) -> None:
    first = alice.client.get("/webhooks/signing-secret")
    assert first.status_code == 200, first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_") and first.json()["rotated_at"] is None
    assert alice.client.get("/webhooks/signing-secret").json()["secret"] == secret
    assert bob.client.get("/webhooks/signing-secret").json()["secret"] != secret
    rotated = alice.client.post("/webhooks/signing-secret/rotate")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != secret and rotated.json()["rotated_at"]
    assert alice.client.get("/webhooks/signing-secret").json()["secret"] == rotated.json()["secret"]
