"""Which Lambda authorizer API Gateway runs before a route: read from the route's HttpApi (or Api)
``Auth`` in the template (its ``DefaultAuthorizer``, or the event's own ``Auth.Authorizer``).
The gateway (infra/local/gateway.py) then calls that authorizer function as API Gateway does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.local.template import FunctionEvent, FunctionSpec, Template


@dataclass(frozen=True)
class RouteAuthorizer:
    """A Lambda REQUEST authorizer of an HTTP API (its Auth.Authorizers entry)."""

    name: str
    function_logical_id: str
    entrypoint: str | None
    # $request.header.<name> identity sources (lower case): all must be present, or 401 uncalled
    identity_headers: tuple[str, ...] = ()
    simple_responses: bool = True


def route_authorizer(
    template: Template, event: FunctionEvent, functions: Mapping[str, FunctionSpec]
) -> RouteAuthorizer | None:
    """The Lambda authorizer API Gateway runs before this event's route, if any."""
    from infra.local.template import TemplateError

    api_ref = event.properties.get("ApiId") or event.properties.get("RestApiId")
    api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
    auth: dict[str, Any]
    if isinstance(api_id, str) and api_id in template.resources:
        auth = (template.properties(api_id).get("Auth")) or {}
    else:  # the implicit API: its Auth comes from Globals
        kind = "HttpApi" if event.type == "HttpApi" else "Api"
        auth = (((template.data.get("Globals") or {}).get(kind) or {}).get("Auth")) or {}
    chosen = ((event.properties.get("Auth") or {}).get("Authorizer")) or auth.get("DefaultAuthorizer")
    if not chosen or chosen in ("NONE", "AWS_IAM"):
        return None
    spec = (auth.get("Authorizers") or {}).get(chosen) or {}
    arn = spec.get("FunctionArn")
    target = arn.get("Fn::GetAtt") if isinstance(arn, dict) else None
    function_id = target.split(".")[0] if isinstance(target, str) else (target or [None])[0]
    if function_id not in functions:
        raise TemplateError(f"authorizer {chosen!r} is not a function of this template")
    identity = spec.get("Identity") or {}
    return RouteAuthorizer(
        name=str(chosen),
        function_logical_id=str(function_id),
        entrypoint=functions[str(function_id)].entrypoint,
        identity_headers=tuple(str(h).lower() for h in identity.get("Headers") or ()),
        simple_responses=str(template.resolve(spec.get("EnableSimpleResponses", False))).lower() == "true",
    )
