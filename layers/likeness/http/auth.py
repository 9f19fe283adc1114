"""API key authentication: `Authorization: Bearer KEY` or `X-API-Key: KEY`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from likeness.accounts.models import Caller
from likeness.errors import Unauthorized


def presented_key(authorization: str | None, x_api_key: str | None) -> str:
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    raise Unauthorized(
        "an API key is required",
        fix="Send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
    )


def authenticate(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    from likeness.wiring import account_service

    return account_service().authenticate(presented_key(authorization, x_api_key))


CurrentCaller = Annotated[Caller, Depends(authenticate)]
