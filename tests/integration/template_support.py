"""template.yaml as the tests read it: the raw document, and what the SAM transform makes of it
offline (packaged as ``sam package`` would, no AWS call)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.local.template import DEFAULT_TEMPLATE_PATH, load_template_data


class OfflinePolicyLoader:
    """samtranslator's ManagedPolicyLoader lists IAM policies; the template names none by name."""

    def load(self) -> dict[str, str]:
        return {}


def as_packaged(data: dict[str, Any]) -> dict[str, Any]:
    """What ``sam package`` does before the transform: local artifacts become remote URIs."""
    packaged = copy.deepcopy(data)
    for logical_id, resource in packaged["Resources"].items():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/likeness:{logical_id}"
            else:
                props["CodeUri"] = f"s3://artifacts/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://artifacts/{logical_id}.zip"
    return packaged


def raw_template() -> dict[str, Any]:
    return load_template_data(DEFAULT_TEMPLATE_PATH)


def translate(raw: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of ``raw``."""
    from samtranslator.translator.transform import transform

    with pytest.MonkeyPatch.context() as mp:
        # the translator reads the region from a boto3 session; no AWS call is made
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return dict(transform(as_packaged(raw), {}, OfflinePolicyLoader()))


def resources_of(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}
