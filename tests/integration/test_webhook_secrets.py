"""Webhook signing secrets at rest: sealed with the stack's KMS key (moto's KMS here), each bound to
its record, never stored in clear; the delivery function signs with them and writes no account
record of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from likeness.aws.kms import SecretBox, SecretsUnavailable, SecretUnreadable
from likeness.webhooks.delivery import AttemptOutcome
from likeness.webhooks.models import DeliveryStatus, EndpointCreate
from tests.integration import test_webhooks
from tests.integration.test_webhooks import Hooks, _job_event, _verify
from tests.webhook_receiver import Receiver

# the webhook tests' fixtures: the dispatcher and service on moto, a loopback receiver
hooks = test_webhooks.hooks
receiver = test_webhooks.receiver


def _box() -> SecretBox:
    import boto3

    from likeness.settings import get_settings

    key_id = get_settings().webhook_secrets_key_id
    assert key_id  # template.yaml's WebhookSecretsKey, provisioned on moto
    return SecretBox(client_factory=lambda: boto3.client("kms"), key_id=key_id)


def _item(pk: str, sk: str) -> dict[str, Any]:
    from likeness.wiring import table

    item = table().get(pk, sk)
    assert item is not None
    return item


def test_a_secret_round_trips_through_kms_bound_to_its_context(aws: dict[str, str]) -> None:
    box = _box()
    context = {"purpose": "webhook-endpoint", "account_id": "acc_a", "endpoint_id": "whep_1"}
    sealed = box.seal("whsec_c2VjcmV0", context=context)
    assert sealed.startswith("kms1:") and "c2VjcmV0" not in sealed
    assert _box().open(sealed, context=context) == "whsec_c2VjcmV0"  # a fresh process: KMS answers
    with pytest.raises(SecretUnreadable):
        _box().open(sealed, context={**context, "account_id": "acc_b"})
    with pytest.raises(SecretsUnavailable):
        SecretBox(client_factory=lambda: None, key_id="").seal("x", context=context)


def test_saved_endpoint_secrets_are_stored_sealed_and_sign_deliveries(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = hooks.service.create_endpoint(
        caller=hooks.alice, create=EndpointCreate(url=receiver.url("/hook"), events=["identity.*"])
    )
    pk, sk = f"ACCOUNT#{hooks.alice.account_id}", f"WHEP#{endpoint.endpoint_id}"
    stored = _item(pk, sk)
    assert "secret" not in stored and stored["secret_sealed"].startswith("kms1:")
    assert endpoint.secret not in json.dumps(stored)

    assert hooks.dispatcher.handle(hooks.event()) == [AttemptOutcome.SUCCEEDED]
    _verify(endpoint.secret, receiver.requests[0])

    rotated = hooks.service.rotate_endpoint_secret(caller=hooks.alice, endpoint_id=endpoint.endpoint_id)
    assert rotated.secret not in json.dumps(_item(pk, sk))
    assert hooks.dispatcher.handle(hooks.event()) == [AttemptOutcome.SUCCEEDED]
    _verify(rotated.secret, receiver.requests[1])


def test_a_sealed_secret_copied_onto_another_record_does_not_sign(hooks: Hooks, receiver: Receiver) -> None:
    from likeness.wiring import table

    alices = hooks.service.create_endpoint(caller=hooks.alice, create=EndpointCreate(url=receiver.url("/a")))
    bobs = hooks.service.create_endpoint(caller=hooks.bob, create=EndpointCreate(url=receiver.url("/b")))
    stolen = _item(f"ACCOUNT#{hooks.alice.account_id}", f"WHEP#{alices.endpoint_id}")["secret_sealed"]
    table().update(
        f"ACCOUNT#{hooks.bob.account_id}",
        f"WHEP#{bobs.endpoint_id}",
        update="SET secret_sealed = :s",
        values={":s": stolen},
    )
    assert hooks.dispatcher.handle(hooks.event(caller=hooks.bob)) == [AttemptOutcome.FAILED]
    assert receiver.requests == []
    [delivery] = hooks.service.list_deliveries(caller=hooks.bob, endpoint_id=bobs.endpoint_id).data
    assert delivery.status is DeliveryStatus.FAILED and "refused the secret" in (delivery.last_error or "")


def test_the_account_secret_is_sealed_and_made_by_the_api_not_by_delivery(
    hooks: Hooks, receiver: Receiver
) -> None:
    from likeness.wiring import request_webhook_secret, table

    account_pk = f"ACCOUNT#{hooks.alice.account_id}"
    # a job whose request-level webhook names no secret, for an account that never made one
    table().put({"PK": "JOB#job_nosecret", "SK": "JOB", "job_id": "job_nosecret",
                 "account_id": hooks.alice.account_id, "webhook": {"url": receiver.url("/r")}})  # fmt: skip
    assert hooks.dispatcher.handle(_job_event(hooks, "job_nosecret", "job.completed")) == [
        AttemptOutcome.FAILED
    ]
    assert receiver.requests == []
    assert table().get(account_pk, "WHSECRET") is None  # the delivery function wrote no account record

    # accepting such a job (the wardrobe API) makes the account's secret, sealed
    assert request_webhook_secret()(hooks.alice.account_id, None) == {}
    stored = _item(account_pk, "WHSECRET")
    assert "secret" not in stored and stored["secret_sealed"].startswith("kms1:")
    shown = hooks.service.get_signing_secret(caller=hooks.alice).secret
    assert shown not in json.dumps(stored)
    assert hooks.dispatcher.handle(_job_event(hooks, "job_nosecret", "job.failed")) == [
        AttemptOutcome.SUCCEEDED
    ]
    _verify(shown, receiver.requests[0])

    # a client's own webhook_secret is kept sealed in the job
    fields = request_webhook_secret()(hooks.alice.account_id, "client-chosen-secret")
    assert set(fields) == {"secret_sealed"} and "client-chosen" not in fields["secret_sealed"]
