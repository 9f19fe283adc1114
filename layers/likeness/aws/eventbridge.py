"""EventBridge adapter: every state change is published on the bus."""

from __future__ import annotations

import json
from typing import Any


class EventPublishError(Exception):
    pass


class EventPublisher:
    def __init__(self, *, client: Any, bus_name: str, source: str = "likeness") -> None:
        self._client = client
        self.bus_name = bus_name
        self.source = source

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        resp = self._client.put_events(
            Entries=[
                {
                    "EventBusName": self.bus_name,
                    "Source": self.source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, separators=(",", ":"), default=str),
                }
            ]
        )
        if resp.get("FailedEntryCount"):
            entry = resp["Entries"][0]
            raise EventPublishError(f"{detail_type}: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
