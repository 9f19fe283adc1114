"""template.yaml as an AWS deployer reads it: concurrency, secrets, the GPU image, alarms, logs,
and what catches a media file stuck in processing (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.template import DEFAULT_TEMPLATE_PATH, load_template_data


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_template_data(DEFAULT_TEMPLATE_PATH)


def _resources(raw: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in raw["Resources"].items() if v["Type"] == rtype}


def _functions(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in _resources(raw, "AWS::Serverless::Function").items()}


# --------------------------------------------------------------------------- concurrency


def test_sqs_consumers_cap_their_pollers_not_their_reserved_concurrency(raw: dict[str, Any]) -> None:
    """Reserved concurrency fails to deploy on a new account (Lambda keeps 100 unreserved) and SQS
    pollers ignore it: throttled receives count towards maxReceiveCount. The event source's
    MaximumConcurrency caps the pollers instead."""
    functions = _functions(raw)
    reserved = [k for k, props in functions.items() if "ReservedConcurrentExecutions" in props]
    assert not reserved
    for function_id, props in functions.items():
        for name, event in (props.get("Events") or {}).items():
            if event["Type"] != "SQS":
                continue
            maximum = (event["Properties"].get("ScalingConfig") or {}).get("MaximumConcurrency")
            assert maximum is not None, f"{function_id}.{name} has no ScalingConfig.MaximumConcurrency"
            assert 2 <= int(maximum) <= 1000, (function_id, name)
