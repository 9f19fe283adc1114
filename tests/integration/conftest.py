"""In-process moto (mock_aws) with every resource created from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    from moto import mock_aws

    from infra.local._environ import EnvironmentPatch, reset_caches
    from infra.local.moto_scale import install as make_moto_behave
    from infra.local.provision import provision_resources
    from infra.local.template import Template

    make_moto_behave()  # as DynamoDB: serialised writes, queries that read only their page
    env = EnvironmentPatch()
    # mock_aws intercepts calls in process: no endpoint must redirect them elsewhere
    saved_endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            reset_caches()
            result = provision_resources(Template.load())
            env.update(result.environment)
            reset_caches()
            yield dict(result.environment)
    finally:
        env.restore()
        if saved_endpoint is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved_endpoint
        reset_caches()
