"""The Lambda entrypoints, driven with the canonical events in events/ (as `sam local invoke` does)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.helpers import EVENTS

pytestmark = pytest.mark.e2e


class _Context:
    function_name = "IdentityApiFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IdentityApiFunction"
    memory_limit_in_mb = 2048
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/IdentityApiFunction"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _event(api_key: str | None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "identity_list_httpapi.json").read_text())
    if api_key is None:
        del event["headers"]["authorization"]
    else:
        event["headers"]["authorization"] = f"Bearer {api_key}"
    return event


def test_api_gateway_event_through_mangum(local_stack: Any) -> None:
    from functions.identity_api.app import handler

    ok = handler(_event(local_stack.info.api_key), _Context())
    assert ok["statusCode"] == 200
    body = ok["body"] if not ok.get("isBase64Encoded") else base64.b64decode(ok["body"]).decode()
    page = json.loads(body)
    assert page["current_page"] == 1 and page["page_size"] == 20
    assert ok["headers"]["x-request-id"] == "req-sample-0001"

    denied = handler(_event(None), _Context())
    assert denied["statusCode"] == 401
    assert json.loads(denied["body"])["detail"]["code"] == "unauthorized"


def test_admin_cli_creates_accounts_groups_and_credits(
    local_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    from likeness.admin import main

    assert main(["account-create", "--name", "Acme", "--plan", "starter", "--credits", "25"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["api_key"].startswith("lk_") and created["plan"] == "starter"
    account_id = created["account_id"]

    assert main(["credits-add", account_id, "75"]) == 0
    assert json.loads(capsys.readouterr().out)["credits"] == 100
    assert main(["group-create", f"team-{account_id[-6:]}"]) == 0
    assert main(["group-add", f"team-{account_id[-6:]}", account_id]) == 0
    capsys.readouterr()
    assert main(["key-create", account_id, "--scope", "identities:read"]) == 0
    reader_key = json.loads(capsys.readouterr().out)["api_key"]
    assert main(["account-show", account_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["groups"] == [f"team-{account_id[-6:]}"] and len(shown["keys"]) == 2
    assert all(created["api_key"] not in json.dumps(k) for k in shown["keys"])  # never stored in clear

    api = local_stack.info.api_url
    assert httpx.get(f"{api}/identity", headers={"X-API-Key": created["api_key"]}).status_code == 200
    assert httpx.get(f"{api}/identity", headers={"X-API-Key": reader_key}).status_code == 200
    # platform identities come from the same command line, visible to plans that include them
    from tests.helpers import FACES

    capsys.readouterr()
    assert (
        main(["default-identity-add", "--name", f"House {account_id}", "--file", str(FACES / "obama2.jpg")])
        == 0
    )
    default = json.loads(capsys.readouterr().out)
    assert default["visibility"] == "default" and default["preprocessing_status"] == "pending"
    listed = httpx.get(
        f"{api}/identity",
        params={"visibility": "default", "page_size": 100},
        headers={"X-API-Key": created["api_key"]},
    ).json()
    assert default["identity_code"] in {i["identity_code"] for i in listed["data"]}

    # an unknown account is a clear error, not a traceback
    assert main(["credits-add", "acc_missing", "5"]) == 2
    assert "not found" in capsys.readouterr().err
