"""Local stand-in for EventBridge Pipes from an SQS queue to an AWS Batch job queue.

For each ``AWS::Pipes::Pipe`` of the template whose source is one of its SQS queues and whose
target is one of its ``AWS::Batch::JobQueue`` s, a worker thread long-polls the queue and runs
the target job definition's container command on this machine, in a subprocess, once per
message: ``Ref::name`` placeholders of the command take the Pipe's
``BatchJobParameters.Parameters`` (JSON paths like ``$.body.file_uuid`` evaluated against the
SQS record, as Pipes does) over the job definition's default ``Parameters``; ``python`` is this
interpreter; the environment is the stack's (emulator endpoint, table, bucket, queues) plus
the job definition's ``Environment``, with the layers on ``PYTHONPATH`` and the job's device
forced to the CPU.

Where AWS deletes the message as soon as the job is submitted and Batch retries the job, the
local runner keeps the message in flight while the job runs (extending its visibility) and
decides like a Lambda SQS consumer: exit code 0 deletes it; any other leaves it for redelivery
after the queue's visibility timeout, and the queue's RedrivePolicy moves it to the DLQ after
``maxReceiveCount`` receives (moto implements it). An exit code the job definition's
``RetryStrategy.EvaluateOnExit`` sends to ``EXIT`` (no retry) deletes the message too: Batch
would not run that job again either. Where Batch gives a job up (that exit code, or a failed or
timed-out attempt numbered ``RetryStrategy.Attempts``) the runner puts Batch's "Job State
Change" FAILED event on the default bus, as Batch would (infra/local/batch_events.py).
"""

from __future__ import annotations

import collections
import fnmatch
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.local.batch_events import failed_job_detail, publish_failed_job
from infra.local.consumers import build_sqs_event, queue_depths, wait_until_drained
from infra.local.pipe_parameters import PipeError, json_path, substitute
from infra.local.template import Template, cfn_string

log = logging.getLogger(__name__)

PIPE_TYPE = "AWS::Pipes::Pipe"
JOB_QUEUE_TYPE = "AWS::Batch::JobQueue"
JOB_DEFINITION_TYPE = "AWS::Batch::JobDefinition"
QUEUE_TYPE = "AWS::SQS::Queue"
MAX_RECEIVE_BATCH = 10
OUTPUT_TAIL_LINES = 60
# what the job's device variable is set to locally (None keeps the job definition's value)
LOCAL_DEVICE = {"LIKENESS_MEDIA_DEVICE": "cpu"}
_INTERPRETERS = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")


@dataclass(frozen=True)
class RetryRule:
    action: str  # RETRY | EXIT
    on_exit_code: str | None = None  # glob, e.g. "2" or "1*"
    on_reason: str | None = None
    on_status_reason: str | None = None

    def matches(self, exit_code: int, reason: str) -> bool:
        checks = [
            (self.on_exit_code, str(exit_code)),
            (self.on_reason, reason),
            (self.on_status_reason, reason),
        ]
        given = [(pattern, value) for pattern, value in checks if pattern is not None]
        return bool(given) and all(fnmatch.fnmatchcase(value, pattern) for pattern, value in given)


@dataclass(frozen=True)
class BatchPipe:
    """One SQS -> Batch pipe of the template, with what its target job definition runs."""

    logical_id: str
    queue_logical_id: str
    queue_arn: str
    batch_size: int
    job_queue_logical_id: str
    job_definition_logical_id: str
    job_name: str
    parameters: Mapping[str, str]  # name -> static value or a "$." JSON path into the record
    default_parameters: Mapping[str, str]  # the job definition's Parameters
    command: tuple[str, ...]
    environment: Mapping[str, str]  # the job definition's Environment, resolved
    timeout_seconds: int | None  # Timeout.AttemptDurationSeconds
    retry_rules: tuple[RetryRule, ...] = ()
    attempts: int = 1  # RetryStrategy.Attempts
    enabled: bool = True

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def queue_account(self) -> str:
        return self.queue_arn.split(":")[4]

    def retries(self, exit_code: int) -> bool:
        """Batch's reading of the RetryStrategy for an attempt that exited with ``exit_code``."""
        reason = f"Essential container in task exited ({exit_code})"
        for rule in self.retry_rules:
            if rule.matches(exit_code, reason):
                return rule.action.upper() == "RETRY"
        return True  # no rule matched: Batch retries


@dataclass
class JobRun:
    message_id: str
    command: list[str]
    exit_code: int | None = None  # None: it could not start, or it timed out
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)  # the last lines of stdout + stderr
    error: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # the job's (command placeholders)
    timed_out: bool = False


@dataclass
class PipeOutcome:
    pipe_logical_id: str
    received: int = 0
    deleted: list[str] = field(default_factory=list)  # message ids (job done, or not retryable)
    failed: list[str] = field(default_factory=list)  # message ids left for redelivery
    runs: list[JobRun] = field(default_factory=list)


# --------------------------------------------------------------------------- discovery


def _logical_id_for(template: Template, value: Any, resource_type: str) -> str | None:
    """The logical id of the ``resource_type`` resource that ``value`` (resolved) names."""
    for logical_id in template.resources_of_type(resource_type):
        names = {
            cfn_string(template.physical_id(logical_id)),
            template.resource_name(logical_id),
        }
        if resource_type == QUEUE_TYPE:
            names.add(str(template.resolve({"Fn::GetAtt": [logical_id, "Arn"]})))
        # a job definition may be named with or without its revision
        if resource_type == JOB_DEFINITION_TYPE:
            names |= {n.rsplit(":", 1)[0] for n in list(names) if n.startswith("arn:")}
        if cfn_string(value) in names:
            return logical_id
    return None


def _parameter_map(value: Any) -> dict[str, str]:
    return {str(k): cfn_string(v) for k, v in (value or {}).items()}


def batch_pipes(template: Template) -> list[BatchPipe]:
    """Every Pipe of the template that reads one of its SQS queues and submits to its Batch queue."""
    found: list[BatchPipe] = []
    for logical_id, raw in template.resources_of_type(PIPE_TYPE).items():
        props = template.resolve({k: raw[k] for k in raw if k != "RoleArn"})
        queue_id = _logical_id_for(template, props.get("Source"), QUEUE_TYPE)
        job_queue_id = _logical_id_for(template, props.get("Target"), JOB_QUEUE_TYPE)
        batch = (props.get("TargetParameters") or {}).get("BatchJobParameters")
        if queue_id is None or job_queue_id is None or not batch:
            log.info("%s is not an SQS -> Batch pipe of this template; not emulated", logical_id)
            continue
        definition_id = _logical_id_for(template, batch.get("JobDefinition"), JOB_DEFINITION_TYPE)
        if definition_id is None:
            log.warning(
                "%s: job definition %r is not in the template", logical_id, batch.get("JobDefinition")
            )
            continue
        definition = template.properties(definition_id)
        container = definition.get("ContainerProperties") or {}
        command = [cfn_string(c) for c in template.resolve(container.get("Command") or [])]
        if not command:
            log.warning("%s: %s has no container Command to run locally", logical_id, definition_id)
            continue
        environment = {
            str(e["Name"]): cfn_string(e["Value"])
            for e in template.resolve(container.get("Environment") or [])
            if "Name" in e and "Value" in e
        }
        timeout = template.resolve((definition.get("Timeout") or {}).get("AttemptDurationSeconds"))
        strategy = template.resolve(definition.get("RetryStrategy") or {})
        rules = tuple(
            RetryRule(
                action=str(rule.get("Action", "RETRY")),
                on_exit_code=rule.get("OnExitCode"),
                on_reason=rule.get("OnReason"),
                on_status_reason=rule.get("OnStatusReason"),
            )
            for rule in strategy.get("EvaluateOnExit") or []
        )
        sqs_parameters = (props.get("SourceParameters") or {}).get("SqsQueueParameters") or {}
        found.append(
            BatchPipe(
                logical_id=logical_id,
                queue_logical_id=queue_id,
                queue_arn=str(template.resolve({"Fn::GetAtt": [queue_id, "Arn"]})),
                batch_size=max(1, min(int(sqs_parameters.get("BatchSize", 10)), MAX_RECEIVE_BATCH)),
                job_queue_logical_id=job_queue_id,
                job_definition_logical_id=definition_id,
                job_name=cfn_string(batch.get("JobName") or logical_id),
                parameters=_parameter_map(batch.get("Parameters")),
                default_parameters=_parameter_map(template.resolve(definition.get("Parameters"))),
                command=tuple(command),
                environment=environment,
                timeout_seconds=int(timeout) if timeout else None,
                retry_rules=rules,
                attempts=int(strategy.get("Attempts") or 1),
                enabled=str(props.get("DesiredState", "RUNNING")).upper() != "STOPPED",
            )
        )
    return found


# --------------------------------------------------------------------------- parameters


def job_parameters(pipe: BatchPipe, record: Mapping[str, Any]) -> dict[str, str]:
    """The job's parameters: the pipe's (dynamic paths evaluated) over the definition's defaults."""
    values = dict(pipe.default_parameters)
    for name, value in pipe.parameters.items():
        if value.startswith("$."):
            found = json_path(record, value)
            values[name] = found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))
        else:
            values[name] = value
    return values


# --------------------------------------------------------------------------- the runner


class PipeRunner:
    """Polling workers for every SQS -> Batch pipe of the template; jobs run as subprocesses."""

    def __init__(
        self,
        template: Template,
        *,
        sqs_client: Any | None = None,
        wait_time_seconds: int = 1,
        environment: Mapping[str, str] | None = None,
        device_overrides: Mapping[str, str] | None = None,
        popen: Callable[..., subprocess.Popen[str]] = subprocess.Popen,
    ) -> None:
        """``environment`` is the base of the jobs' environment (default: this process's, which
        the stack has pointed at the emulator); ``device_overrides`` replace the job
        definition's variables that pick a GPU (default: the CPU)."""
        self.template = template
        self.pipes = batch_pipes(template)
        self.wait_time_seconds = wait_time_seconds
        self._sqs = sqs_client
        self._events: Any = None
        self._base_environment = dict(environment) if environment is not None else None
        self._device = dict(LOCAL_DEVICE if device_overrides is None else device_overrides)
        self._popen = popen
        self._queue_urls: dict[str, str] = {}
        self._visibility: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, subprocess.Popen[str]] = {}
        self._in_flight = 0
        # the latest jobs, newest last (for the console and the tests)
        self.history: collections.deque[JobRun] = collections.deque(maxlen=100)

    # ------------------------------------------------------------------ plumbing

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.session.Session().client("sqs")
        return self._sqs

    def pipe(self, logical_id: str) -> BatchPipe:
        for pipe in self.pipes:
            if pipe.logical_id == logical_id:
                return pipe
        raise KeyError(f"{logical_id} is not an SQS -> Batch pipe of the template")

    def queue_url(self, pipe: BatchPipe) -> str:
        url = self._queue_urls.get(pipe.queue_arn)
        if url is None:
            url = self.sqs.get_queue_url(
                QueueName=pipe.queue_name, QueueOwnerAWSAccountId=pipe.queue_account
            )["QueueUrl"]
            self._queue_urls[pipe.queue_arn] = url
        return url

    def _visibility_timeout(self, pipe: BatchPipe) -> int:
        if pipe.queue_arn not in self._visibility:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url(pipe), AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            self._visibility[pipe.queue_arn] = int(attributes.get("VisibilityTimeout", 30))
        return self._visibility[pipe.queue_arn]

    def job_environment(self, pipe: BatchPipe, *, message_id: str, attempt: int) -> dict[str, str]:
        base = dict(os.environ) if self._base_environment is None else dict(self._base_environment)
        env = {**base, **pipe.environment, **self._device}
        # what Batch sets in every job container
        env.update(
            AWS_BATCH_JOB_ID=f"local-{message_id}",
            AWS_BATCH_JOB_ATTEMPT=str(attempt),
            AWS_BATCH_JQ_NAME=self.template.resource_name(pipe.job_queue_logical_id),
            AWS_BATCH_CE_NAME="local",
        )
        # what the image has installed: the repo's packages and the layers
        paths = [str(self.template.root), *(str(p) for p in self.template.layer_paths())]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    @staticmethod
    def local_command(command: Sequence[str]) -> list[str]:
        """The image's ``python`` is this interpreter (the .venv with the project installed)."""
        argv = list(command)
        if argv and argv[0] in _INTERPRETERS:
            argv[0] = sys.executable
        return argv

    # ------------------------------------------------------------------ one job

    def run_job(self, pipe: BatchPipe, record: Mapping[str, Any]) -> JobRun:
        """Run the job a Pipe would submit for one SQS record, to completion."""
        message_id = str(record.get("messageId", uuid.uuid4()))
        attempt = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        run = JobRun(message_id=message_id, command=[])
        try:
            parameters = job_parameters(pipe, record)
        except PipeError as exc:
            run.error = str(exc)
            log.error("%s: message %s cannot become a job: %s", pipe.logical_id, message_id, exc)
            return run
        run.parameters = parameters
        run.command = self.local_command(substitute(pipe.command, parameters))
        env = self.job_environment(pipe, message_id=message_id, attempt=attempt)
        tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
        started = time.monotonic()
        log.info(
            "%s: job %s (attempt %d) for message %s", pipe.logical_id, pipe.job_name, attempt, message_id
        )
        try:
            process = self._popen(
                run.command,
                cwd=str(self.template.root),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            run.error = f"could not start {run.command[0]}: {exc}"
            log.error("%s: %s", pipe.logical_id, run.error)
            return run
        with self._lock:
            self._running[message_id] = process
        if self._stop.is_set():  # stop() ran between the poll and the start
            process.terminate()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                log.info("[%s %s] %s", pipe.job_name, message_id[:8], line)

        reader = threading.Thread(target=pump, name=f"job-output-{message_id[:8]}", daemon=True)
        reader.start()
        try:
            run.exit_code = process.wait(timeout=pipe.timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            run.error = f"attempt timed out after {pipe.timeout_seconds}s"
            run.timed_out = True
        finally:
            with self._lock:
                self._running.pop(message_id, None)
            reader.join(5)
        run.seconds = time.monotonic() - started
        run.output = list(tail)
        if run.exit_code == 0:
            log.info("%s: job for message %s succeeded in %.1fs", pipe.logical_id, message_id, run.seconds)
        else:
            log.error(
                "%s: job for message %s failed (%s) after %.1fs; last output:\n%s",
                pipe.logical_id,
                message_id,
                run.error or f"exit code {run.exit_code}",
                run.seconds,
                "\n".join(run.output[-20:]),
            )
        return run

    def _heartbeat(self, pipe: BatchPipe, receipt_handle: str) -> Callable[[], None]:
        """Keep a message invisible while its job runs; returns the function that stops it."""
        seconds = self._visibility_timeout(pipe)
        stop = threading.Event()
        url = self.queue_url(pipe)

        def extend() -> None:
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
                )
            except (ClientError, BotoCoreError):
                log.exception("%s: could not extend a message's visibility", pipe.logical_id)

        def beat() -> None:
            # at once (the receive was a while ago), then well within each timeout: a busy
            # machine must not let the message reappear between two beats
            extend()
            while not stop.wait(max(0.2, seconds / 3)):
                extend()

        thread = threading.Thread(target=beat, name=f"pipe-heartbeat-{pipe.logical_id}", daemon=True)
        thread.start()

        def stop_beating() -> None:
            stop.set()
            thread.join(5)

        return stop_beating

    # ------------------------------------------------------------------ one poll

    def poll(self, pipe: BatchPipe, *, wait_time_seconds: int | None = None) -> PipeOutcome:
        """Receive up to a batch from the pipe's queue and run one job per message."""
        outcome = PipeOutcome(pipe.logical_id)
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url(pipe),
            MaxNumberOfMessages=pipe.batch_size,
            WaitTimeSeconds=self.wait_time_seconds if wait_time_seconds is None else wait_time_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        outcome.received = len(messages)
        if not messages:
            return outcome
        with self._lock:
            self._in_flight += 1
        try:
            records = build_sqs_event(messages, pipe.queue_arn)["Records"]
            for message, record in zip(messages, records, strict=True):
                if self._stop.is_set():  # stopping: the rest of the batch comes back later
                    outcome.failed.append(record["messageId"])
                    continue
                stop_beating = self._heartbeat(pipe, message["ReceiptHandle"])
                try:
                    run = self.run_job(pipe, record)
                finally:
                    stop_beating()
                outcome.runs.append(run)
                self.history.append(run)
                done = run.exit_code == 0
                final = run.exit_code not in (None, 0) and not pipe.retries(run.exit_code)
                if final:
                    log.error(
                        "%s: exit code %d is not retried (RetryStrategy): message %s dropped",
                        pipe.logical_id,
                        run.exit_code,
                        run.message_id,
                    )
                    done = True
                attempt = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
                started = run.exit_code is not None or run.timed_out
                if run.exit_code != 0 and started and (final or attempt >= pipe.attempts):
                    self._report_failed(pipe, run, attempt)
                if done:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url(pipe), ReceiptHandle=message["ReceiptHandle"]
                    )
                    outcome.deleted.append(run.message_id)
                else:
                    outcome.failed.append(run.message_id)
        finally:
            with self._lock:
                self._in_flight -= 1
        return outcome

    def _report_failed(self, pipe: BatchPipe, run: JobRun, attempt: int) -> None:
        """Batch's FAILED event for a job it gives up (no retry left, or none allowed)."""
        if self._events is None:
            import boto3

            self._events = boto3.session.Session().client("events")
        detail = failed_job_detail(
            job_id=f"local-{run.message_id}",
            job_name=pipe.job_name,
            job_queue_arn=cfn_string(self.template.physical_id(pipe.job_queue_logical_id)),
            job_definition_arn=cfn_string(self.template.physical_id(pipe.job_definition_logical_id)),
            parameters=run.parameters,
            command=run.command,
            attempt=attempt,
            exit_code=run.exit_code,
            timed_out=run.timed_out,
        )
        publish_failed_job(self._events, detail)

    def process_once(self, pipe_logical_id: str, *, wait_time_seconds: int | None = None) -> PipeOutcome:
        """Poll one pipe's queue once (for deterministic tests)."""
        return self.poll(self.pipe(pipe_logical_id), wait_time_seconds=wait_time_seconds)

    # ------------------------------------------------------------------ workers

    def _work(self, pipe: BatchPipe) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.poll(pipe)
                backoff = 0.5
            except (ClientError, BotoCoreError):
                if self._stop.is_set():
                    return
                log.exception("polling %s for %s failed; retrying", pipe.queue_name, pipe.logical_id)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # never let a worker die silently
                log.exception("pipe %s crashed; restarting the loop", pipe.logical_id)
                self._stop.wait(backoff)

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for pipe in self.pipes:
            if not pipe.enabled:
                log.info("%s is STOPPED in the template", pipe.logical_id)
                continue
            self.queue_url(pipe)  # fail fast when the queue was not provisioned
            thread = threading.Thread(
                target=self._work, args=(pipe,), name=f"pipe-{pipe.logical_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
            log.info(
                "piping %s -> %s (%s, as a local CPU subprocess)",
                pipe.queue_name,
                pipe.job_definition_logical_id,
                " ".join(pipe.command),
            )

    def request_stop(self) -> None:
        """Stop polling (no waiting): the workers return at their next look at the flag."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and terminate the jobs still running: their messages come back, as a
        Batch job's would when its instance goes away."""
        self._stop.set()
        with self._lock:
            running = list(self._running.values())
        for process in running:
            if process.poll() is None:
                log.warning("terminating a local batch job still running (pid %d)", process.pid)
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("pipe thread %s still busy after %.0fs", thread.name, timeout)
        self._threads = []

    # ------------------------------------------------------------------ tests

    def queue_depths(self) -> dict[str, dict[str, int]]:
        return queue_depths(self.sqs, {p.queue_name: self.queue_url(p) for p in self.pipes})

    def drain(self, timeout: float = 60) -> None:
        """Wait until every pipe queue is empty and no job is running (see ConsumerRunner.drain)."""
        wait_until_drained(self.queue_depths, self._busy, timeout=timeout, what="pipe queues")

    def _busy(self) -> int:
        with self._lock:
            return self._in_flight
