"""Webhook endpoints, deliveries and events: what the API accepts and shows."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_EVENT_FILTERS = 50
# exact types ("job.completed"), prefix wildcards ("job.*") or "*"
EVENT_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")

WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def normalise_events(events: list[str] | None) -> list[str]:
    """Validated, de-duplicated event filters; [] means every event."""
    if not events:
        return []
    if len(events) > MAX_EVENT_FILTERS:
        raise ValueError(f"at most {MAX_EVENT_FILTERS} event filters")
    out: list[str] = []
    for raw in events:
        event = raw.strip().lower() if isinstance(raw, str) else raw
        if not isinstance(event, str) or not EVENT_PATTERN.match(event):
            raise ValueError(
                f"{raw!r} is not an event type: use an exact type like 'job.completed', "
                "a prefix wildcard like 'job.*', or '*'"
            )
        if event not in out:
            out.append(event)
    return [] if "*" in out else out


def event_matches(event_type: str, filters: list[str] | None) -> bool:
    """None or [] matches every event; 'job.*' matches 'job.completed' and 'job.x.y'."""
    if not filters:
        return True
    for pattern in filters:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class TargetKind(StrEnum):
    ENDPOINT = "endpoint"  # a saved endpoint of the account
    REQUEST = "request"  # the webhook given with one request (a job's webhook_url)


# ---------------------------------------------------------------------------- endpoints


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: list[str] = Field(
        default_factory=list,
        description="event types or prefix wildcards ('job.*'); empty, null or absent: every event",
    )
    description: Description | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _events_null(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return normalise_events(value)


class EndpointUpdate(BaseModel):
    """Only the fields sent change; ``events: null`` or ``[]`` subscribes to every event."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: list[str] | None = None
    description: Description | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str]:
        return normalise_events(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("url cannot be null")
        return value


class EndpointPublic(BaseModel):
    endpoint_id: str
    url: str
    events: list[str] = Field(description="[] means every event")
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = None
    disabled_at: str | None = None
    created_at: str
    updated_at: str
    secret_rotated_at: str | None = None


class EndpointWithSecret(EndpointPublic):
    secret: str = Field(description="whsec_...: shown on create and rotate only")


class EndpointList(BaseModel):
    data: list[EndpointPublic]


# ---------------------------------------------------------------------------- deliveries


class AttemptPublic(BaseModel):
    attempt: int = Field(description="1-based, counted over the delivery's whole life")
    cycle: int = Field(description="1 for the first delivery, +1 for each redeliver")
    attempted_at: str
    url: str | None = None
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    outcome: str = Field(description="succeeded, retry_scheduled or failed")
    next_attempt_at: str | None = None
    response_excerpt: str | None = None


class DeliveryPublic(BaseModel):
    delivery_id: str
    message_id: str = Field(description="the webhook-id header: the same for every attempt and redeliver")
    event_id: str
    event_type: str
    target: TargetKind
    endpoint_id: str | None = None
    job_id: str | None = None
    url: str | None = None
    status: DeliveryStatus
    attempt_count: int
    cycle: int
    next_attempt_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: str
    updated_at: str
    attempts: list[AttemptPublic] = Field(description="newest first")


class DeliveryDetail(DeliveryPublic):
    payload: dict[str, Any] = Field(description="the JSON body sent on every attempt")


class DeliveryPage(BaseModel):
    data: list[DeliveryPublic]
    next_cursor: str | None = None


# ---------------------------------------------------------------------------- events, secrets


class EventPublic(BaseModel):
    event_id: str
    type: str
    occurred_at: str
    payload: dict[str, Any] = Field(description="exactly what a subscriber receives")


class EventList(BaseModel):
    data: list[EventPublic]


class SigningSecretPublic(BaseModel):
    secret: str = Field(description="signs request-level webhooks sent without a webhook_secret")
    created_at: str
    rotated_at: str | None = None
