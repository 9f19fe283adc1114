"""Which providers this deployment can call: their keys, base URLs and model routes.

Keys come from settings (``LIKENESS_GEMINI_API_KEY``, ``LIKENESS_OPENAI_API_KEY``,
``LIKENESS_FAL_KEY``) or, on AWS, from one Secrets Manager secret named by
``LIKENESS_PROVIDER_KEYS_SECRET``: a JSON object keyed by the same setting names. The secret is
read once per process (a Lambda cold start) through Powertools' parameters utility; a key set
in the environment wins over the secret's. Keys are ``SecretStr`` from end to end: nothing here
formats one into a message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from likeness.settings import Settings, get_settings

PROVIDERS = ("gemini", "openai", "fal")

# provider -> (key setting, base URL setting)
SETTING_NAMES: dict[str, tuple[str, str]] = {
    "gemini": ("LIKENESS_GEMINI_API_KEY", "LIKENESS_GEMINI_BASE_URL"),
    "openai": ("LIKENESS_OPENAI_API_KEY", "LIKENESS_OPENAI_BASE_URL"),
    "fal": ("LIKENESS_FAL_KEY", "LIKENESS_FAL_QUEUE_URL"),
}

_lock = threading.Lock()
_secret_values: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    api_key: SecretStr | None
    base_url: str

    @property
    def configured(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())

    @property
    def key_setting(self) -> str:
        return SETTING_NAMES[self.name][0]

    def __repr__(self) -> str:  # never the key, even in a traceback's locals
        return f"ProviderConfig(name={self.name!r}, base_url={self.base_url!r}, configured={self.configured})"


def _secret(secret_id: str) -> dict[str, str]:
    """The provider keys secret, read once per process."""
    cached = _secret_values.get(secret_id)
    if cached is not None:
        return cached
    with _lock:
        cached = _secret_values.get(secret_id)
        if cached is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            from likeness.aws.clients import get_client

            provider = SecretsProvider(boto3_client=get_client("secretsmanager"))
            value: Any = provider.get(secret_id, transform="json", max_age=365 * 24 * 3600)
            if not isinstance(value, dict):
                raise ValueError(f"the provider keys secret {secret_id!r} is not a JSON object")
            cached = {str(k): str(v) for k, v in value.items() if isinstance(v, str) and v}
            _secret_values[secret_id] = cached
        return cached


def forget_secret() -> None:
    """Read the secret again on next use (tests; a rotated key needs a new cold start on AWS)."""
    with _lock:
        _secret_values.clear()


def provider_config(name: str, settings: Settings | None = None) -> ProviderConfig:
    settings = settings or get_settings()
    key_setting, _ = SETTING_NAMES[name]
    base_url = {
        "gemini": settings.gemini_base_url,
        "openai": settings.openai_base_url,
        "fal": settings.fal_queue_url,
    }[name]
    key: SecretStr | None = {
        "gemini": settings.gemini_api_key,
        "openai": settings.openai_api_key,
        "fal": settings.fal_key,
    }[name]
    if (key is None or not key.get_secret_value()) and settings.provider_keys_secret:
        stored = _secret(settings.provider_keys_secret).get(key_setting)
        key = SecretStr(stored) if stored else None
    return ProviderConfig(name=name, api_key=key, base_url=base_url.rstrip("/"))


def known_keys(settings: Settings | None = None) -> list[str]:
    """Every configured key value (to scrub from text that leaves the process)."""
    values = []
    for name in PROVIDERS:
        config = provider_config(name, settings)
        if config.api_key is not None and config.api_key.get_secret_value():
            values.append(config.api_key.get_secret_value())
    return values


def redact(text: str, settings: Settings | None = None) -> str:
    """``text`` with any configured provider key replaced (provider errors sometimes echo input)."""
    for value in known_keys(settings):
        if len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text
