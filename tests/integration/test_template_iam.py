"""Least privilege, read from template.yaml as SAM translates it: what each function's role may do.

A small evaluator answers "may this function do this action on this key or object?" from the
role's statements (its inline policies, SAM's managed policies, explicit denies), so the tests
state rules a reviewer would check by hand: no Scan anywhere, the webhook delivery function
cannot write an account's credits, the sweeper deletes only under ``jobs/``, each function
reaches only its own queues, only the delivery function opens every webhook secret.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.template_support import raw_template, translate

# what SAM's managed policies grant that these tests care about
MANAGED = {
    "AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        }
    ],
}

QUEUES = (
    "PreprocessQueue",
    "JobQueue",
    "MediaIndexQueue",
    "MediaBatchQueue",
    "WebhookQueue",
    "WebhookDeadLetterQueue",
    "PreprocessDeadLetterQueue",
    "JobDeadLetterQueue",
    "EventDeliveryDeadLetterQueue",
    "MediaIndexDeadLetterQueue",
    "MediaBatchDeadLetterQueue",
    "MediaIndexFailureQueue",
)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return raw_template()


@pytest.fixture(scope="module")
def translated(raw: dict[str, Any]) -> dict[str, Any]:
    return translate(raw)


# ---------------------------------------------------------------------------- the evaluator


def _resource(value: Any) -> str:
    """A resource as a readable pattern: table, table/index/*, bucket/jobs/*, queue:JobQueue, *."""
    if value == "*":
        return "*"
    text = json.dumps(value)
    if "LikenessTable" in text:
        return "table/index/*" if "/index/" in text else "table"
    if "MediaBucket" in text:
        suffix = re.search(r"\}(/[^\"]*)", text)
        return "bucket" + (suffix.group(1) if suffix else "")
    for queue in QUEUES:
        if f'"{queue}"' in text:
            return f"queue:{queue}"
    return text


def _branches(node: Any) -> Iterator[dict[str, Any]]:
    """Policy documents, both sides of an Fn::If (a condition could pick either)."""
    if isinstance(node, dict) and "Fn::If" in node:
        for side in node["Fn::If"][1:]:
            yield from _branches(side)
    elif isinstance(node, dict) and "Statement" in node:
        yield node


@dataclass
class Role:
    statements: list[dict[str, Any]] = field(default_factory=list)

    def may(self, action: str, resource: str, **context: Any) -> bool:
        allowed = any(self._matches(s, action, resource, context) for s in self._of("Allow"))
        denied = any(self._matches(s, action, resource, context) for s in self._of("Deny"))
        return allowed and not denied

    def _of(self, effect: str) -> list[dict[str, Any]]:
        return [s for s in self.statements if s.get("Effect") == effect]

    @staticmethod
    def _matches(statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]) -> bool:
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase(action, a) for a in actions):
            return False
        if "NotResource" in statement:
            excluded = statement["NotResource"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            if any(fnmatch.fnmatchcase(resource, _resource(r)) for r in excluded):
                return False
        else:
            targets = statement.get("Resource") or []
            targets = targets if isinstance(targets, list) else [targets]
            if not any(fnmatch.fnmatchcase(resource, _resource(r)) for r in targets):
                return False
        return _conditions_hold(statement.get("Condition") or {}, context)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, Any]) -> bool:
    """The condition operators the template uses; any other keeps the statement (a "cannot"
    test must not pass because the evaluator ignored a condition it does not know)."""
    for operator, tests in conditions.items():
        for key, wanted in tests.items():
            wanted = wanted if isinstance(wanted, list) else [wanted]
            given = context.get(key)
            if given is None:
                continue  # the request does not carry the key: an absent key does not restrict here
            values = given if isinstance(given, list | set | tuple) else [given]
            if operator == "ForAllValues:StringLike":
                ok = all(any(fnmatch.fnmatchcase(v, w) for w in wanted) for v in values)
            elif operator in ("ForAllValues:StringEquals", "StringEquals"):
                ok = all(v in wanted for v in values)
            elif operator == "StringLike":
                ok = all(any(fnmatch.fnmatchcase(v, w) for w in wanted) for v in values)
            else:
                ok = True
            if not ok:
                return False
    return True


def _roles(translated: dict[str, Any]) -> dict[str, Role]:
    """Function logical id -> its role, as deployed."""
    roles: dict[str, Role] = {}
    resources = translated["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        props = resources[role_ref]["Properties"]
        role = Role()
        for policy in props.get("Policies") or []:
            for document in _branches(policy.get("PolicyDocument") or policy):
                role.statements.extend(document["Statement"])
        for arn in props.get("ManagedPolicyArns") or []:
            role.statements.extend(MANAGED.get(str(arn).rsplit("/", 1)[-1], []))
        roles[logical_id] = role
    return roles


@pytest.fixture(scope="module")
def roles(translated: dict[str, Any]) -> dict[str, Role]:
    found = _roles(translated)
    assert "WebhookDeliveryFunction" in found and "JobSweeperFunction" in found
    return found


# ---------------------------------------------------------------------------- DynamoDB


def test_functions_take_no_broad_policy_template_and_no_function_may_scan(
    raw: dict[str, Any], roles: dict[str, Role]
) -> None:
    broad = ("DynamoDBCrudPolicy", "S3CrudPolicy", "S3FullAccessPolicy", "DynamoDBWritePolicy")
    for logical_id, resource in raw["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies") or []:
            assert not (isinstance(policy, dict) and set(policy) & set(broad)), logical_id
    for logical_id, role in roles.items():
        for resource in ("table", "table/index/*"):
            assert not role.may("dynamodb:Scan", resource), logical_id
            assert not role.may("dynamodb:DeleteTable", resource), logical_id


def test_the_webhook_delivery_function_cannot_write_account_records(roles: dict[str, Role]) -> None:
    delivery = roles["WebhookDeliveryFunction"]
    credits = {"dynamodb:LeadingKeys": ["ACCOUNT#acc_1"], "dynamodb:Attributes": ["credits"]}
    for action in ("UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem"):
        assert not delivery.may(f"dynamodb:{action}", "table", **credits), action
    assert not delivery.may("dynamodb:PutItem", "table", **{"dynamodb:LeadingKeys": ["ACCOUNT#acc_1"]})
    # what it does write: its deliveries, the event log, and an endpoint's enabled flag
    assert delivery.may("dynamodb:UpdateItem", "table", **{"dynamodb:LeadingKeys": ["WHDLV#whdlv_1"]})
    assert delivery.may("dynamodb:PutItem", "table", **{"dynamodb:LeadingKeys": ["WHEVENTS#acc_1"]})
    disable = ["enabled", "disabled_reason", "disabled_at", "updated_at"]
    assert delivery.may(
        "dynamodb:UpdateItem",
        "table",
        **{"dynamodb:LeadingKeys": ["ACCOUNT#acc_1"], "dynamodb:Attributes": disable},
    )
    assert delivery.may("dynamodb:GetItem", "table")


def test_the_authorizer_only_reads_keys_and_accounts(roles: dict[str, Role]) -> None:
    authorizer = roles["ApiKeyAuthorizerFunction"]
    assert authorizer.may("dynamodb:GetItem", "table", **{"dynamodb:LeadingKeys": ["APIKEY#abc"]})
    assert not authorizer.may("dynamodb:GetItem", "table", **{"dynamodb:LeadingKeys": ["WHSECRET#x"]})
    for action in ("PutItem", "UpdateItem", "DeleteItem", "Query"):
        assert not authorizer.may(f"dynamodb:{action}", "table"), action
    assert not any(authorizer.may(a, "bucket/identities/x") for a in ("s3:GetObject", "s3:PutObject"))


# ---------------------------------------------------------------------------- S3


def test_the_sweeper_deletes_objects_under_jobs_only(roles: dict[str, Role]) -> None:
    sweeper = roles["JobSweeperFunction"]
    assert sweeper.may("s3:DeleteObject", "bucket/jobs/job_1/results/0.png")
    for key in ("identities/idn_1/source.png", "media/acc/f/source.mp4", "avatars/a.png", "x"):
        assert not sweeper.may("s3:DeleteObject", f"bucket/{key}"), key
    assert not sweeper.may("s3:GetObject", "bucket/jobs/job_1/results/0.png")


def test_no_function_may_change_the_bucket_itself(roles: dict[str, Role]) -> None:
    admin = (
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketAcl",
        "s3:PutObjectAcl",
        "s3:PutBucketPolicy",
        "s3:DeleteBucket",
        "s3:PutBucketVersioning",
    )
    for logical_id, role in roles.items():
        for action in admin:
            for resource in ("bucket", "bucket/jobs/x"):
                assert not role.may(action, resource), (logical_id, action)


def test_each_function_reaches_only_the_key_prefixes_it_uses(roles: dict[str, Role]) -> None:
    prefixes = {
        "IdentityApiFunction": {"identities/", "jobs/", "uploads/"},
        "IdentityPreprocessFunction": {"identities/"},
        "AvatarApiFunction": {"avatars/", "jobs/", "uploads/"},
        "WardrobeApiFunction": {"clothing-items/", "wardrobe-avatars/", "jobs/", "uploads/"},
        "CharacterApiFunction": {"characters/", "jobs/", "uploads/"},
        "JobWorkerFunction": {"jobs/", "identities/", "characters/"},
        "JobSweeperFunction": {"jobs/"},
        "WebhookApiFunction": set(),
        "WebhookDeliveryFunction": set(),
        "MediaApiFunction": {"media/", "media-uploads/", "uploads/"},
        "MediaIndexerFunction": {"media/"},
        "MediaIndexFailureFunction": set(),
        "ApiKeyAuthorizerFunction": set(),
    }
    every = {"identities/", "jobs/", "avatars/", "clothing-items/", "wardrobe-avatars/", "characters/"}
    every |= {"media/", "media-uploads/", "uploads/"}
    assert set(prefixes) == set(roles)
    for logical_id, role in roles.items():
        reached = {
            prefix
            for prefix in every
            for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
            if role.may(action, f"bucket/{prefix}x")
        }
        assert reached == prefixes[logical_id], logical_id


# ---------------------------------------------------------------------------- SQS


def test_each_function_reaches_only_its_own_queues(roles: dict[str, Role]) -> None:
    own = {
        "IdentityApiFunction": {"PreprocessQueue", "JobQueue"},
        "IdentityPreprocessFunction": {"PreprocessQueue"},
        "AvatarApiFunction": {"JobQueue"},
        "WardrobeApiFunction": {"JobQueue"},
        "CharacterApiFunction": {"JobQueue"},
        "JobWorkerFunction": {"JobQueue"},
        "JobSweeperFunction": {"EventDeliveryDeadLetterQueue"},  # its failed runs (on-failure destination)
        "WebhookApiFunction": {"WebhookQueue"},
        "WebhookDeliveryFunction": {"WebhookQueue", "WebhookDeadLetterQueue"},
        "MediaApiFunction": {"MediaIndexQueue", "MediaBatchQueue"},
        "MediaIndexerFunction": {"MediaIndexQueue"},
        # it consumes the Batch failure queue and both index dead-letter queues
        "MediaIndexFailureFunction": {
            "MediaIndexDeadLetterQueue",
            "MediaBatchDeadLetterQueue",
            "MediaIndexFailureQueue",
        },
        "ApiKeyAuthorizerFunction": set(),
    }
    actions = ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")
    for logical_id, role in roles.items():
        reached = {q for q in QUEUES for a in actions if role.may(a, f"queue:{q}")}
        assert reached == own[logical_id], logical_id
    # a consumer still reads its own queue (the event source mapping runs as the function)
    assert roles["JobWorkerFunction"].may("sqs:ReceiveMessage", "queue:JobQueue")
    assert roles["JobWorkerFunction"].may("sqs:SendMessage", "queue:JobQueue")  # a provider poll


# ---------------------------------------------------------------------------- KMS, bucket, table


def test_only_the_delivery_function_opens_every_webhook_secret(raw: dict[str, Any]) -> None:
    key = raw["Resources"]["WebhookSecretsKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    openers: dict[str, Any] = {}
    sealers: dict[str, Any] = {}
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        principal = statement["Principal"]["AWS"]
        if "Fn::Sub" in principal:  # the account's root administers, never uses
            assert not {"kms:Decrypt", "kms:Encrypt", "kms:*"} & set(actions)
            assert not any(a.startswith(("kms:ReEncrypt", "kms:GenerateDataKey")) for a in actions)
            continue
        role = principal["Fn::GetAtt"][0]
        purpose = (
            (statement.get("Condition") or {}).get("StringEquals", {}).get("kms:EncryptionContext:purpose")
        )
        for action in actions:
            (openers if action == "kms:Decrypt" else sealers)[role] = purpose
    assert openers == {"WebhookDeliveryFunctionRole": None, "WebhookApiFunctionRole": "webhook-account"}
    assert set(sealers) == {"WebhookApiFunctionRole", "WardrobeApiFunctionRole"}
    assert all(purpose for purpose in sealers.values())


def test_the_bucket_takes_tls_only_aborts_stale_uploads_and_keeps_no_versions(raw: dict[str, Any]) -> None:
    bucket = raw["Resources"]["MediaBucket"]["Properties"]
    assert "VersioningConfiguration" not in bucket  # a deleted face must be gone (docs/security.md)
    rules = bucket["LifecycleConfiguration"]["Rules"]
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r and r["Status"] == "Enabled"]
    assert aborts and "Prefix" not in aborts[0]
    policies = [r for r in raw["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    [policy] = [p["Properties"] for p in policies if p["Properties"]["Bucket"] == {"Ref": "MediaBucket"}]
    [deny] = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_the_table_is_protected_from_deletion(raw: dict[str, Any]) -> None:
    table = raw["Resources"]["LikenessTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
