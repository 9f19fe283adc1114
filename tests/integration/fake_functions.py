"""A stand-in function module for the local stack's own tests (gateway and consumer runner).

Synthetic templates point their routes and SQS events at ``tests.integration.fake_functions``
so the tests do not depend on the real functions.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/{prefix}/logged-sync")
def logged_sync(prefix: str) -> dict[str, str]:
    from likeness.observability import logger

    logger.info("logged in a worker thread", prefix=prefix)
    return {"logged": prefix}


@app.get("/{prefix}/logged-async")
async def logged_async(prefix: str) -> dict[str, str]:
    from likeness.observability import logger

    logger.info("logged on the event loop", prefix=prefix)
    return {"logged": prefix}


@app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def echo(path: str, request: Request) -> dict[str, Any]:
    event = request.scope.get("aws.event", {})
    context = request.scope.get("aws.context")
    return {
        "path": request.url.path,
        "method": request.method,
        "route_key": event.get("routeKey"),
        "path_parameters": event.get("pathParameters"),
        "function_name": getattr(context, "function_name", None),
    }


# SQS handler: the body says what to do with each record
_lock = threading.Lock()
received: list[dict[str, Any]] = []  # every record handed to the handler
contexts: list[Any] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with _lock:
        received.extend(event["Records"])
        contexts.append(context)
    if any(record["body"] == "boom" for record in event["Records"]):
        raise RuntimeError("boom: the whole batch fails")
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")]
    return {"batchItemFailures": failures}


def reset() -> None:
    with _lock:
        received.clear()
        contexts.clear()
