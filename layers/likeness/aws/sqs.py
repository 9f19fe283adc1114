"""SQS adapter: job messages out."""

from __future__ import annotations

import json
from typing import Any


class JobQueue:
    def __init__(self, *, client: Any, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def send(self, body: dict[str, Any], *, correlation_id: str | None = None, delay_seconds: int = 0) -> str:
        attributes = {}
        if correlation_id:
            attributes["correlation_id"] = {"DataType": "String", "StringValue": correlation_id}
        resp = self._client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(body, separators=(",", ":")),
            MessageAttributes=attributes,
            DelaySeconds=delay_seconds,
        )
        return str(resp["MessageId"])
