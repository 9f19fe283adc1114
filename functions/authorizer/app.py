"""The API key authorizer: API Gateway (HTTP API) calls it before every route, with the request's
headers (payload 2.0), and starts the route's function only when it answers ``isAuthorized``.

A zip function on CoreLayer (template.yaml ApiKeyAuthorizerFunction): it imports only the light
core. The rules live in likeness.http.authorizer; the local gateway calls this same handler.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from likeness.accounts.models import Caller
from likeness.http.authorizer import KeyAuthorizer
from likeness.observability import lambda_entrypoint, metrics
from likeness.settings import get_settings
from likeness.wiring import account_service


def _authenticate(api_key: str) -> Caller:
    # the service of the current settings and clients (the local stack's tests change them)
    return account_service().authenticate(api_key)


@lru_cache(maxsize=1)
def _authorizer() -> KeyAuthorizer:
    """One per process: warm invocations answer a known key from its cache."""
    return KeyAuthorizer(authenticate=_authenticate, ttl_seconds=get_settings().authorizer_cache_seconds)


@lambda_entrypoint("ApiKeyAuthorizerFunction")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = _authorizer().respond(event)
    name = "RequestsAuthorized" if answer["isAuthorized"] else "RequestsRefused"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return answer
