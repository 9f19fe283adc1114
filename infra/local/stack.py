"""The whole local stack: emulator, provisioning, dev account, gateway, SQS consumers and pipes.

Used by ``python -m infra.local`` (``make run``) and by session-scoped e2e fixtures::

    stack = LocalStack()
    info = stack.start(api_port=0)      # free ports; info.api_url, info.api_key
    ...
    stack.stop()
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local._environ import EnvironmentPatch, reset_caches
from infra.local.consumers import ConsumerRunner
from infra.local.emulator import Emulator, start_emulator
from infra.local.gateway import Gateway
from infra.local.pipes import PipeRunner
from infra.local.provision import ProvisionResult, provision_resources
from infra.local.schedules import ScheduleRunner
from infra.local.template import Template

log = logging.getLogger(__name__)

_SEED_MODULES = {"likeness", "likeness.accounts", "likeness.accounts.bootstrap"}
# template parameters whose Globals variable a developer may set in their shell instead
PARAMETERS_FROM_ENVIRONMENT = {
    "DefaultImageModel": "LIKENESS_DEFAULT_IMAGE_MODEL",
    "ProviderKeysSecretName": "LIKENESS_PROVIDER_KEYS_SECRET",
}


@dataclass(frozen=True)
class LocalStackInfo:
    api_url: str
    emulator_url: str | None  # None: real AWS (no AWS_ENDPOINT_URL)
    api_key: str | None  # None when not seeded
    account_id: str | None
    environment: dict[str, str] = field(default_factory=dict)  # what was exported for the functions


# the default (platform) library the stack seeds: portraits shipped in infra/local/library
# (licence and sources in its SOURCES.md), by the name each default identity gets
LIBRARY_DIR = Path(__file__).resolve().parent / "library"
LIBRARY_READY_TIMEOUT_S = 120.0
PORTRAITS = {
    "Library portrait A": "rose-leslie.jpg",
    "Library portrait B": "alex-lacamoire.png",
    "Library portrait C": "biden.jpg",
}


def _seed(api_key: str | None) -> tuple[str, str, list[str]]:
    """The developer account and its key, then the default library (each once): the account,
    the key, and the codes of the library identities added now (queued for preprocessing)."""
    try:
        from likeness.accounts.bootstrap import seed_default_library, seed_dev_account
    except ModuleNotFoundError as exc:
        if exc.name not in _SEED_MODULES:
            raise
        raise RuntimeError(
            "likeness.accounts.bootstrap's seeding is not available; "
            "start without seeding (seed=False / --no-seed)"
        ) from exc
    seeded = seed_dev_account(api_key=api_key)
    portraits = [(name, (LIBRARY_DIR / file).read_bytes()) for name, file in PORTRAITS.items()]
    added = seed_default_library(portraits)
    log.info(
        "default library: %d portrait(s) added, %d already there", len(added), len(portraits) - len(added)
    )
    return (*seeded, added)


def _await_library(codes: list[str], timeout: float = LIBRARY_READY_TIMEOUT_S) -> None:
    """Wait until the consumers have preprocessed the library just seeded, so the stack is up
    with a usable library (a library-assisted request at once is not refused as too small)."""
    from likeness.accounts.bootstrap import library_still_preprocessing

    deadline = time.monotonic() + timeout
    pending = library_still_preprocessing(codes)
    while pending and time.monotonic() < deadline:
        time.sleep(0.2)
        pending = library_still_preprocessing(pending)
    if pending:
        log.warning("default library: %d portrait(s) still preprocessing after %.0fs", len(pending), timeout)


class LocalStack:
    """Start and stop everything; ``stop()`` undoes ``start()`` in reverse order."""

    def __init__(
        self,
        template_path: str | os.PathLike[str] | None = None,
        *,
        parameters: dict[str, Any] | None = None,
        start_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``start_options`` are the ``start()`` arguments used by ``with LocalStack(...)``."""
        self.start_options = dict(start_options or {})
        self.template_path = Path(template_path) if template_path is not None else None
        # settings the developer exported win over the template's defaults (`VAR=... make run`)
        self.parameters = {
            name: os.environ[variable]
            for name, variable in PARAMETERS_FROM_ENVIRONMENT.items()
            if os.environ.get(variable)
        }
        self.parameters.update(parameters or {})
        self.template: Template | None = None
        self.provisioned: ProvisionResult | None = None
        self.gateway: Gateway | None = None
        self.consumers: ConsumerRunner | None = None
        self.pipes: PipeRunner | None = None
        self.schedules: ScheduleRunner | None = None
        self.info: LocalStackInfo | None = None
        self._emulator: Emulator | None = None
        self._environment = EnvironmentPatch()
        self._server: Any = None  # uvicorn.Server
        self._server_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ start

    def start(
        self,
        *,
        api_host: str = "127.0.0.1",
        api_port: int = 8000,
        emulator_port: int | None = None,
        external_endpoint: bool = False,
        seed: bool = True,
        seed_api_key: str | None = None,
        allow_private_urls: bool = True,
        isolated_emulator: bool = True,
    ) -> LocalStackInfo:
        """Start everything; ``isolated_emulator=False`` runs moto in a thread of this process
        (see emulator.py for why a child process is the default)."""
        if self.info is not None:
            raise RuntimeError("the local stack is already started")
        started = time.perf_counter()
        try:
            if external_endpoint:
                emulator_url = os.environ.get("AWS_ENDPOINT_URL") or None
                if emulator_url is None:
                    log.warning("no AWS_ENDPOINT_URL: provisioning against real AWS with your credentials")
            else:
                self._emulator = start_emulator(emulator_port, isolated=isolated_emulator)
                emulator_url = self._emulator.url

            template = Template.load(self.template_path, parameters=self.parameters)
            template.ensure_import_paths()
            self.template = template
            self.provisioned = provision_resources(template)

            environment = dict(self.provisioned.environment)
            if allow_private_urls:
                # webhooks and fetches to loopback are what local development is made of
                environment["LIKENESS_ALLOW_PRIVATE_URLS"] = "true"
            self._environment.update(environment)
            # no X-Ray daemon locally: Powertools' Tracer would only complain
            self._environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
            # no CloudWatch either: EMF metric lines would flood the console
            self._environment.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
            reset_caches()

            account_id = api_key = None
            library: list[str] = []
            if seed:
                account_id, api_key, library = _seed(seed_api_key or os.environ.get("LIKENESS_DEV_API_KEY"))

            self.gateway = Gateway.from_template(template)
            api_url = self._start_api(self.gateway, api_host, api_port)

            self.consumers = ConsumerRunner(template)
            self.consumers.start()
            # SQS -> Batch pipes: the job definition's command, run here on the CPU
            self.pipes = PipeRunner(template)
            self.pipes.start()
            self.schedules = ScheduleRunner(template)
            self.schedules.start()
            if library:
                _await_library(library)
        except BaseException:
            self.stop()
            raise

        self.info = LocalStackInfo(
            api_url=api_url,
            emulator_url=emulator_url,
            api_key=api_key,
            account_id=account_id,
            environment=environment,
        )
        log.info(
            "local stack up in %.2fs: API %s, emulator %s",
            time.perf_counter() - started,
            api_url,
            emulator_url,
        )
        return self.info

    def _start_api(self, app: Any, host: str, port: int) -> str:
        import uvicorn

        # log_config=None: keep the process' logging setup (pytest's, or __main__'s)
        config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="likeness-gateway", daemon=True)
        self._server, self._server_thread = server, thread
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive():  # uvicorn exits its thread when the port is taken
                raise RuntimeError(f"the API server could not start on {host}:{port}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start on {host}:{port} within 15s")
            time.sleep(0.01)
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{shown_host}:{bound_port}"

    # ------------------------------------------------------------------ stop

    @property
    def emulator_pid(self) -> int | None:
        """The emulator's process, for measuring its memory (None when stopped)."""
        return None if self._emulator is None else self._emulator.pid

    def stop(self) -> None:
        """Stop consumers, API server and emulator and restore the environment. Idempotent."""
        if self.schedules is not None:
            self.schedules.stop()
            self.schedules = None
        if self.pipes is not None:
            self.pipes.request_stop()  # first: no pipe polls on while the consumers are joined
        if self.consumers is not None:
            try:
                self.consumers.stop()
            except Exception:
                log.exception("stopping the consumers failed")
            self.consumers = None
        if self.pipes is not None:
            try:
                self.pipes.stop()
            except Exception:
                log.exception("stopping the pipes failed")
            self.pipes = None
        if self._server is not None:
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(10)
            self._server = self._server_thread = None
        self.gateway = None
        self._environment.restore()
        if self._emulator is not None:
            self._emulator.stop()  # restores the endpoint variables it set
            self._emulator = None
        reset_caches()
        self.info = None

    def drain(self, timeout: float = 120) -> None:
        """Wait until every consumer and pipe queue is empty and nothing is being handled.

        A pipe's job can queue work for a consumer (an event for the webhook queue) and the
        other way round, so both are drained until a pass finds them idle together.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.1, deadline - time.monotonic())
            if self.pipes is not None:
                self.pipes.drain(timeout=left)
            if self.consumers is not None:
                self.consumers.drain(timeout=max(0.1, deadline - time.monotonic()))
            if self.pipes is None or self._pipes_idle():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the local stack's queues did not drain within {timeout}s")

    def _pipes_idle(self) -> bool:
        assert self.pipes is not None
        return all(v == 0 for depth in self.pipes.queue_depths().values() for v in depth.values())

    def __enter__(self) -> LocalStack:
        if self.info is None:
            self.start(**self.start_options)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
