"""Webhook signatures (checked with the standardwebhooks reference library), payloads, filters, retries."""

from __future__ import annotations

import base64
import json
import random
import time
from email.utils import formatdate

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from likeness.webhooks.delivery import build_payload
from likeness.webhooks.models import EndpointCreate, EndpointUpdate, event_matches
from likeness.webhooks.retry import parse_retry_after, retry_delay
from likeness.webhooks.signing import new_secret, secret_key, sign, signature_headers
from likeness.webhooks.store import delivery_ids


def test_new_secrets_are_whsec_with_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert new_secret() != secret


def test_signatures_verify_with_standardwebhooks() -> None:
    secret = new_secret()
    body = json.dumps({"type": "job.completed", "timestamp": "2024-01-01T00:00:00Z", "data": {"x": "é"}})
    headers = signature_headers(secret, message_id="msg_abc", timestamp=int(time.time()), body=body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body.encode(), headers)["data"] == {"x": "é"}

    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + " ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_other"})
    stale = signature_headers(secret, message_id="msg_abc", timestamp=int(time.time()) - 3600, body=body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_a_request_level_secret_that_is_not_whsec_signs_with_its_utf8_bytes() -> None:
    body = '{"type":"generation.completed"}'
    headers = signature_headers("my shared secret", message_id="msg_1", timestamp=int(time.time()), body=body)
    Webhook(b"my shared secret").verify(body, headers)
    assert secret_key("whsec_not*base64") == b"whsec_not*base64"
    assert secret_key("whsec_" + base64.b64encode(b"k" * 24).decode().rstrip("=")) == b"k" * 24
    with pytest.raises(ValueError):
        secret_key("")


def test_sign_is_the_documented_hmac() -> None:
    import hashlib
    import hmac

    key = b"0123456789abcdef01234567"
    secret = "whsec_" + base64.b64encode(key).decode()
    expected = hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert sign(secret, message_id="msg_1", timestamp=1700000000, body="{}") == (
        "v1," + base64.b64encode(expected).decode()
    )


def test_payload_shape_for_job_and_flat_events() -> None:
    job = {
        "id": "e1",
        "detail-type": "job.completed",
        "time": "2024-01-01T00:00:01Z",
        "detail": {
            "account_id": "acc",
            "job_id": "job_1",
            "occurred_at": "2024-01-01T00:00:00.000Z",
            "data": {"id": "job_1", "status": "completed"},
        },
    }
    assert build_payload(job) == {
        "type": "job.completed",
        "timestamp": "2024-01-01T00:00:00.000Z",
        "data": {"id": "job_1", "status": "completed"},
    }
    flat = {
        "id": "e2",
        "detail-type": "identity.created",
        "detail": {"account_id": "acc", "identity_code": "idn_1", "occurred_at": "t"},
    }
    assert build_payload(flat) == {
        "type": "identity.created",
        "timestamp": "t",
        "data": {"identity_code": "idn_1", "occurred_at": "t"},
    }


@pytest.mark.parametrize(
    ("event_type", "filters", "expected"),
    [
        ("job.completed", None, True),
        ("job.completed", [], True),
        ("job.completed", ["job.completed"], True),
        ("job.completed", ["job.failed"], False),
        ("job.completed", ["job.*"], True),
        ("job.step.completed", ["job.*"], True),
        ("jobs.completed", ["job.*"], False),
        ("identity.created", ["job.*", "identity.created"], True),
        ("anything", ["*"], True),
    ],
)
def test_event_filters(event_type: str, filters: list[str] | None, expected: bool) -> None:
    assert event_matches(event_type, filters) is expected


def test_endpoint_models_validate_event_filters() -> None:
    created = EndpointCreate(url="https://x.example/h", events=["Job.*", "job.*", "identity.created"])
    assert created.events == ["job.*", "identity.created"]
    assert EndpointCreate(url="https://x.example/h").events == []
    assert EndpointCreate(url="https://x.example/h", events=["*", "job.*"]).events == []
    for bad in (["job.*.x"], ["job completed"], [""], ["job.**"], ["a"] * 51):
        with pytest.raises(ValidationError):
            EndpointCreate(url="https://x.example/h", events=bad)
    with pytest.raises(ValidationError):
        EndpointCreate(url="https://x.example/h", secret="whsec_mine")  # type: ignore[call-arg]
    update = EndpointUpdate.model_validate({"events": None})
    assert update.model_fields_set == {"events"} and update.events == []
    with pytest.raises(ValidationError):
        EndpointUpdate.model_validate({"url": None})


def test_delivery_ids_are_stable_per_event_and_target() -> None:
    first = delivery_ids("evt-1", "endpoint:whep_1")
    assert first == delivery_ids("evt-1", "endpoint:whep_1")
    assert first != delivery_ids("evt-1", "endpoint:whep_2")
    assert first != delivery_ids("evt-2", "endpoint:whep_1")
    assert first[0].startswith("whdlv_") and first[1].startswith("msg_")


# ---------------------------------------------------------------------------- retries


def test_retry_schedule_with_jitter_bounds() -> None:
    schedule = [5, 300, 1800]
    rng = random.Random(7)
    for failed, base in enumerate(schedule, start=1):
        delays = [
            retry_delay(failed, schedule=schedule, jitter=0.2, max_retry_after=86400, rng=rng)
            for _ in range(500)
        ]
        assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
        assert max(d for d in delays if d is not None) - min(d for d in delays if d is not None) > base * 0.2
    assert retry_delay(4, schedule=schedule, jitter=0.2, max_retry_after=86400) is None
    assert retry_delay(1, schedule=schedule, jitter=0.0, max_retry_after=86400) == 5.0
    with pytest.raises(ValueError):
        retry_delay(0, schedule=schedule, jitter=0.0, max_retry_after=86400)


def test_retry_after_stretches_the_wait_but_never_shortens_it_and_is_capped() -> None:
    schedule = [60]
    assert retry_delay(1, schedule=schedule, jitter=0, retry_after=600, max_retry_after=3600) == 600
    assert retry_delay(1, schedule=schedule, jitter=0, retry_after=5, max_retry_after=3600) == 60
    assert retry_delay(1, schedule=schedule, jitter=0, retry_after=10**6, max_retry_after=3600) == 3600


def test_parse_retry_after_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after(" 0 ", now=now) == 0
    in_five_minutes = formatdate(now + 300, usegmt=True)
    parsed = parse_retry_after(in_five_minutes, now=now)
    assert parsed is not None and 298 <= parsed <= 301
    assert parse_retry_after(formatdate(now - 300, usegmt=True), now=now) == 0
    for junk in (None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2024"):
        assert parse_retry_after(junk, now=now) is None
