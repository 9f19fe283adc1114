"""template.yaml as data: CloudFormation short tags, local physical ids and an intrinsic resolver.

The SAM template is the single source of truth: the local stack derives every table, bucket,
queue, bus, rule, route and consumer from it, so nothing here names a concrete resource.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.local.authorizers import RouteAuthorizer, route_authorizer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Parameter values the local stack uses unless told otherwise (only applied when declared).
LOCAL_PARAMETERS: dict[str, str] = {"Stage": "local"}
# Metadata.<this>.Parameters in a template: its own local values (they win over LOCAL_PARAMETERS)
LOCAL_METADATA_KEY = "LocalStack"
# moto's fixed account; provisioning replaces it with the caller's account where it can.
DEFAULT_ACCOUNT_ID = "123456789012"
NAME_PREFIX = "likeness"

FUNCTION_TYPES = ("AWS::Serverless::Function",)
HTTP_EVENT_TYPES = ("HttpApi", "Api")


class TemplateError(ValueError):
    """The template uses something the local resolver cannot evaluate."""


# --------------------------------------------------------------------------- YAML


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long (JSON) forms."""


# CloudFormation has no YAML timestamps: an unquoted 2010-09-09 is a string there.
CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_any(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _intrinsic(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _construct_any(loader, node)}

    return construct


def _construct_get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_any(loader, node)
    if isinstance(value, str):
        # "Resource.Attr.Sub" -> ["Resource", "Attr.Sub"]: only the first dot separates
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


CloudFormationLoader.add_constructor("!Ref", _intrinsic("Ref"))
CloudFormationLoader.add_constructor("!Condition", _intrinsic("Condition"))
CloudFormationLoader.add_constructor("!GetAtt", _construct_get_att)
for _tag in (
    "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap",
    "GetAZs", "ImportValue", "Base64", "Cidr", "Length", "ToJsonString", "Transform",
):  # fmt: skip
    CloudFormationLoader.add_constructor(f"!{_tag}", _intrinsic(f"Fn::{_tag}"))


def local_parameters(data: Mapping[str, Any]) -> dict[str, Any]:
    """The template's own local values: ``Metadata.LocalStack.Parameters`` (declared ones only).

    A template states there what the local stack should use where a deployment's default does
    not fit (e.g. placeholder network ids so a condition keeps the resources it guards).
    """
    metadata = data.get("Metadata")
    local = metadata.get(LOCAL_METADATA_KEY) if isinstance(metadata, Mapping) else None
    values = local.get("Parameters") if isinstance(local, Mapping) else None
    values = values if isinstance(values, Mapping) else {}
    declared = data.get("Parameters") or {}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise TemplateError(
            f"Metadata.{LOCAL_METADATA_KEY}.Parameters names undeclared parameters: {unknown}"
        )
    return dict(values)


def load_template_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a CloudFormation template")
    return data


# --------------------------------------------------------------------------- model


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class FunctionEvent:
    name: str
    type: str
    properties: dict[str, Any]  # unresolved: resolve with Template.resolve when needed


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    entrypoint: str | None  # dotted path relative to the repo root, e.g. functions.x.app.handler
    properties: dict[str, Any]  # Globals.Function merged in, unresolved
    events: dict[str, FunctionEvent] = field(default_factory=dict)

    @property
    def module(self) -> str | None:
        return self.entrypoint.rpartition(".")[0] if self.entrypoint else None

    @property
    def handler_name(self) -> str | None:
        return self.entrypoint.rpartition(".")[2] if self.entrypoint else None

    @property
    def timeout(self) -> int:
        return int(self.properties.get("Timeout", 3))

    @property
    def memory_size(self) -> int:
        return int(self.properties.get("MemorySize", 128))

    def events_of_type(self, *types: str) -> dict[str, FunctionEvent]:
        return {name: event for name, event in self.events.items() if event.type in types}


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, "ANY" for every method
    path: str  # as declared: /identity/{proxy+}, or $default
    function_logical_id: str
    event_name: str
    entrypoint: str | None
    # what API Gateway runs before the route (its API's DefaultAuthorizer unless the event says)
    authorizer: RouteAuthorizer | None = None

    @property
    def module(self) -> str | None:
        return self.entrypoint.rpartition(".")[0] if self.entrypoint else None


def _merge_globals(global_props: Mapping[str, Any], local_props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals semantics: maps merge, lists concatenate, scalars are overridden."""
    merged: dict[str, Any] = copy.deepcopy(dict(global_props))
    for key, value in local_props.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = _merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def cfn_string(value: Any) -> str:
    """An environment variable / SQS attribute value as CloudFormation would pass it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def bucket_name(raw: str) -> str:
    """A valid S3 bucket name (3-63 chars of a-z, 0-9, '-', '.'), stable for a given input."""
    name = re.sub(r"[^a-z0-9.-]+", "-", raw.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-.")
    if len(name) > 63:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-.')}-{digest}"
    return name.ljust(3, "0")


# --------------------------------------------------------------------------- template


class Template:
    """A parsed SAM template with local physical ids and a resolver for intrinsic functions.

    Physical ids are derived from the Stage parameter and the logical id; provisioning then
    ``bind``s what the service really returned (queue URLs, ARNs) so later resolutions match
    the emulator exactly (moto, LocalStack and AWS use different URL shapes and accounts).
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        parameters: Mapping[str, Any] | None = None,
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str | None = None,
        path: Path | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.data: dict[str, Any] = copy.deepcopy(dict(data))
        self.path = path
        self.region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        self.account_id = account_id
        self.parameters = self._parameter_values(parameters or {})
        self.stack_name = stack_name or f"{NAME_PREFIX}-{self.stage}"
        self._endpoint_url = endpoint_url
        self._bound: dict[str, dict[str, str]] = {}
        self._conditions: dict[str, bool] = {}

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Template:
        """Load a template file with the local parameter defaults (Stage=local) applied."""
        template_path = Path(path) if path is not None else DEFAULT_TEMPLATE_PATH
        data = load_template_data(template_path)
        declared = data.get("Parameters") or {}
        values = {k: v for k, v in LOCAL_PARAMETERS.items() if k in declared}
        values.update(local_parameters(data))
        values.update(parameters or {})
        return cls(data, parameters=values, path=template_path, **kwargs)

    # ------------------------------------------------------------------ basics

    @property
    def root(self) -> Path:
        """The directory CodeUri/ContentUri are relative to (the repo root)."""
        return self.path.parent if self.path is not None else REPO_ROOT

    @property
    def stage(self) -> str:
        return str(self.parameters.get("Stage", "local"))

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def endpoint_url(self) -> str | None:
        return (
            self._endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_SQS")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in (self.data.get("Resources") or {}).items()
            if self._resource_exists(resource)
        }

    def resource_type(self, logical_id: str) -> str:
        try:
            return str(self.data["Resources"][logical_id]["Type"])
        except KeyError:
            raise TemplateError(f"unknown resource {logical_id!r}") from None

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.data["Resources"][logical_id].get("Properties") or {})

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """``{logical_id: Properties}`` (unresolved) of every resource of this type, in order."""
        return {
            logical_id: dict(resource.get("Properties") or {})
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def _parameter_values(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        declared: dict[str, Any] = self.data.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"parameters not declared in the template: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in overrides:
                raw = overrides[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no default and no value was given")
            ptype = str(spec.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                value: Any = raw if isinstance(raw, list) else [s.strip() for s in str(raw).split(",")]
            else:
                value = cfn_string(raw)
                allowed = spec.get("AllowedValues")
                if allowed is not None and value not in [cfn_string(a) for a in allowed]:
                    raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
                pattern = spec.get("AllowedPattern")
                if pattern is not None and not re.fullmatch(pattern, value):
                    raise TemplateError(f"parameter {name}={value!r} does not match {pattern!r}")
            values[name] = value
        return values

    # ------------------------------------------------------------------ conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.data.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = False  # guards against self-reference while evaluating
            self._conditions[name] = self._evaluate_condition(conditions[name])
        return self._conditions[name]

    def _evaluate_condition(self, expr: Any) -> bool:
        if isinstance(expr, bool):
            return expr
        if isinstance(expr, dict) and len(expr) == 1:
            ((fn, arg),) = expr.items()
            if fn == "Condition":
                return self.condition(str(arg))
            if fn == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return cfn_string(left) == cfn_string(right)
            if fn == "Fn::Not":
                return not self._evaluate_condition(arg[0])
            if fn == "Fn::And":
                return all(self._evaluate_condition(v) for v in arg)
            if fn == "Fn::Or":
                return any(self._evaluate_condition(v) for v in arg)
        raise TemplateError(f"cannot evaluate condition {expr!r}")

    def _resource_exists(self, resource: Mapping[str, Any]) -> bool:
        name = resource.get("Condition")
        return name is None or self.condition(str(name))

    # ------------------------------------------------------------------ names

    _NAME_PROPERTIES = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::S3::Bucket": "BucketName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::Events::EventBus": "Name",
        "AWS::Events::Rule": "Name",
        "AWS::Serverless::Function": "FunctionName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::Serverless::LayerVersion": "LayerName",
        "AWS::IAM::Role": "RoleName",
        "AWS::IAM::InstanceProfile": "InstanceProfileName",
        "AWS::ECR::Repository": "RepositoryName",
        "AWS::Batch::ComputeEnvironment": "ComputeEnvironmentName",
        "AWS::Batch::JobQueue": "JobQueueName",
        "AWS::Batch::JobDefinition": "JobDefinitionName",
        "AWS::Pipes::Pipe": "Name",
        "AWS::SecretsManager::Secret": "Name",
        "AWS::EC2::LaunchTemplate": "LaunchTemplateName",
    }

    def resource_name(self, logical_id: str) -> str:
        """The name of a resource: its explicit name property, else ``likeness-{stage}-{LogicalId}``."""
        rtype = self.resource_type(logical_id)
        props = self.properties(logical_id)
        name_prop = self._NAME_PROPERTIES.get(rtype)
        if name_prop and name_prop in props:
            return str(self.resolve(props[name_prop]))
        name = f"{NAME_PREFIX}-{self.stage}-{logical_id}"
        if rtype == "AWS::S3::Bucket":
            return bucket_name(name)
        if rtype == "AWS::SQS::Queue" and cfn_string(self.resolve(props.get("FifoQueue", False))) == "true":
            return f"{name}.fifo"
        return name

    def bind(self, logical_id: str, *, ref: str | None = None, **attributes: str | None) -> None:
        """Record what provisioning really created so Ref/GetAtt return the emulator's values."""
        bound = self._bound.setdefault(logical_id, {})
        if ref is not None:
            bound["Ref"] = ref
        bound.update({k: v for k, v in attributes.items() if v is not None})

    def physical_id(self, logical_id: str) -> str:
        return str(self._ref_resource(logical_id))

    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(
            [
                "arn",
                self.partition,
                service,
                self.region if region else "",
                self.account_id if account else "",
                resource,
            ]
        )

    def _queue_url(self, name: str) -> str:
        endpoint = self.endpoint_url
        if endpoint:
            return f"{endpoint.rstrip('/')}/{self.account_id}/{name}"
        return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{name}"

    def _ref_resource(self, logical_id: str) -> Any:
        bound = self._bound.get(logical_id, {})
        if "Ref" in bound:
            return bound["Ref"]
        rtype = self.resource_type(logical_id)
        if rtype == "AWS::SQS::Queue":
            return self._queue_url(self.resource_name(logical_id))
        if rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
            return f"local{logical_id.lower()}"
        if rtype == "AWS::Serverless::LayerVersion":
            return self._arn("lambda", f"layer:{self.resource_name(logical_id)}:1")
        if rtype == "AWS::KMS::Key":  # a key's Ref is its id
            return self._get_att(logical_id, "KeyId")
        if rtype in self._REF_IS_ARN:
            return self._get_att(logical_id, self._REF_IS_ARN[rtype])
        return self.resource_name(logical_id)

    # resources whose Ref is one of their attributes (their ARN, or an id)
    _REF_IS_ARN = {
        "AWS::Batch::ComputeEnvironment": "ComputeEnvironmentArn",
        "AWS::Batch::JobQueue": "JobQueueArn",
        "AWS::Batch::JobDefinition": "JobDefinitionArn",
        "AWS::SecretsManager::Secret": "Id",
        "AWS::EC2::LaunchTemplate": "LaunchTemplateId",
    }

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        bound = self._bound.get(logical_id, {})
        if attribute in bound:
            return bound[attribute]
        rtype = self.resource_type(logical_id)
        name = self.resource_name(logical_id)
        attributes: dict[str, Any] = {}
        if rtype == "AWS::DynamoDB::Table":
            arn = self._arn("dynamodb", f"table/{name}")
            attributes = {"Arn": arn, "StreamArn": f"{arn}/stream/local"}
        elif rtype == "AWS::S3::Bucket":
            attributes = {
                "Arn": self._arn("s3", name, region=False, account=False),
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{self.region}.amazonaws.com",
            }
        elif rtype == "AWS::SQS::Queue":
            attributes = {"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": self._queue_url(name)}
        elif rtype == "AWS::Events::EventBus":
            attributes = {"Arn": self._arn("events", f"event-bus/{name}"), "Name": name}
        elif rtype == "AWS::Events::Rule":
            bus = self.resolve(self.properties(logical_id).get("EventBusName", "default"))
            bus = str(bus).rsplit("/", 1)[-1]
            path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
            attributes = {"Arn": self._arn("events", path)}
        elif rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            attributes = {"Arn": self._arn("lambda", f"function:{name}")}
        elif rtype == "AWS::IAM::Role":
            arn = self._arn("iam", f"role/{name}", region=False)
            attributes = {"Arn": arn, "RoleId": f"AROA{hashlib.sha1(arn.encode()).hexdigest()[:17].upper()}"}
        elif rtype == "AWS::IAM::InstanceProfile":
            attributes = {"Arn": self._arn("iam", f"instance-profile/{name}", region=False)}
        elif rtype == "AWS::ECR::Repository":
            host = f"{self.account_id}.dkr.ecr.{self.region}.{self._ref('AWS::URLSuffix')}"
            attributes = {"Arn": self._arn("ecr", f"repository/{name}"), "RepositoryUri": f"{host}/{name}"}
        elif rtype == "AWS::Batch::ComputeEnvironment":
            attributes = {"ComputeEnvironmentArn": self._arn("batch", f"compute-environment/{name}")}
        elif rtype == "AWS::Batch::JobQueue":
            attributes = {"JobQueueArn": self._arn("batch", f"job-queue/{name}")}
        elif rtype == "AWS::Batch::JobDefinition":
            attributes = {"JobDefinitionArn": self._arn("batch", f"job-definition/{name}:1")}
        elif rtype == "AWS::Pipes::Pipe":
            attributes = {"Arn": self._arn("pipes", f"pipe/{name}")}
        elif rtype == "AWS::SecretsManager::Secret":
            attributes = {"Id": self._arn("secretsmanager", f"secret:{name}")}
        elif rtype == "AWS::EC2::LaunchTemplate":
            attributes = {"LaunchTemplateId": f"lt-{hashlib.sha1(name.encode()).hexdigest()[:17]}"}
            attributes |= {"LatestVersionNumber": "1", "DefaultVersionNumber": "1"}
        elif rtype == "AWS::KMS::Key":
            key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self._arn("kms", name)))
            attributes = {"Arn": self._arn("kms", f"key/{key_id}"), "KeyId": key_id}
        if attribute not in attributes:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} ({rtype}) is not supported locally")
        return attributes[attribute]

    # ------------------------------------------------------------------ resolver

    def _ref(self, name: Any) -> Any:
        name = self.resolve(name) if not isinstance(name, str) else name
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return self.account_id
        if name == "AWS::StackName":
            return self.stack_name
        if name == "AWS::StackId":
            return self._arn("cloudformation", f"stack/{self.stack_name}/local")
        if name == "AWS::URLSuffix":
            return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        if name == "AWS::Partition":
            return self.partition
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::NotificationARNs":
            return []
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.data.get("Resources") or {}):
            return self._ref_resource(name)
        raise TemplateError(f"Ref to unknown name {name!r}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):  # ${!Literal} is an escaped literal ${Literal}
                return "${" + expr[1:] + "}"
            if expr in variables:
                return cfn_string(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                resource, _, attribute = expr.partition(".")
                return cfn_string(self._get_att(resource, attribute))
            return cfn_string(self._ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def _call(self, fn: str, arg: Any) -> Any:
        if fn == "Fn::GetAtt":
            if isinstance(arg, str):
                resource, _, attribute = arg.partition(".")
            else:
                resource, attribute = (str(self.resolve(a)) for a in arg)
            return self._get_att(resource, attribute)
        if fn == "Fn::Sub":
            return self._sub(arg)
        if fn == "Fn::Join":
            delimiter, values = arg
            return str(delimiter).join(cfn_string(v) for v in self.resolve(values))
        if fn == "Fn::Select":
            index, values = (self.resolve(a) for a in arg)
            return values[int(index)]
        if fn == "Fn::Split":
            delimiter, text = arg
            return str(self.resolve(text)).split(str(delimiter))
        if fn == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._evaluate_condition({fn: arg})
        if fn == "Fn::FindInMap":
            mapping, top, second = (self.resolve(a) for a in arg[:3])
            try:
                return self.resolve(self.data["Mappings"][mapping][top][second])
            except KeyError:
                if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self.resolve(arg[3]["DefaultValue"])
                raise TemplateError(f"Fn::FindInMap {mapping}/{top}/{second} not found") from None
        if fn == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if fn == "Fn::Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if fn == "Fn::Length":
            return len(self.resolve(arg))
        if fn == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise TemplateError(f"{fn} cannot be resolved locally")

    def resolve(self, value: Any) -> Any:
        """Evaluate intrinsic functions in ``value`` (a deep copy is returned)."""
        result = self._resolve(value)
        return None if result is NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self._ref(arg)
                if key.startswith("Fn::"):
                    return self._call(key, arg)
            resolved = {k: self._resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self._resolve(item) for item in value) if v is not NO_VALUE]
        return value

    # ------------------------------------------------------------------ dependencies

    def references(self, value: Any) -> set[str]:
        """Logical ids of resources referenced by ``value`` (Ref, GetAtt, Sub)."""
        resource_ids = set(self.data.get("Resources") or {})
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, arg in node.items():
                    if key == "Ref" and isinstance(arg, str):
                        found.add(arg)
                    elif key == "Fn::GetAtt":
                        target = arg.partition(".")[0] if isinstance(arg, str) else arg[0]
                        if isinstance(target, str):
                            found.add(target)
                    elif key == "Fn::Sub":
                        text, variables = (arg[0], arg[1] or {}) if isinstance(arg, list) else (arg, {})
                        for expr in re.findall(r"\$\{([^!}][^}]*)\}", str(text)):
                            if expr not in variables:
                                found.add(expr.partition(".")[0])
                        walk(variables)
                    else:
                        walk(arg)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(value)
        return found & resource_ids

    def dependencies(self, logical_id: str) -> set[str]:
        resource = self.data["Resources"][logical_id]
        depends_on = resource.get("DependsOn") or []
        explicit = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        return (self.references(resource.get("Properties") or {}) | explicit) - {logical_id}

    def creation_order(self, logical_ids: Iterable[str] | None = None) -> list[str]:
        """Logical ids sorted so that every resource follows what it references (DLQs first)."""
        ids = list(self.resources if logical_ids is None else logical_ids)
        wanted = set(ids)
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(logical_id: str, trail: tuple[str, ...]) -> None:
            if state.get(logical_id) == 2:
                return
            if state.get(logical_id) == 1:
                raise TemplateError(f"circular references: {' -> '.join((*trail, logical_id))}")
            state[logical_id] = 1
            for dep in sorted(self.dependencies(logical_id) & wanted, key=ids.index):
                visit(dep, (*trail, logical_id))
            state[logical_id] = 2
            order.append(logical_id)

        for logical_id in ids:
            visit(logical_id, ())
        return order

    # ------------------------------------------------------------------ functions

    def _global_function_properties(self) -> dict[str, Any]:
        return dict(((self.data.get("Globals") or {}).get("Function")) or {})

    def _entrypoint(self, props: Mapping[str, Any]) -> str | None:
        if props.get("PackageType") == "Image":
            command = (props.get("ImageConfig") or {}).get("Command") or []
            return str(command[0]) if command else None
        handler = props.get("Handler")
        if not isinstance(handler, str):
            return None
        code_uri = props.get("CodeUri")
        prefix = ""
        if isinstance(code_uri, str) and "://" not in code_uri:
            # CodeUri functions/x/ + Handler app.handler -> functions.x.app.handler
            parts = [p for p in Path(code_uri).as_posix().split("/") if p not in ("", ".")]
            prefix = ".".join(parts)
        handler = handler.replace("/", ".")
        return f"{prefix}.{handler}" if prefix else handler

    def functions(self) -> dict[str, FunctionSpec]:
        """Every AWS::Serverless::Function with Globals merged, its entrypoint and its events."""
        global_props = self._global_function_properties()
        specs: dict[str, FunctionSpec] = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") not in FUNCTION_TYPES:
                continue
            props = _merge_globals(global_props, resource.get("Properties") or {})
            events = {
                name: FunctionEvent(name, str(event.get("Type")), dict(event.get("Properties") or {}))
                for name, event in (props.get("Events") or {}).items()
            }
            specs[logical_id] = FunctionSpec(logical_id, self._entrypoint(props), props, events)
        return specs

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions()[logical_id]
        except KeyError:
            raise TemplateError(f"{logical_id!r} is not a serverless function") from None

    def function_name(self, logical_id: str) -> str:
        return self.resource_name(logical_id)

    def http_routes(self) -> list[HttpRoute]:
        routes: list[HttpRoute] = []
        functions = self.functions()
        for spec in functions.values():
            for name, event in spec.events_of_type(*HTTP_EVENT_TYPES).items():
                props = self.resolve(event.properties)
                path = str(props.get("Path", "$default"))
                method = str(props.get("Method", "ANY")).upper()
                if method in ("X-AMAZON-APIGATEWAY-ANY-METHOD", "*"):
                    method = "ANY"
                authorizer = route_authorizer(self, event, functions)
                routes.append(HttpRoute(method, path, spec.logical_id, name, spec.entrypoint, authorizer))
        return routes

    def global_environment(self) -> dict[str, str]:
        variables = ((self._global_function_properties().get("Environment") or {}).get("Variables")) or {}
        return {k: cfn_string(v) for k, v in self.resolve(variables).items()}

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment a function sees: Globals merged with its own variables, resolved."""
        props = self.function(logical_id).properties
        variables = ((props.get("Environment") or {}).get("Variables")) or {}
        return {k: cfn_string(v) for k, v in self.resolve(variables).items()}

    def function_environment_overrides(self, logical_id: str) -> dict[str, str]:
        """Only the variables where a function differs from the Globals."""
        shared = self.global_environment()
        return {k: v for k, v in self.function_environment(logical_id).items() if shared.get(k) != v}

    # ------------------------------------------------------------------ layers

    def layer_paths(self) -> list[Path]:
        """Local directories of AWS::Serverless::LayerVersion ContentUri (what Lambda puts on sys.path)."""
        paths: list[Path] = []
        for props in self.resources_of_type("AWS::Serverless::LayerVersion").values():
            uri = self.resolve(props.get("ContentUri"))
            if not isinstance(uri, str) or "://" in uri:
                continue
            path = (self.root / uri).resolve()
            # a prebuilt layer keeps its packages under python/, as /opt/python in Lambda
            paths.append(path / "python" if (path / "python").is_dir() else path)
        return paths

    def ensure_import_paths(self) -> None:
        """Make the function packages (repo root) and the layers importable, as in Lambda."""
        for path in (self.root, *self.layer_paths()):
            entry = str(path)
            if path.is_dir() and entry not in sys.path:
                sys.path.insert(0, entry)
