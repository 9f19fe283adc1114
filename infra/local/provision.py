"""Create the template's tables, buckets, queues, buses, rules, secrets and keys on moto,
LocalStack or AWS.

Idempotent: existing resources are reused (and brought in line where that is cheap), so
provisioning a persistent LocalStack twice, or re-running ``make run``, is harmless. Lambda
functions, the HTTP API and the layer are not created: the gateway and the consumer runner
stand in for them.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.local.template import Template, TemplateError, cfn_string

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]
Clients = Mapping[str, Any] | ClientFactory | None


@dataclass(frozen=True)
class ProvisionedResource:
    logical_id: str
    type: str
    physical_id: str
    arn: str | None
    action: str  # created | reused | updated


@dataclass
class ProvisionResult:
    environment: dict[str, str]
    resources: dict[str, ProvisionedResource] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type
    seconds: float = 0.0


class _ClientCache:
    def __init__(self, clients: Clients) -> None:
        self._given = clients
        self._cache: dict[str, Any] = {}
        self._session: Any = None

    def __call__(self, service: str) -> Any:
        if service not in self._cache:
            if isinstance(self._given, Mapping):
                self._cache[service] = self._given[service]
            elif callable(self._given):
                self._cache[service] = self._given(service)
            else:
                import boto3

                # a fresh session reads AWS_ENDPOINT_URL as the stack set it just now; one
                # session for all services shares its loaded service models
                if self._session is None:
                    self._session = boto3.session.Session()
                self._cache[service] = self._session.client(service)
        return self._cache[service]

    def has(self, service: str) -> bool:
        return not isinstance(self._given, Mapping) or service in self._given


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _optional(what: str, call: Callable[[], Any]) -> None:
    """Hardening settings (encryption, public access block...) must not stop a local stack."""
    try:
        call()
    except (ClientError, BotoCoreError, NotImplementedError) as exc:
        log.warning("%s not applied by this endpoint: %s", what, exc)


# --------------------------------------------------------------------------- DynamoDB


def _throughput(spec: Mapping[str, Any] | None) -> dict[str, int]:
    spec = spec or {}
    return {
        "ReadCapacityUnits": int(spec.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(spec.get("WriteCapacityUnits", 5)),
    }


def _index(spec: Mapping[str, Any], *, provisioned: bool) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": spec["IndexName"],
        "KeySchema": spec["KeySchema"],
        "Projection": spec.get("Projection", {"ProjectionType": "ALL"}),
    }
    if provisioned:
        index["ProvisionedThroughput"] = _throughput(spec.get("ProvisionedThroughput"))
    return index


def _table_kwargs(name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    billing = props.get("BillingMode", "PROVISIONED")
    provisioned = billing == "PROVISIONED"
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing,
    }
    if provisioned:
        kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            _index(g, provisioned=provisioned) for g in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        kwargs["LocalSecondaryIndexes"] = [
            _index(i, provisioned=False) for i in props["LocalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    sse = props.get("SSESpecification")
    if sse:
        spec = {"Enabled": bool(sse.get("SSEEnabled", False))}
        spec.update({k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse})
        kwargs["SSESpecification"] = spec
    for key in ("TableClass", "DeletionProtectionEnabled", "Tags"):
        if key in props:
            kwargs[key] = props[key]
    return kwargs


def _provision_table(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    ddb = clients("dynamodb")
    name = template.resource_name(logical_id)
    props = template.resolve(template.properties(logical_id))
    action = "reused"
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        ddb.create_table(**_table_kwargs(name, props))
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        table = ddb.describe_table(TableName=name)["Table"]
        action = "created"
    else:
        # a persistent endpoint may hold the table from an older template: add new indexes
        existing = {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])}
        provisioned = props.get("BillingMode", "PROVISIONED") == "PROVISIONED"
        for gsi in props.get("GlobalSecondaryIndexes", []):
            if gsi["IndexName"] not in existing:
                log.info("adding index %s to existing table %s", gsi["IndexName"], name)
                ddb.update_table(
                    TableName=name,
                    AttributeDefinitions=props["AttributeDefinitions"],
                    GlobalSecondaryIndexUpdates=[{"Create": _index(gsi, provisioned=provisioned)}],
                )
                action = "updated"

    ttl = props.get("TimeToLiveSpecification")
    if ttl and cfn_string(ttl.get("Enabled", False)) == "true":
        current = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        # AWS rejects enabling TTL twice, so only ask when it differs
        if (
            current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING")
            or current.get("AttributeName") != ttl["AttributeName"]
        ):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and cfn_string(pitr.get("PointInTimeRecoveryEnabled", False)) == "true":
        _optional(
            f"{name} point-in-time recovery",
            lambda: ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            ),
        )

    arn = table["TableArn"]
    template.bind(logical_id, ref=name, Arn=arn, StreamArn=table.get("LatestStreamArn"))
    return ProvisionedResource(logical_id, "AWS::DynamoDB::Table", name, arn, action)


# --------------------------------------------------------------------------- S3


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    conditions: dict[str, Any] = {}
    if "Prefix" in rule:
        conditions["Prefix"] = rule["Prefix"]
    if rule.get("TagFilters"):
        conditions["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in rule["TagFilters"]]
    for key in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if key in rule:
            conditions[key] = int(rule[key])
    if len(conditions) > 1 or "Tags" in conditions and len(conditions["Tags"]) > 1:
        out["Filter"] = {"And": conditions}
    elif "Tags" in conditions:
        out["Filter"] = {"Tag": conditions["Tags"][0]}
    else:
        out["Filter"] = conditions or {"Prefix": ""}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {
            k: int(noncurrent[k]) for k in ("NoncurrentDays", "NewerNoncurrentVersions") if k in noncurrent
        }
    elif "NoncurrentVersionExpirationInDays" in rule:
        days = int(rule["NoncurrentVersionExpirationInDays"])
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    transitions = list(rule.get("Transitions", [])) + ([rule["Transition"]] if "Transition" in rule else [])
    if transitions:
        out["Transitions"] = [
            {"StorageClass": t["StorageClass"]}
            | ({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {})
            | ({"Date": t["TransitionDate"]} if "TransitionDate" in t else {})
            for t in transitions
        ]
    if rule.get("NoncurrentVersionTransitions"):
        out["NoncurrentVersionTransitions"] = [
            {"StorageClass": t["StorageClass"], "NoncurrentDays": int(t["TransitionInDays"])}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    return out


def _cors_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    renames = {"Id": "ID", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    return {renames.get(k, k): (int(v) if k == "MaxAge" else v) for k, v in rule.items()}


def _provision_bucket(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    s3 = clients("s3")
    name = template.resource_name(logical_id)
    props = template.resolve(template.properties(logical_id))
    action = "reused"
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        kwargs: dict[str, Any] = {"Bucket": name}
        region = s3.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        action = "created"

    # applied every time: each call replaces the whole configuration, so edits converge
    encryption = props.get("BucketEncryption")
    if encryption:
        rules = [
            {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
            | ({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})
            for r in encryption.get("ServerSideEncryptionConfiguration", [])
        ]
        _optional(
            f"{name} encryption",
            lambda: s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}),
        )
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        _optional(
            f"{name} public access block",
            lambda: s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block),
        )
    ownership = props.get("OwnershipControls")
    if ownership:
        _optional(
            f"{name} ownership controls",
            lambda: s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership),
        )
    versioning = props.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
    cors = props.get("CorsConfiguration")
    if cors:
        s3.put_bucket_cors(
            Bucket=name,
            CORSConfiguration={"CORSRules": [_cors_rule(r) for r in cors.get("CorsRules", [])]},
        )
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle and lifecycle.get("Rules"):
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle["Rules"]]},
        )

    arn = f"arn:{template.partition}:s3:::{name}"
    template.bind(logical_id, ref=name, Arn=arn)
    return ProvisionedResource(logical_id, "AWS::S3::Bucket", name, arn, action)


# --------------------------------------------------------------------------- SQS

# CloudFormation property -> SQS attribute (same names; the set says what is an attribute)
_QUEUE_ATTRIBUTES = frozenset(
    {
        "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
        "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId",
        "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
        "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
    }
)  # fmt: skip
_IMMUTABLE_QUEUE_ATTRIBUTES = frozenset({"FifoQueue"})


def queue_attributes(props: Mapping[str, Any]) -> dict[str, str]:
    """Resolved AWS::SQS::Queue properties as SQS attributes (RedrivePolicy as JSON)."""
    attributes: dict[str, str] = {}
    for key, value in props.items():
        if key in _QUEUE_ATTRIBUTES:
            attributes[key] = cfn_string(value)
        elif key not in ("QueueName", "Tags"):
            log.warning("queue property %s is not emulated", key)
    return attributes


def _provision_queue(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    sqs = clients("sqs")
    name = template.resource_name(logical_id)
    props = template.resolve(template.properties(logical_id))
    attributes = queue_attributes(props)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["tags"] = {t["Key"]: t["Value"] for t in props["Tags"]}
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        action = "created"
    else:
        mutable = {k: v for k, v in attributes.items() if k not in _IMMUTABLE_QUEUE_ATTRIBUTES}
        if mutable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
        action = "reused"
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    template.bind(logical_id, ref=url, Arn=arn, QueueName=name, QueueUrl=url)
    return ProvisionedResource(logical_id, "AWS::SQS::Queue", name, arn, action)


def _provision_queue_policy(
    template: Template, clients: _ClientCache, logical_id: str
) -> ProvisionedResource:
    sqs = clients("sqs")
    props = template.resolve(template.properties(logical_id))
    policy = json.dumps(props["PolicyDocument"], separators=(",", ":"))
    for url in props.get("Queues", []):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    template.bind(logical_id, ref=f"{template.stack_name}-{logical_id}")
    return ProvisionedResource(logical_id, "AWS::SQS::QueuePolicy", logical_id, None, "updated")


# --------------------------------------------------------------------------- EventBridge


def _provision_event_bus(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    events = clients("events")
    props = template.resolve(template.properties(logical_id))
    name = str(props.get("Name") or template.resource_name(logical_id))
    try:
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        action = "created"
    except ClientError as exc:
        if _error_code(exc) != "ResourceAlreadyExistsException":
            raise
        arn = events.describe_event_bus(Name=name)["Arn"]
        action = "reused"
    template.bind(logical_id, ref=name, Arn=arn, Name=name)
    return ProvisionedResource(logical_id, "AWS::Events::EventBus", name, arn, action)


# CloudFormation target properties that PutTargets takes as they are
_TARGET_KEYS = frozenset(
    {
        "Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "KinesisParameters",
        "RunCommandParameters", "EcsParameters", "BatchParameters", "SqsParameters",
        "HttpParameters", "RedshiftDataParameters", "SageMakerPipelineParameters",
        "DeadLetterConfig", "RetryPolicy", "AppSyncParameters",
    }
)  # fmt: skip


def _provision_rule(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    events = clients("events")
    name = template.resource_name(logical_id)
    props = template.resolve(template.properties(logical_id))
    bus = str(props.get("EventBusName") or "default")
    rule: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
    pattern = props.get("EventPattern")
    if pattern is not None:
        rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    for key in ("ScheduleExpression", "Description", "RoleArn"):
        if key in props:
            rule[key] = props[key]
    try:
        events.describe_rule(Name=name, EventBusName=bus)
        action = "reused"
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        action = "created"
    arn = events.put_rule(**rule)["RuleArn"]

    targets = [{k: v for k, v in t.items() if k in _TARGET_KEYS} for t in props.get("Targets", [])]
    wanted = {t["Id"] for t in targets}
    stale = [
        t["Id"]
        for t in events.list_targets_by_rule(Rule=name, EventBusName=bus).get("Targets", [])
        if t["Id"] not in wanted
    ]
    if stale:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=stale)
    if targets:
        response = events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"put_targets for {name} failed: {response['FailedEntries']}")
    template.bind(logical_id, ref=name, Arn=arn)
    return ProvisionedResource(logical_id, "AWS::Events::Rule", name, arn, action)


# --------------------------------------------------------------------------- Secrets Manager

_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def generated_secret(spec: Mapping[str, Any]) -> str:
    """A value as ``GenerateSecretString`` describes it (length, character classes, template)."""
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += _PUNCTUATION
    if spec.get("IncludeSpace"):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    if not alphabet:
        raise TemplateError("GenerateSecretString excludes every character")
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" in spec:
        document = json.loads(str(spec["SecretStringTemplate"]))
        document[str(spec["GenerateStringKey"])] = value
        return json.dumps(document)
    return value


def _provision_secret(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    """The secret, generated once: an existing one keeps its value (keys hashed with it)."""
    sm = clients("secretsmanager")
    name = template.resource_name(logical_id)
    props = template.resolve(template.properties(logical_id))
    try:
        arn = sm.describe_secret(SecretId=name)["ARN"]
        action = "reused"
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        value = props.get("SecretString")
        if value is None:
            value = generated_secret(props.get("GenerateSecretString") or {})
        kwargs: dict[str, Any] = {"Name": name, "SecretString": str(value)}
        if props.get("Description"):
            kwargs["Description"] = str(props["Description"])
        arn = sm.create_secret(**kwargs)["ARN"]
        action = "created"
    template.bind(logical_id, ref=arn, Id=arn)
    return ProvisionedResource(logical_id, "AWS::SecretsManager::Secret", name, arn, action)
# --------------------------------------------------------------------------- KMS


def _provision_kms_key(template: Template, clients: _ClientCache, logical_id: str) -> ProvisionedResource:
    """A symmetric key, found again by a local alias on a kept emulator. The key policy is not
    applied: it names the functions' IAM roles, which only exist on AWS (and moto does not
    enforce key policies)."""
    kms = clients("kms")
    name = template.resource_name(logical_id)
    alias = f"alias/{name}"
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]
        action = "reused"
    except ClientError as exc:
        if _error_code(exc) != "NotFoundException":
            raise
        description = template.resolve(template.properties(logical_id).get("Description")) or name
        key = kms.create_key(Description=str(description), KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        action = "created"
    template.bind(logical_id, ref=key["KeyId"], Arn=key["Arn"], KeyId=key["KeyId"])
    return ProvisionedResource(logical_id, "AWS::KMS::Key", key["KeyId"], key["Arn"], action)


# --------------------------------------------------------------------------- entry points

Provisioner = Callable[[Template, _ClientCache, str], ProvisionedResource]

PROVISIONERS: dict[str, Provisioner] = {
    "AWS::DynamoDB::Table": _provision_table,
    "AWS::S3::Bucket": _provision_bucket,
    "AWS::SQS::Queue": _provision_queue,
    "AWS::SQS::QueuePolicy": _provision_queue_policy,
    "AWS::Events::EventBus": _provision_event_bus,
    "AWS::Events::Rule": _provision_rule,
    "AWS::SecretsManager::Secret": _provision_secret,
    "AWS::KMS::Key": _provision_kms_key,
}


# Resource types the local stack knowingly does not create, and why. Anything else the template
# declares and no provisioner handles is reported: it may be something local runs depend on.
NOT_EMULATED: dict[str, str] = {
    "AWS::Serverless::Function": "the gateway, the SQS consumers and the schedules run the handlers",
    "AWS::Serverless::HttpApi": "the gateway serves the routes",
    "AWS::Serverless::Api": "the gateway serves the routes",
    "AWS::Serverless::LayerVersion": "the layers are on the import path",
    "AWS::Pipes::Pipe": "the pipe runner runs its job definition's command",
    "AWS::Batch::ComputeEnvironment": "jobs run as local subprocesses",
    "AWS::Batch::JobQueue": "jobs run as local subprocesses",
    "AWS::Batch::JobDefinition": "the pipe runner reads it from the template",
    "AWS::ECR::Repository": "no images are built locally",
    "AWS::EC2::LaunchTemplate": "no instances locally",
    "AWS::IAM::Role": "the emulator does not enforce IAM",
    "AWS::IAM::InstanceProfile": "the emulator does not enforce IAM",
    "AWS::IAM::Policy": "the emulator does not enforce IAM",
    "AWS::IAM::ManagedPolicy": "the emulator does not enforce IAM",
    "AWS::Lambda::Permission": "the emulator does not enforce IAM",
    "AWS::S3::BucketPolicy": "the emulator does not enforce IAM",
    "AWS::KMS::Alias": "nothing local is encrypted with a customer key",
    "AWS::CloudWatch::Alarm": "no metrics locally: alarms are for AWS",
    "AWS::SNS::Topic": "alarms only (not emulated)",
    "AWS::SNS::Subscription": "alarms only (not emulated)",
    "AWS::Logs::LogGroup": "functions and jobs log to the console",
}


def _adopt_caller_identity(template: Template, clients: _ClientCache) -> None:
    """ARNs carry the account: moto says 123456789012, LocalStack 000000000000, AWS yours."""
    if clients.has("sqs"):
        region = getattr(getattr(clients("sqs"), "meta", None), "region_name", None)
        if region:
            template.region = region
    if not clients.has("sts"):
        return
    try:
        template.account_id = clients("sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as exc:
        log.warning("could not read the account id (keeping %s): %s", template.account_id, exc)


def provision_resources(template: Template, *, clients: Clients = None) -> ProvisionResult:
    """Create or reuse every supported resource, in dependency order (DLQs before queues)."""
    started = time.perf_counter()
    cache = _ClientCache(clients)
    _adopt_caller_identity(template, cache)
    result = ProvisionResult(environment={})
    for logical_id in template.creation_order():
        rtype = template.resource_type(logical_id)
        provisioner = PROVISIONERS.get(rtype)
        if provisioner is None:
            result.skipped[logical_id] = rtype
            if rtype not in NOT_EMULATED:
                log.warning("%s (%s) is not provisioned and not known to be unneeded", logical_id, rtype)
            continue
        try:
            resource = provisioner(template, cache, logical_id)
        except (ClientError, BotoCoreError, TemplateError, KeyError) as exc:
            raise RuntimeError(f"provisioning {logical_id} ({rtype}) failed: {exc}") from exc
        result.resources[logical_id] = resource
        log.debug("%s %s %s", resource.action, rtype, resource.physical_id)
    result.environment = template.global_environment()
    result.seconds = time.perf_counter() - started
    log.info(
        "provisioned %d resources in %.2fs (%s); not emulated as resources: %s",
        len(result.resources),
        result.seconds,
        ", ".join(f"{sum(r.action == a for r in result.resources.values())} {a}"
                  for a in ("created", "reused", "updated")),
        ", ".join(f"{k} ({v})" for k, v in result.skipped.items()) or "none",
    )  # fmt: skip
    return result


def provision(template: Template, *, clients: Clients = None) -> dict[str, str]:
    """Provision the template and return the functions' shared environment (Globals), resolved.

    ``clients`` is a mapping service -> boto3 client, a factory ``service -> client``, or
    None for fresh clients from the current environment (AWS_ENDPOINT_URL).
    """
    return provision_resources(template, clients=clients).environment


def function_environment(template: Template, logical_id: str) -> dict[str, str]:
    """One function's environment (Globals merged with its own variables), resolved.

    Call after ``provision`` so queue URLs and ARNs are the endpoint's real ones.
    """
    return template.function_environment(logical_id)
