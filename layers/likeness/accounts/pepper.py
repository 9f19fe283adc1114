"""The API key pepper: the secret mixed into every key's hash (``likeness.accounts.keys``).

On AWS the template generates it into Secrets Manager (``ApiKeyPepperSecret``, kept when the
stack is deleted or updated) and names it in ``LIKENESS_API_KEY_PEPPER_SECRET``. It is read
through Powertools' parameters utility once per process (a Lambda cold start) and kept for the
process's life: a pepper never rotates, since changing it invalidates every key.
``LIKENESS_API_KEY_PEPPER``, when set, wins (a deployment without Secrets Manager).

Without a pepper, a leaked table is enough to test key guesses offline, so an empty one is
refused everywhere but the local stack (stage ``local``, whose provisioner generates its own
secret anyway): the API functions fail their cold start instead of serving.
"""

from __future__ import annotations

import threading

from likeness.settings import Settings, get_settings

LOCAL_STAGE = "local"
# cached for the process: the pepper never changes while keys exist
_MAX_AGE_SECONDS = 365 * 24 * 3600

_lock = threading.Lock()
_values: dict[str, str] = {}


class PepperMissing(RuntimeError):
    """No API key pepper outside the local stack: the deployment is misconfigured."""


def _secret(secret_id: str) -> str:
    cached = _values.get(secret_id)
    if cached is not None:
        return cached
    with _lock:
        cached = _values.get(secret_id)
        if cached is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
            from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

            from likeness.aws.clients import get_client

            provider = SecretsProvider(boto3_client=get_client("secretsmanager"))
            try:
                value = provider.get(secret_id, max_age=_MAX_AGE_SECONDS)
            except GetParameterError as exc:
                # no read permission, a deleted secret: the deployment cannot check keys
                raise PepperMissing(f"the API key pepper secret {secret_id!r} cannot be read: {exc}") from exc
            cached = value.strip() if isinstance(value, str) else ""
            _values[secret_id] = cached
        return cached


def api_key_pepper(settings: Settings | None = None) -> str:
    """The pepper: the explicit setting, else the secret's value; refused when empty outside
    the local stack (``PepperMissing``)."""
    settings = settings or get_settings()
    pepper = settings.api_key_pepper
    if not pepper and settings.api_key_pepper_secret:
        pepper = _secret(settings.api_key_pepper_secret)
    if not pepper and settings.stage != LOCAL_STAGE:
        where = (
            f"the secret {settings.api_key_pepper_secret!r} is empty"
            if settings.api_key_pepper_secret
            else "neither LIKENESS_API_KEY_PEPPER nor LIKENESS_API_KEY_PEPPER_SECRET is set"
        )
        raise PepperMissing(
            f"no API key pepper for stage {settings.stage!r}: {where}. Deploy template.yaml (it "
            "generates ApiKeyPepperSecret) or set LIKENESS_API_KEY_PEPPER; only the local stack "
            "runs without one."
        )
    return pepper


def forget_pepper() -> None:
    """Read the secret again on next use (tests)."""
    with _lock:
        _values.clear()
