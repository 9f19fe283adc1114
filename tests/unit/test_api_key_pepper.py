"""The API key pepper: read from the template's secret once, and refused when empty outside the
local stack (a deployment that would hash keys with nothing refuses to start)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from likeness.accounts.pepper import PepperMissing, api_key_pepper, forget_pepper
from likeness.settings import Settings, get_settings


@pytest.fixture
def moto_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    from likeness.aws.clients import reset_clients

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        reset_clients()
        forget_pepper()
        yield boto3.client("secretsmanager")
    forget_pepper()
    reset_clients()


def test_an_empty_pepper_is_refused_outside_the_local_stack() -> None:
    for stage in ("dev", "prod"):
        with pytest.raises(PepperMissing, match="LIKENESS_API_KEY_PEPPER"):
            api_key_pepper(Settings(stage=stage, api_key_pepper="", api_key_pepper_secret=""))
    # the local stack may run without one
    assert api_key_pepper(Settings(stage="local", api_key_pepper="", api_key_pepper_secret="")) == ""
    assert api_key_pepper(Settings(stage="prod", api_key_pepper="set-by-hand")) == "set-by-hand"


def test_the_pepper_comes_from_the_secret_and_is_read_once(moto_secrets: Any) -> None:
    arn = moto_secrets.create_secret(Name="likeness/pepper", SecretString="pepper-from-the-secret")["ARN"]
    settings = Settings(stage="prod", api_key_pepper="", api_key_pepper_secret=arn)
    assert api_key_pepper(settings) == "pepper-from-the-secret"
    # cached for the process: a pepper never rotates, and a cold start reads it once
    moto_secrets.put_secret_value(SecretId=arn, SecretString="changed-behind-its-back")
    assert api_key_pepper(settings) == "pepper-from-the-secret"
    # a value in the environment wins over the secret's
    assert api_key_pepper(settings.model_copy(update={"api_key_pepper": "explicit"})) == "explicit"


def test_an_empty_secret_is_refused_too(moto_secrets: Any) -> None:
    arn = moto_secrets.create_secret(Name="likeness/empty", SecretString=" ")["ARN"]
    with pytest.raises(PepperMissing, match="is empty"):
        api_key_pepper(Settings(stage="prod", api_key_pepper="", api_key_pepper_secret=arn))


def test_an_api_function_without_a_pepper_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from likeness.http.app import create_app

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "likeness-prod-IdentityApiFunction-x1")
    monkeypatch.setenv("LIKENESS_STAGE", "prod")
    monkeypatch.setenv("LIKENESS_API_KEY_PEPPER", "")
    monkeypatch.setenv("LIKENESS_API_KEY_PEPPER_SECRET", "")
    get_settings.cache_clear()
    try:
        with pytest.raises(PepperMissing):
            create_app(title="t", routers=[], max_body_bytes=1024)
        monkeypatch.setenv("LIKENESS_API_KEY_PEPPER", "a-pepper")
        get_settings.cache_clear()
        assert create_app(title="t", routers=[], max_body_bytes=1024) is not None
    finally:
        get_settings.cache_clear()


def test_services_that_only_move_credits_never_read_the_pepper(
    moto_secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers (refunds) build the account service without the right to read the secret:
    only hashing a key reads it."""
    from likeness.wiring import account_service

    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:likeness/not-readable-AbCdEf"
    monkeypatch.setenv("LIKENESS_STAGE", "prod")
    monkeypatch.setenv("LIKENESS_API_KEY_PEPPER", "")
    monkeypatch.setenv("LIKENESS_API_KEY_PEPPER_SECRET", missing)
    get_settings.cache_clear()
    try:
        accounts = account_service()  # what the job worker and the sweeper do
        with pytest.raises(PepperMissing, match="cannot be read"):
            accounts.authenticate("lk_some_key")
    finally:
        get_settings.cache_clear()
