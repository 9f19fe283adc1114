"""Webhook delivery on moto, against a real HTTP receiver on loopback.

The dispatcher is driven by hand: each test takes the messages off WebhookQueue (the bus rule's
envelopes, then the retries the dispatcher schedules) and hands them to ``dispatcher.handle``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from likeness.accounts.models import Caller
from likeness.clock import now_iso
from likeness.errors import NotFound
from likeness.net import UnsafeUrl
from likeness.settings import Settings
from likeness.webhooks.delivery import AttemptOutcome, WebhookDispatcher
from likeness.webhooks.models import DeliveryStatus, EndpointCreate, EndpointUpdate
from likeness.webhooks.service import WebhookService
from tests.webhook_receiver import Received, Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


# ---------------------------------------------------------------------------- the system


@dataclass
class Hooks:
    settings: Settings
    service: WebhookService
    dispatcher: WebhookDispatcher
    sqs: Any
    queue_url: str
    dlq_url: str
    alice: Caller
    bob: Caller

    def with_settings(self, **changes: Any) -> WebhookDispatcher:
        from likeness.wiring import webhook_dispatcher

        return webhook_dispatcher(self.settings.model_copy(update=changes))

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        from likeness.wiring import event_publisher

        event_publisher(self.settings).publish(detail_type, detail)

    def receive(self, *, wait: int = 0, url: str | None = None) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=url or self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        ).get("Messages", [])
        for m in messages:
            self.sqs.delete_message(QueueUrl=url or self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    def receive_one(self, *, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.receive(wait=1)
            if got:
                assert len(got) == 1, got
                return got[0]
        raise AssertionError("no message on the webhook queue")

    def depth(self, url: str | None = None) -> dict[str, int]:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url or self.queue_url, AttributeNames=["All"])
        return {
            k: int(v)
            for k, v in attributes["Attributes"].items()
            if k.startswith("ApproximateNumberOfMessages")
        }

    def event(
        self, *, caller: Caller | None = None, detail_type: str = "identity.created", **detail: Any
    ) -> dict:
        """Publish on the bus and take the envelope the rule routed to the queue."""
        self.publish(
            detail_type,
            {
                "account_id": (caller or self.alice).account_id,
                "occurred_at": now_iso(),
                **(detail or {"identity_code": "idn_test", "name": "Ada"}),
            },
        )
        return self.receive_one()


def _caller(account_id: str) -> Caller:
    return Caller(
        account_id=account_id,
        plan="pro",
        key_id="key_" + account_id,
        scopes=frozenset({"identities:read", "identities:write"}),
    )


@pytest.fixture
def hooks(aws: dict[str, str]) -> Hooks:
    from likeness.aws.clients import get_client
    from likeness.settings import get_settings
    from likeness.wiring import webhook_dispatcher, webhook_service

    settings = get_settings().model_copy(
        update={"allow_private_urls": True, "webhook_retry_schedule": [1, 1], "webhook_retry_jitter": 0.0}
    )
    assert settings.webhook_queue_url and settings.webhook_dead_letter_queue_url
    return Hooks(
        settings=settings,
        service=webhook_service(settings),
        dispatcher=webhook_dispatcher(settings),
        sqs=get_client("sqs"),
        queue_url=settings.webhook_queue_url,
        dlq_url=settings.webhook_dead_letter_queue_url,
        # accounts of their own: the module's tests share one provisioned moto
        alice=_caller(f"acc_alice_{secrets.token_hex(4)}"),
        bob=_caller(f"acc_bob_{secrets.token_hex(4)}"),
    )


def _verify(secret: str | bytes, request: Received) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


# ---------------------------------------------------------------------------- deliveries


def test_an_event_is_delivered_signed_and_logged(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"), events=["identity.*"])
    )
    jobs_only = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/jobs"), events=["job.*"])
    )
    assert endpoint.secret.startswith("whsec_") and jobs_only.endpoint_id != endpoint.endpoint_id

    envelope = hooks.event(detail_type="identity.created", identity_code="idn_1", name="Ada")
    assert envelope["detail-type"] == "identity.created" and envelope["source"] == "likeness"
    assert hooks.dispatcher.handle(envelope) == [AttemptOutcome.SUCCEEDED]

    [request] = receiver.requests
    assert request.path == "/hook"
    payload = _verify(endpoint.secret, request)
    assert payload == {
        "type": "identity.created",
        "timestamp": envelope["detail"]["occurred_at"],
        "data": {"identity_code": "idn_1", "name": "Ada", "occurred_at": envelope["detail"]["occurred_at"]},
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Likeness-Webhooks/")
    assert request.headers["host"] == receiver.base_url.removeprefix("http://")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    assert b" " not in request.body  # compact JSON

    page = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id)
    [delivery] = page.data
    assert delivery.status is DeliveryStatus.SUCCEEDED and delivery.attempt_count == 1
    assert delivery.message_id == request.headers["webhook-id"] and delivery.event_id == envelope["id"]
    [attempt] = delivery.attempts
    assert attempt.status_code == 200 and attempt.error is None and attempt.outcome == "succeeded"
    assert attempt.duration_ms >= 0 and attempt.attempted_at
    detail = hooks.service.get_delivery(caller=hooks.alice, delivery_id=delivery.delivery_id)
    assert detail.payload == payload
    assert hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=jobs_only.endpoint_id).data == []

    [logged] = hooks.service.list_events(caller=hooks.alice, limit=10).data
    assert logged.event_id == envelope["id"] and logged.type == "identity.created"
    assert logged.payload == payload
    assert hooks.service.list_events(caller=hooks.bob, limit=10).data == []
    assert hooks.depth()["ApproximateNumberOfMessagesDelayed"] == 0


def test_the_event_log_item_keeps_the_envelope_and_expires(hooks: Hooks) -> None:
    from likeness.wiring import table

    envelope = hooks.event()
    hooks.dispatcher.handle(envelope)  # no endpoint: logged, nothing sent
    [item] = table().query(f"WHEVENTS#{hooks.alice.account_id}")
    assert json.loads(item["envelope"]) == envelope
    assert item["event_type"] == "identity.created" and item["event_id"] == envelope["id"]
    assert abs(item["expires_at"] - (time.time() + hooks.settings.event_log_ttl_seconds)) < 60


def test_a_500_schedules_a_retry_that_then_succeeds(hooks: Hooks, receiver: Receiver) -> None:
    receiver.scripts["/flaky"] = [(500, {})]
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/flaky"))
    )
    assert hooks.dispatcher.handle(hooks.event()) == [AttemptOutcome.RETRY_SCHEDULED]

    assert hooks.depth()["ApproximateNumberOfMessagesDelayed"] == 1
    [pending] = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).data
    assert pending.status is DeliveryStatus.PENDING and pending.next_attempt_at
    assert pending.last_status_code == 500 and pending.last_error == "HTTP 500"
    [first] = pending.attempts
    assert first.status_code == 500 and first.outcome == "retry_scheduled" and first.next_attempt_at

    retry = hooks.receive_one()
    assert retry["kind"] == "webhook.retry" and retry["delivery_id"] == pending.delivery_id
    assert retry["attempt"] == 1 and retry["cycle"] == 1
    assert hooks.dispatcher.handle(retry) == [AttemptOutcome.SUCCEEDED]

    done = hooks.service.get_delivery(caller=hooks.alice, delivery_id=pending.delivery_id)
    assert done.status is DeliveryStatus.SUCCEEDED and done.attempt_count == 2
    assert [a.status_code for a in done.attempts] == [200, 500]  # newest first
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {done.message_id}  # the same message id on every attempt
    for request in receiver.requests:
        _verify(endpoint.secret, request)
    # a duplicate of the retry message finds the attempt made
    assert hooks.dispatcher.handle(retry) == [AttemptOutcome.SKIPPED]
    assert len(receiver.requests) == 2


def test_retry_after_is_honoured(hooks: Hooks, receiver: Receiver) -> None:
    receiver.scripts["/busy"] = [(429, {"Retry-After": "3"})]
    hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/busy")))
    started = time.time()
    assert hooks.dispatcher.handle(hooks.event()) == [AttemptOutcome.RETRY_SCHEDULED]
    assert hooks.receive(wait=1) == []  # the schedule says 1 s; the receiver asked for 3
    retry = hooks.receive_one()
    assert retry["not_before"] - started >= 3 - 0.5
    assert time.time() - started >= 2.5
    assert hooks.dispatcher.handle(retry) == [AttemptOutcome.SUCCEEDED]


def test_a_retry_that_arrives_early_is_sent_again_for_the_rest_of_the_wait(
    hooks: Hooks, receiver: Receiver
) -> None:
    receiver.scripts["/later"] = [(503, {})]
    hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/later")))
    hooks.dispatcher.handle(hooks.event())
    retry = hooks.receive_one()
    # as if SQS's 15-minute cap had cut a longer wait short
    early = {**retry, "not_before": time.time() + 2}
    assert hooks.dispatcher.handle(early) == [AttemptOutcome.POSTPONED]
    assert len(receiver.requests) == 1
    again = hooks.receive_one()
    assert again["not_before"] == pytest.approx(early["not_before"], abs=0.01)
    assert again["attempt"] == retry["attempt"]
    assert hooks.dispatcher.handle(again) == [AttemptOutcome.SUCCEEDED]


def test_410_gone_disables_the_endpoint_without_retry(hooks: Hooks, receiver: Receiver) -> None:
    receiver.always["/gone"] = (410, {})
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/gone"))
    )
    assert hooks.dispatcher.handle(hooks.event()) == [AttemptOutcome.FAILED]

    disabled = hooks.service.get_endpoint(caller=hooks.alice, endpoint_id=endpoint.endpoint_id)
    assert not disabled.enabled and "410" in (disabled.disabled_reason or "") and disabled.disabled_at
    [delivery] = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).data
    assert delivery.status is DeliveryStatus.FAILED and delivery.last_status_code == 410
    assert sum(hooks.depth().values()) == 0 and sum(hooks.depth(hooks.dlq_url).values()) == 0

    # a disabled endpoint gets no new events, until it is enabled again
    hooks.dispatcher.handle(hooks.event())
    assert len(receiver.requests) == 1
    enabled = hooks.service.set_endpoint_enabled(
        caller=hooks.alice, endpoint_id=endpoint.endpoint_id, enabled=True
    )
    assert enabled.enabled and enabled.disabled_reason is None
    receiver.always.clear()
    assert hooks.dispatcher.handle(hooks.event()) == [AttemptOutcome.SUCCEEDED]


def test_an_exhausted_schedule_fails_the_delivery_and_dead_letters_a_summary(
    hooks: Hooks, receiver: Receiver
) -> None:
    receiver.always["/down"] = (500, {})
    dispatcher = hooks.with_settings(webhook_retry_schedule=[1])
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/down"))
    )
    assert dispatcher.handle(hooks.event()) == [AttemptOutcome.RETRY_SCHEDULED]
    assert dispatcher.handle(hooks.receive_one()) == [AttemptOutcome.FAILED]

    [delivery] = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).data
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempt_count == 2
    assert "gave up after 2 attempts" in (delivery.last_error or "")
    assert sum(hooks.depth().values()) == 0
    [summary] = hooks.receive(url=hooks.dlq_url, wait=1)
    assert summary["kind"] == "webhook.delivery_failed" and summary["delivery_id"] == delivery.delivery_id
    assert summary["endpoint_id"] == endpoint.endpoint_id and summary["attempts"] == 2
    assert summary["last_status_code"] == 500
    text = json.dumps(summary)
    assert endpoint.secret not in text and receiver.base_url not in text
    # the endpoint stays enabled: only 410 disables it
    assert hooks.service.get_endpoint(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).enabled


def test_hostile_urls_are_refused_when_saved_and_when_delivered(hooks: Hooks, receiver: Receiver) -> None:
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "file:///etc/passwd"):
        with pytest.raises(UnsafeUrl):
            hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=url))
    strict = hooks.with_settings(allow_private_urls=False)
    from likeness.wiring import webhook_service

    with pytest.raises(UnsafeUrl) as refused:
        webhook_service(strict.settings).create_endpoint(
            caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"))
        )
    assert refused.value.error_code == "url_not_allowed" and "loopback" in refused.value.message

    # saved while loopback was allowed, delivered by a dispatcher that refuses it
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"))
    )
    assert strict.handle(hooks.event()) == [AttemptOutcome.FAILED]
    assert receiver.requests == []
    [delivery] = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).data
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempt_count == 1
    assert "loopback" in (delivery.last_error or "") and delivery.attempts[0].status_code is None
    assert sum(hooks.depth().values()) == 0


def test_a_redelivered_queue_message_does_not_deliver_twice(hooks: Hooks, receiver: Receiver) -> None:
    hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/a")))
    hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/b")))
    envelope = hooks.event()
    assert hooks.dispatcher.handle(envelope) == [AttemptOutcome.SUCCEEDED] * 2
    assert hooks.dispatcher.handle(envelope) == [AttemptOutcome.SKIPPED] * 2
    assert sorted(r.path for r in receiver.requests) == ["/a", "/b"]


def test_an_invocation_short_of_time_requeues_instead_of_starting(hooks: Hooks, receiver: Receiver) -> None:
    hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook")))
    envelope = hooks.event()
    assert hooks.dispatcher.handle(envelope, deadline=time.monotonic() + 1) == [AttemptOutcome.DEFERRED]
    assert receiver.requests == []
    deferred = hooks.receive_one()
    assert deferred["attempt"] == 0
    assert hooks.dispatcher.handle(deferred, deadline=time.monotonic() + 60) == [AttemptOutcome.SUCCEEDED]
    assert hooks.dispatcher.handle(envelope) == [AttemptOutcome.SKIPPED]


def test_redeliver_makes_a_new_attempt_cycle_of_the_same_message(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"))
    )
    hooks.dispatcher.handle(hooks.event())
    [delivery] = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).data

    with pytest.raises(NotFound):
        hooks.service.redeliver(caller=hooks.bob, delivery_id=delivery.delivery_id)
    again = hooks.service.redeliver(caller=hooks.alice, delivery_id=delivery.delivery_id)
    assert again.status is DeliveryStatus.PENDING and again.cycle == 2
    assert hooks.dispatcher.handle(hooks.receive_one()) == [AttemptOutcome.SUCCEEDED]

    done = hooks.service.get_delivery(caller=hooks.alice, delivery_id=delivery.delivery_id)
    assert done.status is DeliveryStatus.SUCCEEDED and done.attempt_count == 2 and done.cycle == 2
    assert [(a.attempt, a.cycle) for a in done.attempts] == [(2, 2), (1, 1)]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == done.message_id
    assert first.body == second.body
    _verify(endpoint.secret, second)

    hooks.service.set_endpoint_enabled(caller=hooks.alice, endpoint_id=endpoint.endpoint_id, enabled=False)
    with pytest.raises(Exception) as refused:
        hooks.service.redeliver(caller=hooks.alice, delivery_id=delivery.delivery_id)
    assert getattr(refused.value, "error_code", None) == "endpoint_disabled"


def test_a_rotated_secret_signs_at_once(hooks: Hooks, receiver: Receiver) -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    receiver.scripts["/hook"] = [(500, {})]
    created = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"))
    )
    hooks.dispatcher.handle(hooks.event())
    rotated = hooks.service.rotate_endpoint_secret(caller=hooks.alice, endpoint_id=created.endpoint_id)
    assert rotated.secret != created.secret and rotated.secret_rotated_at
    hooks.dispatcher.handle(hooks.receive_one())  # the retry of a message made before the rotation
    first, second = receiver.requests
    _verify(created.secret, first)
    _verify(rotated.secret, second)
    with pytest.raises(WebhookVerificationError):
        _verify(created.secret, second)


def test_patch_changes_url_and_filters(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/old"), events=["job.*"], description="d")
    )
    hooks.dispatcher.handle(hooks.event())
    assert receiver.requests == []
    updated = hooks.service.update_endpoint(
        caller=hooks.alice,
        endpoint_id=endpoint.endpoint_id,
        update=EndpointUpdate.model_validate({"url": receiver.url("/new"), "events": None}),
    )
    assert updated.url == receiver.url("/new") and updated.events == [] and updated.description == "d"
    with pytest.raises(UnsafeUrl):
        hooks.service.update_endpoint(
            caller=hooks.alice,
            endpoint_id=endpoint.endpoint_id,
            update=EndpointUpdate(url="http://169.254.169.254/"),
        )
    hooks.dispatcher.handle(hooks.event())
    assert [r.path for r in receiver.requests] == ["/new"]


def test_another_accounts_endpoints_and_deliveries_are_not_found(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"))
    )
    hooks.dispatcher.handle(hooks.event())
    [delivery] = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id).data
    bob, eid = hooks.bob, endpoint.endpoint_id
    calls: list[Callable[[], Any]] = [
        lambda: hooks.service.get_endpoint(caller=bob, endpoint_id=eid),
        lambda: hooks.service.update_endpoint(
            caller=bob, endpoint_id=eid, update=EndpointUpdate(description="x")
        ),
        lambda: hooks.service.rotate_endpoint_secret(caller=bob, endpoint_id=eid),
        lambda: hooks.service.set_endpoint_enabled(caller=bob, endpoint_id=eid, enabled=False),
        lambda: hooks.service.delete_endpoint(caller=bob, endpoint_id=eid),
        lambda: hooks.service.list_deliveries(caller=bob, endpoint_id=eid),
        lambda: hooks.service.get_delivery(caller=bob, delivery_id=delivery.delivery_id),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert hooks.service.list_endpoints(caller=bob).data == []
    # bob's events never reach alice's endpoint
    hooks.dispatcher.handle(hooks.event(caller=bob))
    assert len(receiver.requests) == 1


def test_delivery_log_pages_newest_first(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"))
    )
    event_ids = []
    for _ in range(3):
        envelope = hooks.event()
        event_ids.append(envelope["id"])
        hooks.dispatcher.handle(envelope)
        time.sleep(0.01)
    first = hooks.service.list_deliveries(caller=hooks.alice, endpoint_id=endpoint.endpoint_id, limit=2)
    assert [d.event_id for d in first.data] == event_ids[:0:-1] and first.next_cursor
    rest = hooks.service.list_deliveries(
        caller=hooks.alice, endpoint_id=endpoint.endpoint_id, limit=2, cursor=first.next_cursor
    )
    assert [d.event_id for d in rest.data] == event_ids[:1] and rest.next_cursor is None
    events = hooks.service.list_events(caller=hooks.alice, limit=2).data
    assert [e.event_id for e in events] == event_ids[:0:-1]


# ---------------------------------------------------------------------------- request-level webhooks


def _put_job(job_id: str, account_id: str, webhook: dict[str, Any] | None) -> None:
    """A job as the API writes it: a request-level webhook keeps its secret sealed."""
    from likeness.wiring import request_webhook_secret, table

    item: dict[str, Any] = {"PK": f"JOB#{job_id}", "SK": "JOB", "job_id": job_id, "account_id": account_id}
    if webhook is not None:
        secret = webhook.pop("secret", None)
        item["webhook"] = {**webhook, **request_webhook_secret()(account_id, secret)}
    table().put(item)


def _job_event(hooks: Hooks, job_id: str, detail_type: str, caller: Caller | None = None) -> dict[str, Any]:
    return hooks.event(
        caller=caller,
        detail_type=detail_type,
        job_id=job_id,
        occurred_at=now_iso(),
        data={"id": job_id, "status": detail_type.rsplit(".", 1)[-1]},
    )


def test_request_level_webhooks_use_the_account_secret_when_given_none(
    hooks: Hooks, receiver: Receiver
) -> None:
    _put_job("job_a", hooks.alice.account_id, {"url": receiver.url("/request"), "secret": None})
    assert hooks.dispatcher.handle(_job_event(hooks, "job_a", "job.completed")) == [AttemptOutcome.SUCCEEDED]
    [request] = receiver.requests
    secret = hooks.service.get_signing_secret(caller=hooks.alice).secret
    payload = _verify(secret, request)
    assert payload["type"] == "job.completed" and payload["data"] == {"id": "job_a", "status": "completed"}

    rotated = hooks.service.rotate_signing_secret(caller=hooks.alice)
    assert rotated.secret != secret and rotated.rotated_at
    hooks.dispatcher.handle(_job_event(hooks, "job_a", "job.failed"))
    _verify(rotated.secret, receiver.requests[1])


def test_request_level_webhooks_with_their_own_secret_and_events(hooks: Hooks, receiver: Receiver) -> None:
    _put_job(
        "job_b",
        hooks.alice.account_id,
        {"url": receiver.url("/request"), "secret": "client-chosen-secret", "events": ["job.completed"]},
    )
    saved = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/saved"), events=["job.*"])
    )
    assert hooks.dispatcher.handle(_job_event(hooks, "job_b", "job.started")) == [AttemptOutcome.SUCCEEDED]
    outcomes = hooks.dispatcher.handle(_job_event(hooks, "job_b", "job.completed"))
    assert outcomes == [AttemptOutcome.SUCCEEDED] * 2
    assert [r.path for r in receiver.to("/request")] == ["/request"]
    _verify(b"client-chosen-secret", receiver.to("/request")[0])
    for request in receiver.to("/saved"):
        _verify(saved.secret, request)
    # a job of another account is never a target, whatever its event says
    _put_job("job_c", hooks.bob.account_id, {"url": receiver.url("/request")})
    assert hooks.dispatcher.handle(_job_event(hooks, "job_c", "job.completed")) == [AttemptOutcome.SUCCEEDED]
    assert len(receiver.to("/request")) == 1


# ---------------------------------------------------------------------------- the Lambda function


class _Context:
    function_name = "WebhookDeliveryFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebhookDeliveryFunction"
    memory_limit_in_mb = 512
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/WebhookDeliveryFunction"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def test_the_lambda_handler_reports_only_the_records_that_crashed(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.webhook_delivery.app import handler
    from infra.local.consumers import build_sqs_event
    from likeness.settings import get_settings

    monkeypatch.setenv("LIKENESS_ALLOW_PRIVATE_URLS", "true")
    get_settings.cache_clear()
    try:
        hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook")))
        envelope = hooks.event()
        queue_arn = "arn:aws:sqs:us-east-1:123456789012:WebhookQueue"
        messages = [
            {"MessageId": "m-good", "ReceiptHandle": "r1", "Body": json.dumps(envelope)},
            {"MessageId": "m-bad", "ReceiptHandle": "r2", "Body": "{not json"},
        ]
        result = handler(build_sqs_event(messages, queue_arn), _Context())
    finally:
        get_settings.cache_clear()
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    [request] = receiver.requests
    assert json.loads(request.body)["type"] == "identity.created"
