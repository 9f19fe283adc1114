"""The local stack against moto in server mode: provisioning, EventBridge, gateway, consumers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any

import boto3
import httpx
import pytest

from infra.local.consumers import ConsumerRunner
from infra.local.emulator import Emulator, start_emulator
from infra.local.gateway import Gateway
from infra.local.provision import ProvisionResult, provision_resources
from infra.local.stack import LocalStack
from infra.local.template import Template
from tests.helpers import wait_until
from tests.integration import fake_functions

FAKE_MODULE = fake_functions.__name__


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    handle = start_emulator()  # a free port, AWS_ENDPOINT_URL pointed at it
    yield handle
    handle.stop()


def _client(service: str) -> Any:
    session: Any = boto3.session.Session()  # fresh: reads AWS_ENDPOINT_URL as it is now
    return session.client(service)


@pytest.fixture(scope="module")
def provisioned(emulator: Emulator) -> tuple[Template, ProvisionResult]:
    template = Template.load()
    return template, provision_resources(template)


# --------------------------------------------------------------------------- emulator


def test_the_isolated_emulator_survives_mock_aws_in_this_process(emulator: Emulator) -> None:
    from moto import mock_aws

    name = f"isolation-{uuid.uuid4().hex[:8]}"
    url = _client("sqs").create_queue(QueueName=name)["QueueUrl"]
    with mock_aws():  # resets moto's in-process backends; requests to the endpoint pass through
        assert url in _client("sqs").list_queues(QueueNamePrefix=name).get("QueueUrls", [])
    assert url in _client("sqs").list_queues(QueueNamePrefix=name).get("QueueUrls", [])


def test_the_threaded_emulator_works_and_restores_the_environment(emulator: Emulator) -> None:
    import os

    with start_emulator(isolated=False) as threaded:
        assert os.environ["AWS_ENDPOINT_URL"] == threaded.url != emulator.url
        assert "QueueUrl" in _client("sqs").create_queue(QueueName=f"threaded-{uuid.uuid4().hex[:8]}")
    assert os.environ["AWS_ENDPOINT_URL"] == emulator.url


# --------------------------------------------------------------------------- provisioning


def test_provisioning_creates_everything_the_template_declares(
    provisioned: tuple[Template, ProvisionResult],
) -> None:
    template, result = provisioned
    ddb, s3, sqs, events = (_client(s) for s in ("dynamodb", "s3", "sqs", "events"))

    tables = template.resources_of_type("AWS::DynamoDB::Table")
    assert tables
    for logical_id, props in tables.items():
        name = template.physical_id(logical_id)
        table = ddb.describe_table(TableName=name)["Table"]
        assert {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])} == {
            g["IndexName"] for g in props.get("GlobalSecondaryIndexes", [])
        }
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if props.get("TimeToLiveSpecification", {}).get("Enabled"):
            assert ttl["TimeToLiveStatus"] == "ENABLED"
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]

    buckets = template.resources_of_type("AWS::S3::Bucket")
    assert buckets
    for logical_id in buckets:
        s3.head_bucket(Bucket=template.physical_id(logical_id))

    queues = template.resources_of_type("AWS::SQS::Queue")
    assert queues
    for logical_id, props in queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=template.physical_id(logical_id), AttributeNames=["All"]
        )["Attributes"]
        if "VisibilityTimeout" in props:
            assert attributes["VisibilityTimeout"] == str(props["VisibilityTimeout"])
        if "RedrivePolicy" in props:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == template.resolve(
                props["RedrivePolicy"]["deadLetterTargetArn"]
            )
            assert int(redrive["maxReceiveCount"]) == int(props["RedrivePolicy"]["maxReceiveCount"])

    for logical_id in template.resources_of_type("AWS::Events::EventBus"):
        events.describe_event_bus(Name=template.physical_id(logical_id))

    for logical_id in template.resources_of_type("AWS::KMS::Key"):
        key = _client("kms").describe_key(KeyId=template.physical_id(logical_id))["KeyMetadata"]
        assert key["Enabled"] and key["KeyUsage"] == "ENCRYPT_DECRYPT"

    for logical_id, props in template.resources_of_type("AWS::Events::Rule").items():
        bus = template.resolve(props["EventBusName"])
        name = template.physical_id(logical_id)
        assert events.describe_rule(Name=name, EventBusName=bus)["State"] == props.get("State", "ENABLED")
        targets = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        assert {t["Arn"] for t in targets} == {template.resolve(t["Arn"]) for t in props["Targets"]}

    provisioned_types = {r.type for r in result.resources.values()}
    assert provisioned_types == {
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
    } & {template.resource_type(r) for r in template.resources}
    assert "AWS::Serverless::Function" in result.skipped.values()
    # the API key pepper: generated on the emulator as AWS would, and named to the functions
    pepper = _client("secretsmanager").get_secret_value(
        SecretId=result.environment["LIKENESS_API_KEY_PEPPER_SECRET"]
    )
    assert len(pepper["SecretString"]) == 64 and pepper["SecretString"].isalnum()
    # the environment the functions get names what was provisioned, not hard-coded values
    env = result.environment
    assert env["LIKENESS_STAGE"] == "local"
    assert env["LIKENESS_PREPROCESS_QUEUE_URL"].startswith(template.endpoint_url or "")


def test_provisioning_twice_is_harmless(provisioned: tuple[Template, ProvisionResult]) -> None:
    _, first = provisioned
    queues_before = _client("sqs").list_queues().get("QueueUrls", [])
    again = provision_resources(Template.load())
    assert {r.action for r in again.resources.values()} <= {"reused", "updated"}
    assert again.environment == first.environment
    assert _client("sqs").list_queues().get("QueueUrls", []) == queues_before


def test_event_on_the_bus_reaches_the_queue_the_rule_targets(
    provisioned: tuple[Template, ProvisionResult],
) -> None:
    template, _ = provisioned
    sqs, events = _client("sqs"), _client("events")
    queue_urls = {
        template.resolve({"Fn::GetAtt": [q, "Arn"]}): template.physical_id(q)
        for q in template.resources_of_type("AWS::SQS::Queue")
    }
    rules = [
        props
        for props in template.resources_of_type("AWS::Events::Rule").values()
        if "likeness" in (props.get("EventPattern") or {}).get("source", [])
    ]
    assert rules, "no rule routes source=likeness events"
    for props in rules:
        bus = template.resolve(props["EventBusName"])
        marker = uuid.uuid4().hex
        response = events.put_events(
            Entries=[
                {
                    "Source": "likeness",
                    "DetailType": "identity.ready",
                    "Detail": json.dumps({"marker": marker}),
                    "EventBusName": bus,
                }
            ]
        )
        assert response["FailedEntryCount"] == 0
        for target in props["Targets"]:
            url = queue_urls[template.resolve(target["Arn"])]
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)[
                "Messages"
            ]
            bodies = [json.loads(m["Body"]) for m in messages]
            assert any(b["detail"].get("marker") == marker and b["source"] == "likeness" for b in bodies)
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_presigned_s3_urls_are_served_by_the_emulator(provisioned: tuple[Template, ProvisionResult]) -> None:
    from botocore.config import Config

    template, _ = provisioned
    bucket = template.physical_id(next(iter(template.resources_of_type("AWS::S3::Bucket"))))
    session: Any = boto3.session.Session()
    s3 = session.client("s3", config=Config(signature_version="s3v4"))
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "presigned/x.bin"}, ExpiresIn=60
    )
    assert httpx.put(put_url, content=b"payload").status_code == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "presigned/x.bin"}, ExpiresIn=60
    )
    assert get_url.startswith(template.endpoint_url or "http")
    assert httpx.get(get_url).content == b"payload"


# --------------------------------------------------------------------------- gateway


def _sample_path(pattern: str) -> str:
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment.endswith("+}"):
            parts.append("a/b")
        elif segment.startswith("{"):
            parts.append("x1")
        else:
            parts.append(segment)
    return "/" + "/".join(parts)


def test_gateway_matches_every_route_of_the_real_template() -> None:
    template = Template.load()
    gateway = Gateway.from_template(template)
    assert gateway.routes
    for route in gateway.routes:
        method = "GET" if route.method == "ANY" else route.method
        matched = gateway.match(method, _sample_path(route.path))
        assert matched is not None and matched[0].function_logical_id == route.function_logical_id
    assert gateway.match("GET", "/no-such-route") is None


SYNTHETIC_API: dict[str, Any] = {
    "Resources": {
        "Api": {"Type": "AWS::Serverless::HttpApi"},
        "ThingsFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "PackageType": "Image",
                "ImageConfig": {"Command": [f"{FAKE_MODULE}.handler"]},
                "Events": {
                    "Root": {"Type": "HttpApi", "Properties": {"Path": "/things", "Method": "ANY"}},
                    "One": {"Type": "HttpApi", "Properties": {"Path": "/things/{thing_id}", "Method": "GET"}},
                    "Rest": {"Type": "HttpApi", "Properties": {"Path": "/things/{proxy+}", "Method": "ANY"}},
                },
            },
        },
    }
}


def test_gateway_dispatches_to_the_function_app_and_404s_the_rest() -> None:
    gateway = Gateway.from_template(Template(SYNTHETIC_API, parameters={}))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}

            root = (await client.post("/things")).json()
            assert root["path"] == "/things" and root["route_key"] == "ANY /things"
            assert root["function_name"] == "likeness-local-ThingsFunction"

            one = (await client.get("/things/t1")).json()
            assert one["route_key"] == "GET /things/{thing_id}"  # a path variable beats greedy
            assert one["path_parameters"] == {"thing_id": "t1"}

            deep = (await client.delete("/things/t1/parts/2")).json()
            assert deep["route_key"] == "ANY /things/{proxy+}"
            assert deep["path"] == "/things/t1/parts/2"  # the full path, as Mangum passes it

            missing = await client.get("/nothing/here")
            assert missing.status_code == 404
            assert missing.json() == {
                "detail": {"code": "not_found", "message": "No route for GET /nothing/here"}
            }

        # lifespan is acknowledged by the gateway itself (functions run with lifespan="off")
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[dict[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return incoming.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await gateway({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    asyncio.run(scenario())


# --------------------------------------------------------------------------- consumers


def _consumer_template(*, visibility_timeout: int = 1, max_receive_count: int = 2) -> Template:
    stage = f"t{uuid.uuid4().hex[:8]}"  # moto's state is per process: keep tests apart
    return Template(
        {
            "Parameters": {"Stage": {"Type": "String", "Default": stage}},
            "Resources": {
                "JobsQueue": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {
                        "VisibilityTimeout": visibility_timeout,
                        "RedrivePolicy": {
                            "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                            "maxReceiveCount": max_receive_count,
                        },
                    },
                },
                "JobsDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
                "Worker": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "PackageType": "Image",
                        "ImageConfig": {"Command": [f"{FAKE_MODULE}.handler"]},
                        "Timeout": 1,
                        "Events": {
                            "Jobs": {
                                "Type": "SQS",
                                "Properties": {
                                    "Queue": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
                                    "BatchSize": 10,
                                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                                },
                            }
                        },
                    },
                },
            },
        }
    )


@pytest.fixture
def consumer(emulator: Emulator) -> Iterator[tuple[Template, ConsumerRunner]]:
    fake_functions.reset()
    template = _consumer_template()
    provision_resources(template)
    runner = ConsumerRunner(template)
    yield template, runner
    runner.stop()


def _depth(template: Template, logical_id: str) -> dict[str, int]:
    attributes = _client("sqs").get_queue_attributes(
        QueueUrl=template.physical_id(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {k: int(v) for k, v in attributes.items()}


def test_consumer_deletes_handled_messages_and_redelivers_reported_failures(
    consumer: tuple[Template, ConsumerRunner],
) -> None:
    template, runner = consumer
    sqs = _client("sqs")
    url = template.physical_id("JobsQueue")
    ok = sqs.send_message(
        QueueUrl=url,
        MessageBody="ok-1",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )["MessageId"]
    failing = sqs.send_message(QueueUrl=url, MessageBody="fail-1")["MessageId"]

    [outcome] = runner.process_once("Worker")
    assert outcome.received == 2
    assert outcome.deleted == [ok] and outcome.failed == [failing]
    record = next(r for r in fake_functions.received if r["messageId"] == ok)
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == template.resolve({"Fn::GetAtt": ["JobsQueue", "Arn"]})
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["md5OfBody"] and record["receiptHandle"] and record["awsRegion"]
    context = fake_functions.contexts[0]
    assert context.function_name == template.function_name("Worker")
    assert 0 < context.get_remaining_time_in_millis() <= 1000
    # the failure stays in flight for the visibility timeout, then comes back
    assert _depth(template, "JobsQueue") == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 1,
    }

    again = wait_until(lambda: runner.process_once("Worker")[0].received and fake_functions.received[-1])
    assert again["messageId"] == failing and again["attributes"]["ApproximateReceiveCount"] == "2"
    assert _depth(template, "JobsQueue")["ApproximateNumberOfMessagesNotVisible"] == 1

    # maxReceiveCount (2) reached: moto's RedrivePolicy moves it to the DLQ on a receive once it
    # is visible again, and no third delivery reaches the function
    def dead_lettered() -> list[str]:
        [last] = runner.process_once("Worker", wait_time_seconds=0)
        assert last.received == 0
        dead = sqs.receive_message(QueueUrl=template.physical_id("JobsDeadLetterQueue"), WaitTimeSeconds=0)
        return [m["MessageId"] for m in dead.get("Messages", [])]

    assert wait_until(dead_lettered, what="the failing message dead-lettered") == [failing]


def test_consumer_deletes_nothing_when_the_handler_raises(consumer: tuple[Template, ConsumerRunner]) -> None:
    template, runner = consumer
    sqs = _client("sqs")
    sqs.send_message(QueueUrl=template.physical_id("JobsQueue"), MessageBody="ok-2")
    sqs.send_message(QueueUrl=template.physical_id("JobsQueue"), MessageBody="boom")
    [outcome] = runner.process_once("Worker")
    assert outcome.received == 2 and outcome.deleted == [] and len(outcome.failed) == 2
    assert isinstance(outcome.error, RuntimeError)
    assert _depth(template, "JobsQueue")["ApproximateNumberOfMessagesNotVisible"] == 2


def test_consumer_threads_handle_messages_and_drain_waits_for_them(
    consumer: tuple[Template, ConsumerRunner],
) -> None:
    template, runner = consumer
    runner.start()
    _client("sqs").send_message(QueueUrl=template.physical_id("JobsQueue"), MessageBody="ok-3")
    runner.drain(timeout=5)
    assert [r["body"] for r in fake_functions.received] == ["ok-3"]

    # a failure stays in flight, so drain() gives up with a TimeoutError
    _client("sqs").send_message(QueueUrl=template.physical_id("JobsQueue"), MessageBody="fail-3")
    with pytest.raises(TimeoutError):
        runner.drain(timeout=0.5)


# --------------------------------------------------------------------------- the whole stack


def test_local_stack_starts_serves_and_stops_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("LIKENESS_ALLOW_PRIVATE_URLS", raising=False)
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    stack = LocalStack()
    info = stack.start(api_port=0, seed=False)
    try:
        assert info.api_key is None and info.emulator_url
        assert os.environ["LIKENESS_ALLOW_PRIVATE_URLS"] == "true"
        assert os.environ["LIKENESS_TABLE_NAME"] == info.environment["LIKENESS_TABLE_NAME"]
        assert httpx.get(f"{info.api_url}/healthz").json() == {"status": "ok"}
        missing = httpx.get(f"{info.api_url}/no-such-route")
        assert missing.status_code == 404 and missing.json()["detail"]["code"] == "not_found"
        assert stack.consumers is not None and len(stack.consumers.sources) == sum(
            len(f.events_of_type("SQS")) for f in Template.load().functions().values()
        )
    finally:
        stack.stop()
    assert "LIKENESS_ALLOW_PRIVATE_URLS" not in os.environ
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{info.api_url}/healthz", timeout=1)


def test_local_stack_seeds_a_dev_account() -> None:
    Template.load().ensure_import_paths()  # the layer, as the stack puts it on sys.path
    pytest.importorskip("likeness.accounts.bootstrap", reason="seed_dev_account not written yet")
    key = f"lk_test_{uuid.uuid4().hex}"
    options = {"api_port": 0, "seed": True, "seed_api_key": key}
    with LocalStack(start_options=options) as stack:
        assert stack.info is not None
        assert stack.info.api_key == key and stack.info.account_id
    assert stack.info is None
