"""An ASGI stand-in for API Gateway (HTTP API), built from the template's HttpApi/Api events.

A request is matched against the routes the template declares (``{name}`` is one path
segment, ``{proxy+}`` one or more, ``ANY`` every method) and handed, unchanged, to the
function module's ASGI ``app`` - the FastAPI app that ``Mangum`` wraps in Lambda. Going
through Mangum would add a JSON round trip per request and hide tracebacks from the console.

As API Gateway does, the gateway takes the whole body before the function runs, and refuses one
that could not travel in a synchronous Lambda invocation (``MAX_REQUEST_BODY_BYTES``, about
4.45 MB once base64 is accounted for: likeness.http.limits) with a 413 whose ``fix`` names the
upload route. A declared Content-Length over the limit is refused without reading the body into
memory, and a chunked body is cut off as soon as it passes the limit.
A route behind a Lambda authorizer (the API's ``Auth``) runs it first, as API Gateway does: the
template's authorizer function is called with the HTTP API REQUEST payload (2.0); a request it
refuses gets API Gateway's answer (403 ``{"message": "Forbidden"}``; 401 when an identity source
is missing; 500 when the authorizer fails) and the route's function is never loaded or called.
An allowed request carries the authorizer's context as ``requestContext.authorizer.lambda``.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from infra.local.authorizers import RouteAuthorizer
from infra.local.consumers import LocalLambdaContext
from infra.local.template import HttpRoute, Template
from likeness.http.limits import MAX_REQUEST_BODY_BYTES, body_too_large

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATH = "/healthz"
_SEGMENT_PARAM = re.compile(r"^\{([^{}+]+)(\+?)\}$")


@dataclass(frozen=True)
class FunctionInfo:
    """What the gateway tells a function about itself (the Lambda context of a request)."""

    function_name: str
    memory_size: int = 128
    timeout: int = 30
    invoked_function_arn: str = ""


@dataclass(frozen=True)
class _CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str] | None  # None: the $default route
    sort_key: tuple[int, ...]


def compile_route(route: HttpRoute) -> _CompiledRoute:
    """A path pattern as a regex, with API Gateway's precedence (most specific first)."""
    any_method = int(route.method == "ANY")
    if route.path == "$default":
        return _CompiledRoute(route, None, (1, 0, 0, 0, any_method))
    segments = [s for s in route.path.split("/") if s]
    parts: list[str] = []
    params = greedy = 0
    for index, segment in enumerate(segments):
        match = _SEGMENT_PARAM.match(segment)
        if match is None:
            parts.append(re.escape(segment))
            continue
        name = re.sub(r"\W", "_", match.group(1))
        if match.group(2):
            if index != len(segments) - 1:
                raise ValueError(f"greedy variable must be the last segment: {route.path}")
            parts.append(f"(?P<{name}>.+)")
            greedy = 1
        else:
            parts.append(f"(?P<{name}>[^/]+)")
            params += 1
    pattern = re.compile("^/" + "/".join(parts) + "$")
    literals = len(segments) - params - greedy
    # exact paths beat path variables beat greedy ones; a concrete method beats ANY
    return _CompiledRoute(route, pattern, (0, greedy, params, -literals, any_method))


async def _send_json(send: Send, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _invocation(function_logical_id: str, context: LocalLambdaContext) -> AbstractContextManager[Any]:
    """What ``likeness.observability.lambda_entrypoint`` does around a Lambda invocation: log
    lines written while the request is served name the function (the layer may be absent)."""
    try:
        from likeness.observability import invocation
    except ImportError:
        return nullcontext()
    return invocation(function_logical_id, context)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"detail": {"code": code, "message": message}}


class Gateway:
    """ASGI app: template routes -> ``functions.<name>.app:app`` (imported on first hit)."""

    def __init__(
        self,
        routes: Iterable[HttpRoute],
        *,
        functions: Mapping[str, FunctionInfo] | None = None,
        app_attribute: str = "app",
        importer: Callable[[str], Any] = importlib.import_module,
        account_id: str = "123456789012",
        max_body_bytes: int = MAX_REQUEST_BODY_BYTES,
    ) -> None:
        compiled = [compile_route(r) for r in routes]
        self.max_body_bytes = max_body_bytes
        self._routes = sorted(compiled, key=lambda c: c.sort_key)
        self._functions = dict(functions or {})
        self._app_attribute = app_attribute
        self._importer = importer
        self._account_id = account_id
        self._apps: dict[str, ASGIApp] = {}
        self._authorizers: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_template(cls, template: Template, **kwargs: Any) -> Gateway:
        functions: dict[str, FunctionInfo] = {}
        for logical_id, spec in template.functions().items():
            functions[logical_id] = FunctionInfo(
                function_name=template.function_name(logical_id),
                memory_size=spec.memory_size,
                timeout=spec.timeout,
                invoked_function_arn=str(template.resolve({"Fn::GetAtt": [logical_id, "Arn"]})),
            )
            if spec.events_of_type("HttpApi", "Api") and template.function_environment_overrides(logical_id):
                # os.environ is shared by every request in this process; see _environ.py
                log.warning("%s has its own Environment variables: not isolated by the gateway", logical_id)
        kwargs.setdefault("account_id", template.account_id)
        return cls(template.http_routes(), functions=functions, **kwargs)

    @property
    def routes(self) -> list[HttpRoute]:
        return [c.route for c in self._routes]

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        method = method.upper()
        for compiled in self._routes:
            if compiled.route.method not in ("ANY", method):
                continue
            if compiled.pattern is None:
                return compiled.route, {}
            found = compiled.pattern.match(path)
            if found:
                return compiled.route, found.groupdict()
        return None

    def _load_app(self, module_name: str) -> ASGIApp:
        with self._lock:
            app = self._apps.get(module_name)
            if app is None:
                module = self._importer(module_name)
                app = getattr(module, self._app_attribute, None)
                if app is None:
                    raise LookupError(f"{module_name} has no ASGI attribute {self._app_attribute!r}")
                self._apps[module_name] = app
            return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websockets: HTTP APIs have none
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Functions run with Mangum(lifespan="off"): their startup/shutdown hooks never run in
        # Lambda, so the gateway acknowledges lifespan itself instead of forwarding it.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            await _send_json(send, 200, {"status": "ok"})
            return
        matched = self.match(method, path)
        if matched is None:
            await _send_json(send, 404, error_body("not_found", f"No route for {method} {path}"))
            return
        route, params = matched
        if route.module is None:
            await _send_json(
                send, 500, error_body("internal_error", f"{route.function_logical_id} has no entrypoint")
            )
            return

        function_scope = self._function_scope(scope, route, params)
        if route.authorizer is not None:
            # before the route's function is even loaded: a refused call never starts it
            refusal = await self._authorize(route.authorizer, function_scope["aws.event"])
            if refusal is not None:
                await _send_json(send, refusal[0], {"message": refusal[1]})
                return

        try:
            body = await self._read_body(scope, receive)
        except _ClientGone:  # API Gateway would not invoke the function either
            return
        if body is None:
            log.info("413: %s %s has a body over %d bytes", method, path, self.max_body_bytes)
            await _send_json(send, 413, {"detail": body_too_large(path, self.max_body_bytes)})
            return

        try:
            # first hit imports the module (maybe heavy): keep the event loop serving meanwhile
            app = await anyio.to_thread.run_sync(self._load_app, route.module)
        except Exception:
            log.exception("could not load %s for %s", route.module, route.function_logical_id)
            await _send_json(
                send, 500, error_body("internal_error", f"{route.function_logical_id} failed to load")
            )
            return

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            # the Lambda handler (not called here) would name the function in every log line
            with _invocation(route.function_logical_id, function_scope["aws.context"]):
                await app(function_scope, _replay(body, receive), tracking_send)
        except Exception:
            log.exception("unhandled error in %s (%s %s)", route.function_logical_id, method, path)
            if not started:  # as API Gateway does when the function fails
                await _send_json(send, 500, error_body("internal_error", "Internal Server Error"))

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None when it is over the limit (the rest of it is never read)."""
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return None  # not read at all
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None  # the rest is never read
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
    def _load_authorizer(self, entrypoint: str) -> Callable[..., Any]:
        with self._lock:
            handler = self._authorizers.get(entrypoint)
            if handler is None:
                module, _, attribute = entrypoint.rpartition(".")
                handler = getattr(self._importer(module), attribute)
                self._authorizers[entrypoint] = handler
            return handler

    async def _authorize(self, authorizer: RouteAuthorizer, event: dict[str, Any]) -> tuple[int, str] | None:
        """API Gateway's Lambda authorizer step: None lets the request through (and puts the
        authorizer's context in ``event``), else the status and message API Gateway answers."""
        headers: dict[str, str] = event["headers"]
        sources = [headers.get(name, "") for name in authorizer.identity_headers]
        if any(not value.strip() for value in sources):
            return 401, "Unauthorized"
        if authorizer.entrypoint is None or not authorizer.simple_responses:
            log.error("authorizer %s: only simple responses of a function are emulated", authorizer.name)
            return 500, "Internal Server Error"
        request_context = event["requestContext"]
        payload = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": (
                f"arn:aws:execute-api:local:{self._account_id}:{request_context['apiId']}/$default/"
                f"{request_context['http']['method']}{event['rawPath']}"
            ),
            "identitySource": sources,
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
            "headers": dict(headers),
            "requestContext": request_context,
            **({"cookies": event["cookies"]} if "cookies" in event else {}),
            **({"pathParameters": event["pathParameters"]} if "pathParameters" in event else {}),
        }
        info = self._functions.get(authorizer.function_logical_id) or FunctionInfo(
            authorizer.function_logical_id
        )
        context = LocalLambdaContext(
            function_name=info.function_name,
            memory_limit_in_mb=info.memory_size,
            invoked_function_arn=info.invoked_function_arn,
            timeout_seconds=info.timeout,
        )
        try:
            handler = await anyio.to_thread.run_sync(self._load_authorizer, authorizer.entrypoint)
            answer = await anyio.to_thread.run_sync(handler, payload, context)
        except Exception:
            log.exception("authorizer %s failed", authorizer.function_logical_id)
            return 500, "Internal Server Error"
        if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool):
            log.error("authorizer %s answered %r", authorizer.function_logical_id, answer)
            return 500, "Internal Server Error"
        if not answer["isAuthorized"]:
            return 403, "Forbidden"
        request_context["authorizer"] = {"lambda": dict(answer.get("context") or {})}
        return None

    def _function_scope(self, scope: Scope, route: HttpRoute, params: dict[str, str]) -> Scope:
        """The scope Mangum would build: same path, plus ``aws.event`` and ``aws.context``."""
        info = self._functions.get(route.function_logical_id) or FunctionInfo(route.function_logical_id)
        context = LocalLambdaContext(
            function_name=info.function_name,
            memory_limit_in_mb=info.memory_size,
            invoked_function_arn=info.invoked_function_arn,
            timeout_seconds=info.timeout,
        )
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        client = scope.get("client") or ("127.0.0.1", 0)
        route_key = "$default" if route.path == "$default" else f"{route.method} {route.path}"
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": scope["path"],
            "rawQueryString": scope.get("query_string", b"").decode("latin-1"),
            "headers": headers,
            "requestContext": {
                "accountId": self._account_id,
                "apiId": "local",
                "domainName": headers.get("host", "localhost"),
                "http": {
                    "method": scope["method"],
                    "path": scope["path"],
                    "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                    "sourceIp": client[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,  # the body is handed to the app as bytes, not copied here
        }
        if params:
            event["pathParameters"] = params
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
        return {**scope, "root_path": "", "aws.event": event, "aws.context": context}


class _ClientGone(Exception):
    """The client disconnected before its body arrived."""


def _replay(body: bytes, receive: Receive) -> Receive:
    """The app's ``receive``: the body read by the gateway in one message, then the client's
    own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def create_gateway(template: Template | None = None) -> Gateway:
    """The gateway for template.yaml (Stage=local) unless another template is given."""
    template = template or Template.load()
    template.ensure_import_paths()
    return Gateway.from_template(template)
