"""The local gateway runs every function's app in one process: each log line still names
the function whose route served the request."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from infra.local.gateway import Gateway
from infra.local.template import Template
from tests.integration import fake_functions


def _function(paths: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "PackageType": "Image",
            "ImageConfig": {"Command": [f"{fake_functions.__name__}.handler"]},
            "Events": {
                f"Route{i}": {"Type": "HttpApi", "Properties": {"Path": path, "Method": "GET"}}
                for i, path in enumerate(paths)
            },
        },
    }


TWO_FUNCTIONS: dict[str, Any] = {
    "Resources": {
        "Api": {"Type": "AWS::Serverless::HttpApi"},
        "ThingsFunction": _function(["/things/logged-sync", "/things/logged-async"]),
        "OthersFunction": _function(["/others/logged-sync", "/others/logged-async"]),
    }
}


def test_lines_written_while_serving_a_route_name_its_function(caplog: pytest.LogCaptureFixture) -> None:
    from likeness.observability import logger

    caplog.set_level(logging.INFO)
    gateway = Gateway.from_template(Template(TWO_FUNCTIONS, parameters={}))
    paths = [f"/{prefix}/logged-{kind}" for prefix in ("things", "others") for kind in ("sync", "async")]

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            # all at once, interleaved: the two functions' requests overlap
            responses = await asyncio.gather(*(client.get(path) for path in paths * 5))
        assert all(r.status_code == 200 for r in responses)

    asyncio.run(scenario())
    records = [r for r in caplog.records if r.getMessage().startswith("logged ")]
    assert len(records) == 20
    expected = {"things": "ThingsFunction", "others": "OthersFunction"}
    for record in records:
        line = json.loads(logger.registered_handler.format(record))
        function = expected[line["prefix"]]
        assert line["function"] == function, line
        assert line["function_name"] == f"likeness-local-{function}", line
    # outside a request, nothing is named
    logger.info("between requests")
    assert "function" not in json.loads(logger.registered_handler.format(caplog.records[-1]))
