"""The local pipe runner reports a job Batch would give up as Batch does: a "Batch Job State
Change" FAILED event on the default bus, which the template's rules route (here to a queue)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local.emulator import Emulator, start_emulator
from infra.local.pipes import PipeRunner
from infra.local.provision import provision_resources
from infra.local.template import Template

# exits with the code it is given; "hang" outlasts the attempt's time limit
JOB = "import sys, time; code = sys.argv[1]; time.sleep(30) if code == 'hang' else sys.exit(int(code))"


def _template(*, attempts: int) -> Template:
    stage = f"b{uuid.uuid4().hex[:8]}"  # moto's state is per process: keep tests apart
    return Template(
        {
            "Parameters": {"Stage": {"Type": "String", "Default": stage}},
            "Resources": {
                "WorkQueue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 1}},
                "Failures": {"Type": "AWS::SQS::Queue"},
                "Compute": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {"Type": "MANAGED"}},
                "Jobs": {
                    "Type": "AWS::Batch::JobQueue",
                    "Properties": {
                        "ComputeEnvironmentOrder": [{"Order": 1, "ComputeEnvironment": {"Ref": "Compute"}}]
                    },
                },
                "Work": {
                    "Type": "AWS::Batch::JobDefinition",
                    "Properties": {
                        "Type": "container",
                        "ContainerProperties": {
                            "Image": "x@sha256:0",
                            "Command": ["python", "-c", JOB, "Ref::code"],
                        },
                        "RetryStrategy": {
                            "Attempts": attempts,
                            "EvaluateOnExit": [
                                {"OnExitCode": "2", "Action": "EXIT"},
                                {"OnReason": "*", "Action": "RETRY"},
                            ],
                        },
                        "Timeout": {"AttemptDurationSeconds": 1},
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
                                "Parameters": {"code": "$.body.code", "file_uuid": "$.body.file_uuid"},
                            }
                        },
                    },
                },
                "FailedJobs": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "EventBusName": "default",
                        "EventPattern": {
                            "source": ["aws.batch"],
                            "detail-type": ["Batch Job State Change"],
                            "detail": {"status": ["FAILED"], "jobQueue": [{"Ref": "Jobs"}]},
                        },
                        "Targets": [{"Id": "failures", "Arn": {"Fn::GetAtt": ["Failures", "Arn"]}}],
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


def _sqs() -> Any:
    return boto3.session.Session().client("sqs")


def _run(template: Template, code: str) -> tuple[str, list[dict[str, Any]]]:
    """One message through the pipe; the FAILED events the rule delivered."""
    provision_resources(template)
    runner = PipeRunner(template)
    file_uuid = uuid.uuid4().hex
    body = json.dumps({"code": code, "file_uuid": file_uuid})
    message_id = _sqs().send_message(QueueUrl=template.physical_id("WorkQueue"), MessageBody=body)[
        "MessageId"
    ]
    outcome = runner.process_once("WorkPipe", wait_time_seconds=1)
    assert [r.message_id for r in outcome.runs] == [message_id]
    received = _sqs().receive_message(QueueUrl=template.physical_id("Failures"), MaxNumberOfMessages=10)
    return file_uuid, [json.loads(m["Body"]) for m in received.get("Messages", [])]


@pytest.mark.parametrize(
    ("code", "attempts", "status_reason", "exit_code"),
    [
        ("1", 1, "Essential container in task exited", 1),  # the last attempt failed
        ("2", 3, "Essential container in task exited", 2),  # EXIT: no retry allowed
        ("hang", 1, "Job attempt duration exceeded timeout", None),  # killed at its time limit
    ],
)
def test_a_job_batch_gives_up_is_reported_on_the_default_bus(
    emulator: Emulator, code: str, attempts: int, status_reason: str, exit_code: int | None
) -> None:
    template = _template(attempts=attempts)
    file_uuid, events = _run(template, code)
    [event] = events
    assert event["source"] == "aws.batch" and event["detail-type"] == "Batch Job State Change"
    detail = event["detail"]
    assert detail["status"] == "FAILED" and detail["statusReason"] == status_reason
    assert detail["jobQueue"] == template.physical_id("Jobs")
    assert detail["parameters"] == {"code": code, "file_uuid": file_uuid}
    assert detail["attempts"][-1]["container"].get("exitCode") == exit_code


def test_a_job_batch_will_retry_is_not_reported(emulator: Emulator) -> None:
    _, events = _run(_template(attempts=2), "1")
    assert events == []
