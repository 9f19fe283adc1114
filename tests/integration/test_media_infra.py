"""Media indexing infrastructure: template.yaml's media resources, the routes the gateway gives the
media API, the MediaIndexer consumer, and the local stand-in for the SQS -> Pipe -> Batch path."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local.consumers import ConsumerRunner, LocalLambdaContext, build_sqs_event, sqs_sources
from infra.local.emulator import Emulator, start_emulator
from infra.local.gateway import Gateway
from infra.local.pipes import (
    BatchPipe,
    PipeError,
    PipeRunner,
    RetryRule,
    batch_pipes,
    job_parameters,
    json_path,
    substitute,
)
from infra.local.provision import provision_resources
from infra.local.template import Template
from tests.helpers import EVENTS, ROOT, wait_until
from tests.integration.template_support import raw_template, translate

BATCH_TYPES = (
    "AWS::Batch::ComputeEnvironment",
    "AWS::Batch::JobQueue",
    "AWS::Batch::JobDefinition",
    "AWS::Pipes::Pipe",
)


def _event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def _client(service: str) -> Any:
    session: Any = boto3.session.Session()  # fresh: reads AWS_ENDPOINT_URL as it is now
    return session.client(service)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return raw_template()


def _of_type(raw: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in raw["Resources"].items() if v["Type"] == rtype}


# --------------------------------------------------------------------------- template.yaml


def test_template_declares_the_batch_path_fed_by_the_media_batch_queue(raw: dict[str, Any]) -> None:
    resources = raw["Resources"]
    [pipe_id] = _of_type(raw, "AWS::Pipes::Pipe")
    pipe = resources[pipe_id]["Properties"]
    assert pipe["Source"] == {"Fn::GetAtt": ["MediaBatchQueue", "Arn"]}
    assert pipe["SourceParameters"]["SqsQueueParameters"]["BatchSize"] == 1
    assert pipe["RoleArn"]["Fn::GetAtt"][0] in _of_type(raw, "AWS::IAM::Role")

    [job_queue_id] = _of_type(raw, "AWS::Batch::JobQueue")
    assert pipe["Target"] == {"Ref": job_queue_id}
    [definition_id] = _of_type(raw, "AWS::Batch::JobDefinition")
    batch = pipe["TargetParameters"]["BatchJobParameters"]
    assert batch["JobDefinition"] == {"Ref": definition_id} and batch["JobName"]
    # every field of the message travels as a JSON path into the SQS body
    assert batch["Parameters"] == {k: f"$.body.{k}" for k in ("account_id", "file_uuid", "run_id")}

    [environment_id] = _of_type(raw, "AWS::Batch::ComputeEnvironment")
    environment = resources[environment_id]["Properties"]
    compute = environment["ComputeResources"]
    assert environment["Type"] == "MANAGED" and compute["Type"] == "EC2"
    assert compute["MinvCpus"] == 0  # scales to nothing when idle
    instance_types = Template.load().resolve(compute["InstanceTypes"])
    assert instance_types and all(t.split(".")[0] in ("g4dn", "g5", "g6", "g6e") for t in instance_types)
    assert compute["Subnets"] == {"Ref": "BatchSubnetIds"}
    assert compute["SecurityGroupIds"] == {"Ref": "BatchSecurityGroupIds"}
    assert compute["InstanceRole"]["Fn::GetAtt"][0] in _of_type(raw, "AWS::IAM::InstanceProfile")
    assert "NVIDIA" in compute["Ec2Configuration"][0]["ImageType"]
    job_queue = resources[job_queue_id]["Properties"]
    assert job_queue["ComputeEnvironmentOrder"][0]["ComputeEnvironment"] == {"Ref": environment_id}

    definition = resources[definition_id]["Properties"]
    container = definition["ContainerProperties"]
    assert definition["Type"] == "container"
    assert container["Command"][:3] == ["python", "-m", "gpu_jobs.media_index"]
    placeholders = {c[len("Ref::") :] for c in container["Command"] if c.startswith("Ref::")}
    assert placeholders == set(batch["Parameters"])
    requirements = {r["Type"]: r["Value"] for r in container["ResourceRequirements"]}
    assert requirements["GPU"] == "1" and {"VCPU", "MEMORY"} <= set(requirements)
    assert container["JobRoleArn"]["Fn::GetAtt"][0] in _of_type(raw, "AWS::IAM::Role")
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert {"LIKENESS_TABLE_NAME", "LIKENESS_MEDIA_BUCKET", "LIKENESS_EVENT_BUS_NAME"} <= set(env)
    assert env["LIKENESS_MEDIA_DEVICE"] == "auto"
    assert definition["RetryStrategy"]["Attempts"] == 3
    assert definition["Timeout"]["AttemptDurationSeconds"]
    assert "Image" in container

    # the batch resources exist only where a network was given (MediaGpuBatch); what submits
    # jobs, only once an image is pinned by digest too (MediaGpuBatchReady)
    submitting = {definition_id, pipe_id}
    for rtype in (*BATCH_TYPES, "AWS::IAM::Role", "AWS::IAM::InstanceProfile", "AWS::ECR::Repository"):
        for logical_id, resource in _of_type(raw, rtype).items():
            wanted = "MediaGpuBatchReady" if logical_id in submitting else "MediaGpuBatch"
            assert resource.get("Condition") == wanted, logical_id


def test_media_queues_redrive_and_outlast_their_consumer(raw: dict[str, Any]) -> None:
    queues = _of_type(raw, "AWS::SQS::Queue")
    template = Template(raw)
    indexer = template.function("MediaIndexerFunction")
    [event] = indexer.events_of_type("SQS").values()
    assert event.properties["Queue"] == {"Fn::GetAtt": ["MediaIndexQueue", "Arn"]}
    assert event.properties["BatchSize"] == 1
    assert event.properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert indexer.timeout == 900 and indexer.memory_size == 4096
    assert int(queues["MediaIndexQueue"]["Properties"]["VisibilityTimeout"]) >= indexer.timeout
    for queue_id in ("MediaIndexQueue", "MediaBatchQueue"):
        redrive = queues[queue_id]["Properties"]["RedrivePolicy"]
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in queues and dlq != queue_id
        assert int(redrive["maxReceiveCount"]) == 3


def test_media_api_function_is_an_image_with_the_media_routes(raw: dict[str, Any]) -> None:
    fn = raw["Resources"]["MediaApiFunction"]
    props = fn["Properties"]
    assert props["PackageType"] == "Image"
    assert props["ImageConfig"]["Command"] == ["functions.media_api.app.handler"]
    assert props["MemorySize"] == 2048
    assert fn["Metadata"]["DockerBuildArgs"]["FUNCTION"] == "media_api"
    assert fn["Metadata"]["Dockerfile"] == "functions/Dockerfile"
    paths = {e["Properties"]["Path"] for e in props["Events"].values() if e["Type"] == "HttpApi"}
    assert paths == {
        "/api/v1/files",
        "/api/v1/files/{proxy+}",
        "/api/v1/identities",
        "/api/v1/identities/{proxy+}",
        "/api/v1/identity/{proxy+}",
    }
    sent_to = {
        resource["Fn::GetAtt"][0]
        for policy in props["Policies"]
        for statement in policy.get("Statement", [])
        if statement["Effect"] == "Allow" and "sqs:SendMessage" in statement["Action"]
        for resource in statement["Resource"]
    }
    assert sent_to == {"MediaIndexQueue", "MediaBatchQueue"}
    assert (
        raw["Resources"]["MediaIndexerFunction"]["Metadata"]["DockerBuildArgs"]["FUNCTION"] == "media_indexer"
    )


def test_globals_name_the_media_queues_and_the_batch_queue_only_with_a_network() -> None:
    local = Template.load()  # the template's LocalStack metadata gives the condition its network
    env = local.global_environment()
    assert env["LIKENESS_MEDIA_INDEX_QUEUE_URL"].endswith("-MediaIndexQueue")
    assert env["LIKENESS_MEDIA_BATCH_QUEUE_URL"].endswith("-MediaBatchQueue")
    assert int(env["LIKENESS_MEDIA_LAMBDA_MAX_BYTES"]) == 50 * 1024 * 1024
    assert set(local.resources) >= {"MediaIndexPipe", "MediaIndexJobDefinition", "MediaIndexJobQueue"}

    # deployed with the defaults (no subnets): no Batch at all, every file goes to the Lambda
    plain = Template.load(parameters={"BatchSubnetIds": "", "BatchSecurityGroupIds": ""})
    assert plain.global_environment()["LIKENESS_MEDIA_BATCH_QUEUE_URL"] == ""
    assert not {plain.resource_type(r) for r in plain.resources} & set(BATCH_TYPES)
    assert batch_pipes(plain) == []


def test_sam_translation_keeps_the_batch_resources_and_maps_the_indexer(raw: dict[str, Any]) -> None:
    translated = translate(raw)
    resources = translated["Resources"]
    for logical_id in ("MediaIndexComputeEnvironment", "MediaIndexJobQueue"):
        assert resources[logical_id]["Condition"] == "MediaGpuBatch"
    assert resources["MediaIndexJobDefinition"]["Condition"] == "MediaGpuBatchReady"
    assert resources["MediaIndexPipe"]["Type"] == "AWS::Pipes::Pipe"
    mapping = resources["MediaIndexerFunctionMediaFiles"]["Properties"]
    assert mapping["BatchSize"] == 1 and mapping["ScalingConfig"] == {"MaximumConcurrency": 10}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["MediaIndexQueue", "Arn"]}
    assert translated["Conditions"]["MediaGpuBatch"]


# --------------------------------------------------------------------------- gateway


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [
        ("POST", "/api/v1/files", "MediaApiFunction"),
        ("GET", "/api/v1/files", "MediaApiFunction"),
        ("POST", "/api/v1/files/uploads", "MediaApiFunction"),
        ("GET", "/api/v1/files/5f0c/faces", "MediaApiFunction"),
        ("POST", "/api/v1/files/5f0c/reindex", "MediaApiFunction"),
        ("DELETE", "/api/v1/files/5f0c", "MediaApiFunction"),
        ("GET", "/api/v1/identities", "MediaApiFunction"),
        ("GET", "/api/v1/identities/search", "MediaApiFunction"),
        ("POST", "/api/v1/identities/merge", "MediaApiFunction"),
        ("GET", "/api/v1/identities/audit", "MediaApiFunction"),
        ("POST", "/api/v1/identity/upload", "MediaApiFunction"),
        ("PATCH", "/api/v1/identity/0b5e", "MediaApiFunction"),
        ("GET", "/api/v1/identity/0b5e/files", "MediaApiFunction"),
        ("POST", "/api/v1/identity/0b5e/profile-image", "MediaApiFunction"),
        ("POST", "/api/v1/identity/0b5e/split", "MediaApiFunction"),
        # neighbours keep theirs
        ("GET", "/api/v1/avatars", "AvatarApiFunction"),
        ("GET", "/api/v1/jobs/j1", "AvatarApiFunction"),
        ("GET", "/api/v1/engines", "AvatarApiFunction"),
        ("GET", "/identity/idn_1", "IdentityApiFunction"),
        ("GET", "/identity", "IdentityApiFunction"),
        ("GET", "/avatars", "WardrobeApiFunction"),
    ],
)
def test_gateway_sends_media_paths_to_the_media_api_and_nothing_else(
    method: str, path: str, function: str
) -> None:
    matched = Gateway.from_template(Template.load()).match(method, path)
    assert matched is not None and matched[0].function_logical_id == function


def test_media_routes_overlap_no_other_function() -> None:
    gateway = Gateway.from_template(Template.load())
    assert gateway.match("GET", "/api/v1/identity") is None  # the spec has no such route
    media = [r for r in gateway.routes if r.function_logical_id == "MediaApiFunction"]
    others = [r for r in gateway.routes if r.function_logical_id != "MediaApiFunction"]
    media_prefixes = {r.path.split("{")[0].rstrip("/") for r in media}
    for route in others:
        prefix = route.path.split("{")[0].rstrip("/")
        assert not any(prefix == p or prefix.startswith(p + "/") for p in media_prefixes), route


# --------------------------------------------------------------------------- pipes: pure parts


def test_json_paths_read_the_sqs_record_and_its_json_body() -> None:
    [record] = _event("media_batch_pipe_sqs.json")
    body = json.loads(record["body"])
    assert json_path(record, "$.body.file_uuid") == body["file_uuid"]
    assert json_path(record, "$.attributes.ApproximateReceiveCount") == "1"
    assert json_path(record, "$.body") == record["body"]
    assert json_path({"a": [{"b": "x"}]}, "$.a[0].b") == "x"
    with pytest.raises(PipeError):
        json_path(record, "$.body.missing")
    with pytest.raises(PipeError):
        json_path({"a": "text"}, "$.a[0]")


def test_batch_substitutes_only_whole_known_placeholders() -> None:
    command = ["python", "-m", "x", "--a", "Ref::a", "--b", "Ref::b", "keep-Ref::a"]
    assert substitute(command, {"a": "1"}) == [
        "python",
        "-m",
        "x",
        "--a",
        "1",
        "--b",
        "Ref::b",
        "keep-Ref::a",
    ]


def test_retry_rules_read_like_batch_evaluate_on_exit() -> None:
    pipe = BatchPipe(
        logical_id="P",
        queue_logical_id="Q",
        queue_arn="arn:aws:sqs:us-east-1:1:q",
        batch_size=1,
        job_queue_logical_id="JQ",
        job_definition_logical_id="JD",
        job_name="j",
        parameters={},
        default_parameters={},
        command=("true",),
        environment={},
        timeout_seconds=None,
        retry_rules=(RetryRule("EXIT", on_exit_code="2"), RetryRule("RETRY", on_reason="*")),
    )
    assert not pipe.retries(2)
    assert pipe.retries(1) and pipe.retries(75) and pipe.retries(137)
    assert dataclasses.replace(pipe, retry_rules=()).retries(2)  # no rules: Batch retries


def test_the_real_pipe_turns_the_canonical_record_into_the_canonical_job() -> None:
    from gpu_jobs.media_index.app import _parser, message_from_args

    template = Template.load()
    [pipe] = batch_pipes(template)
    assert (pipe.logical_id, pipe.queue_logical_id) == ("MediaIndexPipe", "MediaBatchQueue")
    assert pipe.job_definition_logical_id == "MediaIndexJobDefinition"
    assert pipe.job_queue_logical_id == "MediaIndexJobQueue"
    assert pipe.batch_size == 1 and pipe.timeout_seconds and pipe.enabled
    assert not pipe.retries(2) and pipe.retries(75)

    [record] = _event("media_batch_pipe_sqs.json")
    submit = _event("media_index_batch_job.json")
    parameters = job_parameters(pipe, record)
    assert parameters == submit["parameters"]
    assert submit["jobName"] == pipe.job_name
    command = substitute(pipe.command, parameters)
    # what the container's entry reads back is the message that was queued
    args = _parser().parse_args(command[3:])
    assert message_from_args(args) == json.loads(record["body"])


# --------------------------------------------------------------------------- pipes against moto

JOB_SCRIPT = """
import json, os, sys, time
mode, out = sys.argv[1], sys.argv[2]
keys = ("PIPE_TEST_STAGE", "AWS_BATCH_JOB_ATTEMPT", "AWS_BATCH_JOB_ID", "LIKENESS_MEDIA_DEVICE",
        "AWS_ENDPOINT_URL", "PYTHONPATH")
with open(out, "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[1:], "env": {k: os.environ.get(k) for k in keys}}) + "\\n")
print("job says", mode)
time.sleep({"slow": 2.5, "hang": 30}.get(mode, 0))
sys.exit({"fail": 1, "fatal": 2}.get(mode, 0))
"""


def _pipe_template(*, visibility_timeout: int = 1, max_receive_count: int = 2, timeout: int = 20) -> Template:
    stage = f"p{uuid.uuid4().hex[:8]}"  # moto's state is per process: keep tests apart
    return Template(
        {
            "Parameters": {"Stage": {"Type": "String", "Default": stage}},
            "Resources": {
                "WorkQueue": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {
                        "VisibilityTimeout": visibility_timeout,
                        "RedrivePolicy": {
                            "deadLetterTargetArn": {"Fn::GetAtt": ["WorkDeadLetterQueue", "Arn"]},
                            "maxReceiveCount": max_receive_count,
                        },
                    },
                },
                "WorkDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
                "Compute": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {"Type": "MANAGED"}},
                "Jobs": {
                    "Type": "AWS::Batch::JobQueue",
                    "Properties": {
                        "Priority": 1,
                        "ComputeEnvironmentOrder": [{"Order": 1, "ComputeEnvironment": {"Ref": "Compute"}}],
                    },
                },
                "Work": {
                    "Type": "AWS::Batch::JobDefinition",
                    "Properties": {
                        "Type": "container",
                        "Parameters": {"mode": "ok"},
                        "ContainerProperties": {
                            "Image": "example/work:latest",
                            "Command": ["python", "-c", JOB_SCRIPT, "Ref::mode", "Ref::out"],
                            "Environment": [
                                {"Name": "PIPE_TEST_STAGE", "Value": {"Ref": "Stage"}},
                                {"Name": "LIKENESS_MEDIA_DEVICE", "Value": "auto"},
                            ],
                        },
                        "RetryStrategy": {
                            "Attempts": max_receive_count,
                            "EvaluateOnExit": [
                                {"OnExitCode": "2", "Action": "EXIT"},
                                {"OnReason": "*", "Action": "RETRY"},
                            ],
                        },
                        "Timeout": {"AttemptDurationSeconds": timeout},
                    },
                },
                "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
                "WorkPipe": {
                    "Type": "AWS::Pipes::Pipe",
                    "Properties": {
                        "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                        "Source": {"Fn::GetAtt": ["WorkQueue", "Arn"]},
                        "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
                        "Target": {"Ref": "Jobs"},
                        "TargetParameters": {
                            "BatchJobParameters": {
                                "JobDefinition": {"Ref": "Work"},
                                "JobName": "work",
                                "Parameters": {"mode": "$.body.mode", "out": "$.body.out"},
                            }
                        },
                    },
                },
            },
        }
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    handle = start_emulator()  # a free port, AWS_ENDPOINT_URL pointed at it
    yield handle
    handle.stop()


@pytest.fixture
def piped(emulator: Emulator) -> Iterator[tuple[Template, PipeRunner]]:
    template = _pipe_template()
    provision_resources(template)
    runner = PipeRunner(template)
    yield template, runner
    runner.stop()


def _send(template: Template, body: dict[str, Any]) -> str:
    url = template.physical_id("WorkQueue")
    return str(_client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(body))["MessageId"])


def _depth(template: Template, logical_id: str) -> dict[str, int]:
    attributes = _client("sqs").get_queue_attributes(
        QueueUrl=template.physical_id(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {k: int(v) for k, v in attributes.items()}


def _runs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_pipe_runs_the_job_command_and_deletes_the_message_on_success(
    piped: tuple[Template, PipeRunner], tmp_path: Path, emulator: Emulator
) -> None:
    template, runner = piped
    out = tmp_path / "runs.jsonl"
    message_id = _send(template, {"mode": "ok", "out": str(out)})

    outcome = runner.process_once("WorkPipe")
    assert outcome.received == 1 and outcome.deleted == [message_id] and outcome.failed == []
    [run] = outcome.runs
    assert run.exit_code == 0 and "job says ok" in run.output
    assert run.command[0] == sys.executable  # the image's python is this interpreter
    [seen] = _runs(out)
    assert seen["argv"] == ["ok", str(out)]  # Ref::mode and Ref::out from the body's JSON paths
    env = seen["env"]
    assert env["PIPE_TEST_STAGE"] == template.stage  # the job definition's Environment
    assert env["LIKENESS_MEDIA_DEVICE"] == "cpu"  # locally the CPU, whatever the definition says
    assert env["AWS_BATCH_JOB_ATTEMPT"] == "1" and env["AWS_BATCH_JOB_ID"] == f"local-{message_id}"
    assert env["AWS_ENDPOINT_URL"] == emulator.url  # the stack's environment: the emulator
    assert str(ROOT) in env["PYTHONPATH"].split(":")
    assert _depth(template, "WorkQueue") == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 0,
    }


def test_a_failing_job_leaves_its_message_for_redelivery_then_the_dead_letter_queue(
    piped: tuple[Template, PipeRunner], tmp_path: Path
) -> None:
    template, runner = piped
    out = tmp_path / "runs.jsonl"
    message_id = _send(template, {"mode": "fail", "out": str(out)})

    first = runner.process_once("WorkPipe")
    assert first.failed == [message_id] and first.deleted == [] and first.runs[0].exit_code == 1
    assert _depth(template, "WorkQueue")["ApproximateNumberOfMessagesNotVisible"] == 1

    # back after the queue's visibility timeout
    def redelivered() -> Any:
        outcome = runner.process_once("WorkPipe")
        return outcome if outcome.received else None

    second = wait_until(redelivered, what="the message back after its visibility timeout")
    assert second.failed == [message_id]
    assert [r["env"]["AWS_BATCH_JOB_ATTEMPT"] for r in _runs(out)] == ["1", "2"]

    # maxReceiveCount (2) reached: the queue's RedrivePolicy moves it on a receive once it is
    # visible again, and the job never runs a third time
    def dead_lettered() -> list[str]:
        assert runner.process_once("WorkPipe", wait_time_seconds=0).received == 0
        dead = _client("sqs").receive_message(
            QueueUrl=template.physical_id("WorkDeadLetterQueue"), WaitTimeSeconds=0
        )
        return [m["MessageId"] for m in dead.get("Messages", [])]

    assert wait_until(dead_lettered, what="the failing message dead-lettered") == [message_id]
    assert len(_runs(out)) == 2


def test_an_exit_code_the_retry_strategy_does_not_retry_drops_the_message(
    piped: tuple[Template, PipeRunner], tmp_path: Path
) -> None:
    template, runner = piped
    message_id = _send(template, {"mode": "fatal", "out": str(tmp_path / "runs.jsonl")})
    outcome = runner.process_once("WorkPipe")
    assert outcome.runs[0].exit_code == 2
    assert outcome.deleted == [message_id] and outcome.failed == []


def test_a_record_the_parameters_cannot_read_fails_without_running_anything(
    piped: tuple[Template, PipeRunner], tmp_path: Path
) -> None:
    template, runner = piped
    message_id = _send(template, {"out": str(tmp_path / "runs.jsonl")})  # no "mode"
    outcome = runner.process_once("WorkPipe")
    assert outcome.failed == [message_id]
    [run] = outcome.runs
    assert run.exit_code is None and "mode" in (run.error or "")
    assert not (tmp_path / "runs.jsonl").exists()


def test_a_long_job_keeps_its_message_invisible_until_it_ends(
    piped: tuple[Template, PipeRunner], tmp_path: Path
) -> None:
    template, runner = piped  # visibility timeout 1 s, the job takes 2.5 s
    message_id = _send(template, {"mode": "slow", "out": str(tmp_path / "runs.jsonl")})
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.setdefault("o", runner.process_once("WorkPipe")))
    worker.start()
    # another consumer keeps asking, from the job's start to its end (past the 1 s timeout)
    wait_until(lambda: (tmp_path / "runs.jsonl").exists(), what="the job started")
    stolen: list[Any] = []
    while worker.is_alive():
        got = _client("sqs").receive_message(QueueUrl=template.physical_id("WorkQueue"), WaitTimeSeconds=0)
        stolen += got.get("Messages", [])
        worker.join(0.1)
    assert stolen == []
    assert result["o"].deleted == [message_id]


def test_a_job_past_its_attempt_duration_is_killed_and_retried(emulator: Emulator, tmp_path: Path) -> None:
    template = _pipe_template(timeout=1, visibility_timeout=5)
    provision_resources(template)
    runner = PipeRunner(template)
    message_id = _send(template, {"mode": "hang", "out": str(tmp_path / "runs.jsonl")})
    outcome = runner.process_once("WorkPipe")  # the 30 s job is killed after 1 s
    assert outcome.failed == [message_id]
    assert "timed out" in (outcome.runs[0].error or "")


def test_pipe_workers_run_jobs_and_drain_waits_for_them(
    piped: tuple[Template, PipeRunner], tmp_path: Path
) -> None:
    template, runner = piped
    out = tmp_path / "runs.jsonl"
    runner.start()
    _send(template, {"mode": "ok", "out": str(out)})
    _send(template, {"mode": "ok", "out": str(out)})
    runner.drain(timeout=15)
    assert len(_runs(out)) == 2
    runner.stop()


def test_stopping_terminates_a_running_job_and_its_message_returns(
    emulator: Emulator, tmp_path: Path
) -> None:
    template = _pipe_template(visibility_timeout=2)
    provision_resources(template)
    runner = PipeRunner(template)
    message_id = _send(template, {"mode": "hang", "out": str(tmp_path / "runs.jsonl")})
    runner.start()
    wait_until(lambda: (tmp_path / "runs.jsonl").exists(), what="the job started")
    runner.stop(timeout=5)
    # the 30 s job was terminated, not waited for
    [run] = runner.history
    assert run.message_id == message_id and run.exit_code not in (0, None)

    # not deleted: visible again after the visibility timeout
    def returned() -> list[str]:
        got = _client("sqs").receive_message(QueueUrl=template.physical_id("WorkQueue"), WaitTimeSeconds=0)
        return [m["MessageId"] for m in got.get("Messages", [])]

    assert wait_until(returned, what="the message visible again") == [message_id]


# --------------------------------------------------------------------------- the real template


def test_the_local_stack_provisions_the_media_queues_and_runs_both_consumers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra.local.stack import LocalStack

    monkeypatch.delenv("LIKENESS_ALLOW_PRIVATE_URLS", raising=False)
    stack = LocalStack()
    info = stack.start(api_port=0, seed=False)
    try:
        assert stack.template is not None and stack.pipes is not None and stack.consumers is not None
        sqs = _client("sqs")
        for queue_id in (
            "MediaIndexQueue",
            "MediaIndexDeadLetterQueue",
            "MediaBatchQueue",
            "MediaBatchDeadLetterQueue",
        ):
            url = stack.template.physical_id(queue_id)
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        env = info.environment
        assert env["LIKENESS_MEDIA_INDEX_QUEUE_URL"] == stack.template.physical_id("MediaIndexQueue")
        assert env["LIKENESS_MEDIA_BATCH_QUEUE_URL"] == stack.template.physical_id("MediaBatchQueue")
        redrive = json.loads(
            sqs.get_queue_attributes(
                QueueUrl=env["LIKENESS_MEDIA_BATCH_QUEUE_URL"], AttributeNames=["RedrivePolicy"]
            )["Attributes"]["RedrivePolicy"]
        )
        assert redrive["deadLetterTargetArn"].endswith("-MediaBatchDeadLetterQueue")
        assert [p.logical_id for p in stack.pipes.pipes] == ["MediaIndexPipe"]
        indexer = [s for s in stack.consumers.sources if s.function_logical_id == "MediaIndexerFunction"]
        assert [s.entrypoint for s in indexer] == ["functions.media_indexer.app.handler"]
        assert indexer[0].batch_size == 1 and indexer[0].report_batch_item_failures
        stack.drain(timeout=10)
    finally:
        stack.stop()


def test_media_indexer_is_importable_where_the_consumer_runner_imports_it() -> None:
    template = Template.load()
    template.ensure_import_paths()
    [source] = [s for s in sqs_sources(template) if s.function_logical_id == "MediaIndexerFunction"]
    handler = ConsumerRunner._import_handler(source.entrypoint)
    assert callable(handler)


# --------------------------------------------------------------------------- the MediaIndexer Lambda


class _FakeJob:
    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.fail_for = fail_for or set()
        self.handled: list[dict[str, Any]] = []
        self.failed: list[tuple[dict[str, Any], str]] = []

    def fail(self, message: dict[str, Any], reason: str) -> None:
        self.failed.append((message, reason))

    def handle(self, message: dict[str, Any]) -> None:
        self.handled.append(message)
        if message["file_uuid"] in self.fail_for:
            raise ConnectionError("DynamoDB is not answering")


def _context() -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name="MediaIndexerFunction", timeout_seconds=900, memory_limit_in_mb=4096
    )


def test_media_indexer_reports_the_record_that_raised_and_backs_it_off(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.media_indexer import app
    from functions.media_indexer.app import handler

    job = _FakeJob(fail_for={"f-bad"})
    monkeypatch.setattr(app, "media_index_job", lambda: job)
    sqs = _client("sqs")
    url = aws["LIKENESS_MEDIA_INDEX_QUEUE_URL"]
    for file_uuid in ("f-good", "f-bad"):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"account_id": "acc_1", "file_uuid": file_uuid, "run_id": "r1"}),
        )
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == 2
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bad = next(m["MessageId"] for m in messages if "f-bad" in m["Body"])

    result = handler(build_sqs_event(messages, arn), _context())
    assert result == {"batchItemFailures": [{"itemIdentifier": bad}]}
    assert sorted(m["file_uuid"] for m in job.handled) == ["f-bad", "f-good"]
    assert job.handled[0] == {"account_id": "acc_1", "file_uuid": job.handled[0]["file_uuid"], "run_id": "r1"}
    # the failed message comes back after the retry backoff (1 s in the tests), not after the
    # queue's 90-minute visibility timeout
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3, AttributeNames=["All"])["Messages"]
    assert [m["MessageId"] for m in again] == [bad]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert job.failed == []

    # a receive count is not an attempt (the job counts its runs on the file, and fails the file on
    # its last one): the handler still sends the message round
    event = build_sqs_event(again, arn)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):  # every record of the batch failed: all come back
        handler(event, _context())
    assert job.failed == []


def test_media_indexer_takes_the_canonical_event_and_drops_a_malformed_body(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.media_indexer import app
    from functions.media_indexer.app import handler

    job = _FakeJob()
    monkeypatch.setattr(app, "media_index_job", lambda: job)
    event = _event("media_indexer_sqs.json")
    assert handler(event, _context()) == {"batchItemFailures": []}
    assert job.handled == [json.loads(event["Records"][0]["body"])]

    event["Records"][0]["body"] = '{"file_uuid": 7}'
    # nothing a retry could fix: logged and consumed, not sent round to the dead-letter queue
    assert handler(event, _context()) == {"batchItemFailures": []}
    assert len(job.handled) == 1


# --------------------------------------------------------------------------- the real job


def test_the_real_batch_command_runs_in_a_subprocess_against_the_emulator(emulator: Emulator) -> None:
    """A message for a file that does not exist is consumed: the job ignores it (idempotent)."""
    template = Template.load(parameters={"Stage": f"m{uuid.uuid4().hex[:6]}"})
    result = provision_resources(template)
    runner = PipeRunner(template, environment={**os.environ, **result.environment})
    body = {"account_id": "acc_nobody", "file_uuid": str(uuid.uuid4()), "run_id": "run_nothing"}
    url = template.physical_id("MediaBatchQueue")
    _client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(body))
    outcome = runner.process_once("MediaIndexPipe", wait_time_seconds=1)
    [run] = outcome.runs
    assert run.exit_code == 0, "\n".join(run.output)
    assert run.command[1:4] == ["-m", "gpu_jobs.media_index", "--account-id"]
    assert outcome.deleted == [run.message_id]
