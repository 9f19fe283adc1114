"""FastAPI app factory: typed errors become HTTP responses here, once."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from likeness import __version__
from likeness.accounts.pepper import api_key_pepper
from likeness.errors import BadRequest, LikenessError
from likeness.http.limits import MAX_REQUEST_BODY_BYTES, body_too_large
from likeness.observability import logger

CORRELATION_HEADER = "x-request-id"
T = TypeVar("T")


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": {"code": code, "message": message, **extra}})


class CorrelationIdMiddleware:
    """Take X-Request-Id from the caller (or make one), log with it and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(CORRELATION_HEADER.encode())
        correlation_id = incoming.decode("latin-1")[:128] if incoming else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        logger.set_correlation_id(correlation_id)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_header)


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit before they are parsed (413, the standard shape, with a
    ``fix`` naming the upload route when the limit is API Gateway's: likeness.http.limits)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = body_too_large(scope.get("path", ""), self.max_bytes)
        response = error_response(413, **detail)
        await response(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    # an HTTPException, so FastAPI's body parsing re-raises it instead of answering 400
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes // (1024 * 1024)} MB")


def parse_json(raw: bytes) -> Any:
    """The one way a route reads a JSON body by hand: 400 ``invalid_json`` for anything that is
    not JSON, including JSON nested too deeply for the parser (never a RecursionError's 500)."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadRequest("the request body is JSON nested too deeply to read", code="invalid_json") from None
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}", code="invalid_json") from None


async def json_body(request: Request) -> Any:
    return parse_json(await request.body())


def create_app(
    *, title: str, routers: Sequence[APIRouter], max_body_bytes: int = MAX_REQUEST_BODY_BYTES
) -> FastAPI:
    """``max_body_bytes``: at most what API Gateway and Lambda let through (a bigger value would
    pass under uvicorn what AWS refuses, so it is capped)."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # a cold start: an API without its key pepper refuses to start rather than serve
        api_key_pepper()
    app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(LikenessError)
    async def _likeness_error(request: Request, exc: LikenessError) -> JSONResponse:
        if exc.status_code >= 500:
            logger.error("request failed", code=exc.error_code, error=exc.message)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.to_detail()}, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if malformed:
            where = malformed[0].get("ctx", {}).get("error", "")
            return error_response(
                400, "invalid_json", f"the request body is not valid JSON: {where}".rstrip(": ")
            )
        errors = [
            {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['message']}" for e in errors
        )
        return error_response(422, "invalid_request", summary or "the request is not valid", errors=errors)

    @app.exception_handler(ValidationError)
    async def _model_error(request: Request, exc: ValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['message']}" for e in errors)
        return error_response(422, "invalid_request", summary, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=min(max_body_bytes, MAX_REQUEST_BODY_BYTES))
    app.add_middleware(CorrelationIdMiddleware)
    return app


def provided(factory: Callable[[], T]) -> Callable[[], T]:
    """A FastAPI dependency that builds a service from the composition root.

    The wiring factories take an optional ``settings`` argument; handed to ``Depends``
    directly, FastAPI would read that pydantic-typed parameter as a request body field.
    """

    def dependency() -> T:
        return factory()

    dependency.__name__ = f"provide_{getattr(factory, '__name__', 'service')}"
    return dependency
