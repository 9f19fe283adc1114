"""API key authentication: `Authorization: Bearer KEY` or `X-API-Key: KEY`.

Behind API Gateway the API key authorizer (likeness.http.authorizer) has already checked the key
and names the caller in the event; a route reads it from there. Anywhere else (the same app
under uvicorn) the key is checked here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from likeness.accounts.models import Caller
from likeness.http.authorizer import caller_from_event, presented_key

__all__ = ["CurrentCaller", "authenticate", "presented_key"]


def authenticate(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    granted = caller_from_event(request.scope.get("aws.event"))
    if granted is not None:
        return granted
    from likeness.wiring import account_service

    return account_service().authenticate(presented_key(authorization, x_api_key))


CurrentCaller = Annotated[Caller, Depends(authenticate)]
