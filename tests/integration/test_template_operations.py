"""template.yaml as an AWS deployer reads it: concurrency, secrets, the GPU image, alarms, logs,
and what catches a media file stuck in processing (issue 13)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local.template import Template, TemplateError
from tests.integration.template_support import raw_template, resources_of, translate


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return raw_template()


@pytest.fixture(scope="module")
def translated(raw: dict[str, Any]) -> dict[str, Any]:
    return translate(raw)


def _functions(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of(raw, "AWS::Serverless::Function").items()}


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


# --------------------------------------------------------------------------- the API key pepper


def test_the_api_key_pepper_is_generated_into_secrets_manager_and_kept(raw: dict[str, Any]) -> None:
    """A pepper set by hand is reset by the next deploy (every key invalidated): the template
    generates it once, keeps it, and gives its ARN to the functions."""
    secret = raw["Resources"]["ApiKeyPepperSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"
    generate = secret["Properties"]["GenerateSecretString"]
    assert int(generate["PasswordLength"]) >= 32
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert "LIKENESS_API_KEY_PEPPER" not in variables
    assert variables["LIKENESS_API_KEY_PEPPER_SECRET"] == {
        "Fn::If": ["GeneratePepper", {"Ref": "ApiKeyPepperSecret"}, {"Ref": "ApiKeyPepperSecretArn"}]
    }
    for props in _functions(raw).values():
        assert "LIKENESS_API_KEY_PEPPER" not in ((props.get("Environment") or {}).get("Variables") or {})
    # the local stack generates one too, and a stack given an existing secret uses that one
    assert Template.load().condition("GeneratePepper")
    given = "arn:aws:secretsmanager:us-east-1:123456789012:secret:likeness/pepper-AbCdEf"
    kept = Template.load(parameters={"ApiKeyPepperSecretArn": given})
    assert "ApiKeyPepperSecret" not in kept.resources
    assert kept.global_environment()["LIKENESS_API_KEY_PEPPER_SECRET"] == given


def test_every_function_that_checks_api_keys_may_read_the_pepper(raw: dict[str, Any]) -> None:
    policy = raw["Resources"]["ApiKeyPepperReadPolicy"]["Properties"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    readers = {role["Ref"].removesuffix("Role") for role in policy["Roles"]}
    api_functions = {
        function_id
        for function_id, props in _functions(raw).items()
        if any(e["Type"] in ("HttpApi", "Api") for e in (props.get("Events") or {}).values())
    }
    assert api_functions and api_functions <= readers
    assert readers <= set(_functions(raw))


def test_the_translated_template_attaches_the_pepper_policy_to_the_api_roles(
    translated: dict[str, Any],
) -> None:
    roles = {k for k, v in translated["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    policy = translated["Resources"]["ApiKeyPepperReadPolicy"]["Properties"]
    assert {role["Ref"] for role in policy["Roles"]} <= roles


# --------------------------------------------------------------------------- the GPU image

PINNED = "sha256:" + "ab" * 32


def _job_image(template: Template) -> str:
    definition = template.properties("MediaIndexJobDefinition")
    return str(template.resolve(definition["ContainerProperties"]["Image"]))


def test_the_gpu_job_runs_an_image_pinned_by_digest() -> None:
    """``:latest`` of a repository the stack itself creates fails every job until someone pushes,
    and cannot be rolled back: the job definition takes a digest, and waits for one."""
    network = {"BatchSubnetIds": "subnet-1", "BatchSecurityGroupIds": "sg-1"}
    pinned = Template.load(parameters={**network, "MediaIndexImageDigest": PINNED})
    assert _job_image(pinned).endswith(f"/likeness-local-MediaIndexRepository@{PINNED}")
    assert pinned.global_environment()["LIKENESS_MEDIA_BATCH_QUEUE_URL"]

    elsewhere = Template.load(
        parameters={**network, "MediaIndexImageUri": f"registry.example/media@{PINNED}"}
    )
    assert _job_image(elsewhere) == f"registry.example/media@{PINNED}"
    for tagged in ("registry.example/media:latest", "registry.example/media:v3"):
        with pytest.raises(TemplateError):
            Template.load(parameters={**network, "MediaIndexImageUri": tagged})

    # the first deploy (no image pushed yet): the repository and the compute environment exist,
    # no job can be submitted, and every file goes to the Lambda indexer meanwhile
    waiting = Template.load(parameters={**network, "MediaIndexImageDigest": ""})
    assert {"MediaIndexRepository", "MediaIndexComputeEnvironment"} <= set(waiting.resources)
    assert not {"MediaIndexJobDefinition", "MediaIndexPipe"} & set(waiting.resources)
    assert waiting.global_environment()["LIKENESS_MEDIA_BATCH_QUEUE_URL"] == ""


def test_the_repository_keeps_its_tags_immutable(raw: dict[str, Any]) -> None:
    assert raw["Resources"]["MediaIndexRepository"]["Properties"]["ImageTagMutability"] == "IMMUTABLE"


def test_gpu_instances_boot_from_an_encrypted_root_volume_big_enough_for_the_image(
    raw: dict[str, Any],
) -> None:
    template = Template.load()
    data = template.resolve(template.properties("MediaIndexLaunchTemplate"))["LaunchTemplateData"]
    [root] = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"  # the ECS_AL2023_NVIDIA AMI's root device
    assert root["Ebs"]["Encrypted"] is True and root["Ebs"]["VolumeType"] == "gp3"
    size = raw["Parameters"]["BatchRootVolumeGiB"]
    assert int(root["Ebs"]["VolumeSize"]) == int(size["Default"]) >= int(size["MinValue"]) >= 30
    compute = template.properties("MediaIndexComputeEnvironment")["ComputeResources"]
    assert compute["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": "MediaIndexLaunchTemplate"},
        "Version": {"Fn::GetAtt": ["MediaIndexLaunchTemplate", "LatestVersionNumber"]},
    }


# --------------------------------------------------------------------------- records stuck in processing


def test_a_job_waiting_for_a_gpu_too_long_is_cancelled(raw: dict[str, Any]) -> None:
    from likeness.media.index_failures import RUNNABLE_TIMEOUT_REASON

    [action] = raw["Resources"]["MediaIndexJobQueue"]["Properties"]["JobStateTimeLimitActions"]
    assert action["State"] == "RUNNABLE" and action["Action"] == "CANCEL"
    assert action["MaxTimeSeconds"] == {"Ref": "MediaIndexRunnableTimeoutSeconds"}
    assert action["Reason"] == RUNNABLE_TIMEOUT_REASON  # how the failure handler recognises it
    limits = raw["Parameters"]["MediaIndexRunnableTimeoutSeconds"]
    assert 600 <= int(limits["MinValue"]) <= int(limits["Default"]) <= int(limits["MaxValue"]) <= 86400


def test_failed_batch_jobs_and_dead_lettered_index_messages_reach_the_failure_handler(
    raw: dict[str, Any],
) -> None:
    rule = raw["Resources"]["MediaBatchJobFailedRule"]["Properties"]
    assert rule["EventBusName"] == "default"  # where Batch reports
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.batch"] and pattern["detail-type"] == ["Batch Job State Change"]
    assert pattern["detail"] == {"status": ["FAILED"], "jobQueue": [{"Ref": "MediaIndexJobQueue"}]}
    [target] = rule["Targets"]
    target_queue = target["Arn"]["Fn::GetAtt"][0]

    handler = _functions(raw)["MediaIndexFailureFunction"]
    consumed = {
        e["Properties"]["Queue"]["Fn::GetAtt"][0] for e in handler["Events"].values() if e["Type"] == "SQS"
    }
    assert consumed == {target_queue, "MediaIndexDeadLetterQueue", "MediaBatchDeadLetterQueue"}
    # EventBridge may send to the queue: only this rule
    [statement] = raw["Resources"]["MediaIndexFailureQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["MediaBatchJobFailedRule", "Arn"]
    }


def _event_targets(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every EventBridge target of the template: rule targets and the functions' Schedule events."""
    targets = {
        f"{rule_id}.{target['Id']}": target
        for rule_id, rule in resources_of(raw, "AWS::Events::Rule").items()
        for target in rule["Properties"]["Targets"]
    }
    for function_id, props in _functions(raw).items():
        for name, event in (props.get("Events") or {}).items():
            if event["Type"] in ("Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent"):
                targets[f"{function_id}.{name}"] = event["Properties"]
    return targets


def test_every_eventbridge_target_retries_and_keeps_what_it_could_not_deliver(raw: dict[str, Any]) -> None:
    targets = _event_targets(raw)
    assert {"WebhookEventsRule.webhook-queue", "JobSweeperFunction.EveryMinute"} <= set(targets)
    queues = resources_of(raw, "AWS::SQS::Queue")
    for name, target in targets.items():
        retry = target.get("RetryPolicy") or {}
        assert int(retry.get("MaximumRetryAttempts", 0)) >= 1, name
        assert 60 <= int(retry.get("MaximumEventAgeInSeconds", 0)) <= 86400, name
        dead_letter = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert dead_letter in queues, name
    # EventBridge may write to that dead-letter queue
    policies = [
        p["Properties"]
        for p in resources_of(raw, "AWS::SQS::QueuePolicy").values()
        if {"Ref": "EventDeliveryDeadLetterQueue"} in p["Properties"]["Queues"]
    ]
    statements = policies[0]["PolicyDocument"]["Statement"]
    principals = {s["Principal"]["Service"] for s in statements if s["Action"] == "sqs:SendMessage"}
    assert "events.amazonaws.com" in principals


# --------------------------------------------------------------------------- alarms and logs


def _alarms(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of(raw, "AWS::CloudWatch::Alarm").items()}


def _watched(alarm: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(namespace, metric, dimension values) of each metric an alarm reads."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], [d["Value"] for d in alarm["Dimensions"]])]
    return [
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
         [d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]])
        for m in alarm["Metrics"]
        if "MetricStat" in m
    ]  # fmt: skip


def test_alarms_notify_an_encrypted_topic_cloudwatch_can_publish_to(raw: dict[str, Any]) -> None:
    topic = raw["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}  # not aws/sns: CloudWatch cannot use that
    key = raw["Resources"]["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    alarms = _alarms(raw)
    assert alarms
    for alarm_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm_id
        assert alarm["TreatMissingData"] == "notBreaching", alarm_id


def test_every_dead_letter_queue_has_an_alarm(raw: dict[str, Any]) -> None:
    targets = [q["Properties"]["RedrivePolicy"] for q in resources_of(raw, "AWS::SQS::Queue").values()
               if "RedrivePolicy" in q.get("Properties", {})]  # fmt: skip
    targets += [t["DeadLetterConfig"] for t in _event_targets(raw).values()]
    targets += [
        s["Properties"]["RedrivePolicy"] for s in resources_of(raw, "AWS::SNS::Subscription").values()
    ]
    dead_letter_queues = set()
    for target in targets:
        arn = target.get("deadLetterTargetArn") or target.get("Arn")
        dead_letter_queues.add(arn["Fn::GetAtt"][0])
    for props in _functions(raw).values():
        on_failure = ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure")
        if on_failure:
            dead_letter_queues.add(on_failure["Destination"]["Fn::GetAtt"][0])
    assert len(dead_letter_queues) >= 7
    watched = {
        tuple(dims[0]["Fn::GetAtt"])
        for alarm in _alarms(raw).values()
        for namespace, _, dims in _watched(alarm)
        if namespace == "AWS/SQS"
    }
    assert {(queue, "QueueName") for queue in dead_letter_queues} <= watched


def test_every_function_alarms_on_errors_and_throttles(raw: dict[str, Any]) -> None:
    watched = {
        (metric, dims[0]["Ref"])
        for alarm in _alarms(raw).values()
        for namespace, metric, dims in _watched(alarm)
        if namespace == "AWS/Lambda"
    }
    for function_id in _functions(raw):
        assert ("Errors", function_id) in watched and ("Throttles", function_id) in watched, function_id


def test_the_api_table_and_batch_jobs_have_alarms(raw: dict[str, Any]) -> None:
    watched = {(ns, metric): dims for alarm in _alarms(raw).values() for ns, metric, dims in _watched(alarm)}
    assert watched[("AWS/ApiGateway", "5xx")] == [{"Ref": "LikenessApi"}]
    assert watched[("AWS/DynamoDB", "ReadThrottleEvents")] == [{"Ref": "LikenessTable"}]
    assert watched[("AWS/DynamoDB", "WriteThrottleEvents")] == [{"Ref": "LikenessTable"}]
    assert watched[("AWS/Events", "TriggeredRules")] == [{"Ref": "MediaBatchJobFailedRule"}]


def test_every_function_batch_job_and_api_access_log_has_a_retention(raw: dict[str, Any]) -> None:
    groups = {k: v["Properties"] for k, v in resources_of(raw, "AWS::Logs::LogGroup").items()}
    for group_id, group in groups.items():
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, group_id
    for function_id, props in _functions(raw).items():
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in groups, function_id
    container = raw["Resources"]["MediaIndexJobDefinition"]["Properties"]["ContainerProperties"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"] in groups
    access = raw["Resources"]["LikenessApi"]["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"]["Fn::GetAtt"][0] in groups
    fields = json.loads(access["Format"])
    assert {"requestId", "status", "routeKey", "ip"} <= set(fields)
    assert not any("authorization" in str(v).lower() or "api-key" in str(v).lower() for v in fields.values())
    retention = raw["Parameters"]["LogRetentionDays"]
    assert int(retention["Default"]) in retention["AllowedValues"]


def test_the_local_stack_provisions_or_knowingly_skips_every_resource_type(raw: dict[str, Any]) -> None:
    from infra.local.provision import NOT_EMULATED, PROVISIONERS

    declared = {resource["Type"] for resource in raw["Resources"].values()}
    assert declared <= set(PROVISIONERS) | set(NOT_EMULATED), declared - set(PROVISIONERS) - set(NOT_EMULATED)
    assert not set(PROVISIONERS) & set(NOT_EMULATED)
    # what the local runs depend on is created, not skipped
    assert {
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Events::Rule",
        "AWS::SecretsManager::Secret",
    } <= set(PROVISIONERS)
