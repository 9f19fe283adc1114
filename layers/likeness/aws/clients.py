"""Lazily created, process-wide boto3 clients.

boto3 reads ``AWS_ENDPOINT_URL`` (and per-service ``AWS_ENDPOINT_URL_<SERVICE>``) itself,
so the same code talks to moto, LocalStack or AWS. Nothing is created at import time:
API functions that never touch a service never pay for its client.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def get_client(service: str) -> Any:
    client = _clients.get(service)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(service)
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"max_attempts": 5, "mode": "standard"}, signature_version="s3v4")
            client = boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
            _clients[service] = client
        return client


def reset_clients() -> None:
    """Forget cached clients (after the environment points somewhere else)."""
    with _lock:
        _clients.clear()
