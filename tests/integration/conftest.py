"""In-process moto (mock_aws) with every resource created from template.yaml.

Provisioning takes about a second, so it happens once per test module: the moto state (the
table, bucket, queues, bus) lives on from test to test of a module. Tests keep apart by
account - each makes its own accounts, with generated ids - and every queue is purged
before each test, so no test reads messages another left behind. moto intercepts AWS calls
only while a test that asks for ``aws`` runs: a module may mix them with tests against a
moto server on a port (see test_media_infra.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class _Moto:
    mock: Any  # moto's MockAWS
    environment: dict[str, str] = field(default_factory=dict)
    queue_urls: list[str] = field(default_factory=list)
    # the boto3 clients the module's tests made (each costs 0.1 s or more): the next test's
    clients: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _intercepting(moto: _Moto) -> Iterator[None]:
    """moto answers this process's AWS calls meanwhile, with its data kept from the last time;
    the environment names the provisioned resources."""
    from moto.core.custom_responses_mock import reset_responses_mock
    from moto.core.models import responses_mock

    from infra.local._environ import EnvironmentPatch, reset_caches
    from likeness.aws import clients

    env = EnvironmentPatch()
    # mock_aws intercepts calls in process: no endpoint must redirect them elsewhere
    saved_endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)
    moto.mock.start(reset=False)
    try:
        env.update(moto.environment)
        reset_caches()  # no client made for another endpoint (a moto server) is reused
        clients._clients.update(moto.clients)
        yield
    finally:
        moto.clients = dict(clients._clients)
        moto.mock.stop(remove_data=False)
        # each start registers moto's URL patterns again: forget the last ones
        reset_responses_mock(responses_mock)
        env.restore()
        if saved_endpoint is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved_endpoint
        reset_caches()


@pytest.fixture(scope="module")
def _provisioned() -> Iterator[_Moto]:
    from moto import mock_aws

    from infra.local.moto_scale import install as make_moto_behave
    from infra.local.provision import provision_resources
    from infra.local.template import Template

    make_moto_behave()  # as DynamoDB: serialised writes, queries that read only their page
    moto = _Moto(mock=mock_aws())
    moto.mock.reset()  # what another module (or a threaded emulator) left in moto is not ours
    with _intercepting(moto):
        template = Template.load()
        result = provision_resources(template)
    moto.environment = dict(result.environment)
    moto.queue_urls = [
        template.physical_id(r.logical_id) for r in result.resources.values() if r.type == "AWS::SQS::Queue"
    ]
    try:
        yield moto
    finally:
        moto.mock.reset()


@pytest.fixture
def aws(_provisioned: _Moto) -> Iterator[dict[str, str]]:
    """The module's provisioned moto, its queues empty; the provisioned environment."""
    with _intercepting(_provisioned):
        from likeness.aws.clients import get_client

        sqs = get_client("sqs")
        with pytest.MonkeyPatch.context() as mp:
            # moto, like SQS, refuses a second purge within 60 s unless told otherwise
            mp.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
            for url in _provisioned.queue_urls:
                sqs.purge_queue(QueueUrl=url)
        yield dict(_provisioned.environment)
