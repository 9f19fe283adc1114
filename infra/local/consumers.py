"""Local stand-ins for Lambda's SQS event source mappings.

For each SQS event in the template a worker thread long-polls the queue, hands the batch to
the function's ``handler(event, context)`` as Lambda would, and deletes what succeeded:
everything when the handler returns, nothing when it raises, and - when the event declares
``FunctionResponseTypes: [ReportBatchItemFailures]`` - all but the ``batchItemFailures`` it
reports. Failed messages become visible again after the queue's visibility timeout and the
queue's RedrivePolicy (moto implements it) moves them to the DLQ after ``maxReceiveCount``.
"""

from __future__ import annotations

import base64
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.local._environ import environment_overrides
from infra.local.template import Template

log = logging.getLogger(__name__)

MAX_RECEIVE_BATCH = 10  # SQS ReceiveMessage's own limit
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes and method of Lambda's Python context object."""

    function_name: str
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: float = 3.0
    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            day = time.strftime("%Y/%m/%d", time.gmtime())
            self.log_stream_name = f"{day}/[{self.function_version}]{uuid.uuid4().hex}"
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class SqsSource:
    """One SQS event of one function: what an event source mapping knows."""

    function_logical_id: str
    event_name: str
    entrypoint: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    function_name: str
    function_arn: str
    memory_size: int
    timeout: int
    environment: Mapping[str, str]  # the function's own variables (beyond the Globals)
    enabled: bool = True

    @property
    def region(self) -> str:
        return self.queue_arn.split(":")[3]

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def queue_account(self) -> str:
        return self.queue_arn.split(":")[4]


@dataclass
class BatchOutcome:
    function_logical_id: str
    event_name: str
    received: int = 0
    deleted: list[str] = field(default_factory=list)  # message ids
    failed: list[str] = field(default_factory=list)  # message ids left for redelivery
    error: BaseException | None = None


def sqs_sources(template: Template) -> list[SqsSource]:
    """Every SQS event declared on a function in the template."""
    sources: list[SqsSource] = []
    for logical_id, spec in template.functions().items():
        for name, event in spec.events_of_type("SQS").items():
            props = template.resolve(event.properties)
            if spec.entrypoint is None:
                log.warning("%s has no entrypoint; its SQS event %s is not consumed", logical_id, name)
                continue
            sources.append(
                SqsSource(
                    function_logical_id=logical_id,
                    event_name=name,
                    entrypoint=spec.entrypoint,
                    queue_arn=str(props["Queue"]),
                    batch_size=max(1, min(int(props.get("BatchSize", 10)), MAX_RECEIVE_BATCH)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    function_name=template.function_name(logical_id),
                    function_arn=str(template.resolve({"Fn::GetAtt": [logical_id, "Arn"]})),
                    memory_size=spec.memory_size,
                    timeout=spec.timeout,
                    environment=template.function_environment_overrides(logical_id),
                    enabled=str(props.get("Enabled", True)).lower() != "false",
                )
            )
    return sources


def _message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API message attributes -> the lowerCamel shape of a Lambda SQS record."""
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        record: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        if "StringValue" in value:
            record["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            record["binaryValue"] = base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary
        converted[name] = record
    return converted


def build_sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda passes for a batch of received SQS messages."""
    region = queue_arn.split(":")[3]
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def failed_message_ids(result: Any, batch_ids: list[str]) -> list[str]:
    """Lambda's reading of a partial batch response; a malformed one fails the whole batch."""
    if result is None:
        return []
    if not isinstance(result, Mapping):
        log.warning("handler returned %s, not a batch response: treating the batch as handled", type(result))
        return []
    failures = result.get("batchItemFailures")
    if not failures:
        return []
    failed: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in batch_ids:
            log.error("invalid batchItemFailures entry %r: the whole batch fails, as in Lambda", failure)
            return list(batch_ids)
        failed.append(identifier)
    return failed


class ConsumerRunner:
    """Polling workers for every SQS event source of the template."""

    def __init__(
        self,
        template: Template,
        *,
        sqs_client: Any | None = None,
        wait_time_seconds: int = 1,
        handler_loader: Callable[[str], Handler] | None = None,
    ) -> None:
        self.template = template
        self.sources = sqs_sources(template)
        self.wait_time_seconds = wait_time_seconds
        self._sqs = sqs_client
        self._loader = handler_loader or self._import_handler
        self._handlers: dict[str, Handler] = {}
        self._queue_urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0

    # ------------------------------------------------------------------ plumbing

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.session.Session().client("sqs")
        return self._sqs

    def queue_url(self, source: SqsSource) -> str:
        url = self._queue_urls.get(source.queue_arn)
        if url is None:
            url = self.sqs.get_queue_url(
                QueueName=source.queue_name, QueueOwnerAWSAccountId=source.queue_account
            )["QueueUrl"]
            self._queue_urls[source.queue_arn] = url
        return url

    @staticmethod
    def _import_handler(entrypoint: str) -> Handler:
        module_name, _, attribute = entrypoint.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        if not callable(handler):
            raise TypeError(f"{entrypoint} is not callable")
        return handler  # type: ignore[no-any-return]

    def _handler(self, entrypoint: str) -> Handler:
        with self._lock:
            if entrypoint not in self._handlers:
                self._handlers[entrypoint] = self._loader(entrypoint)
            return self._handlers[entrypoint]

    def sources_of(self, function_logical_id: str) -> list[SqsSource]:
        sources = [s for s in self.sources if s.function_logical_id == function_logical_id]
        if not sources:
            raise KeyError(f"{function_logical_id} has no SQS event in the template")
        return sources

    # ------------------------------------------------------------------ one batch

    def poll(self, source: SqsSource, *, wait_time_seconds: int | None = None) -> BatchOutcome:
        """Receive one batch from the source's queue and invoke the handler with it."""
        outcome = BatchOutcome(source.function_logical_id, source.event_name)
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url(source),
            MaxNumberOfMessages=source.batch_size,
            WaitTimeSeconds=self.wait_time_seconds if wait_time_seconds is None else wait_time_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        outcome.received = len(messages)
        if not messages:
            return outcome
        # received messages count as NotVisible in the queue until deleted, so drain() sees
        # no gap between receiving and this counter
        with self._lock:
            self._in_flight += 1
        try:
            self._invoke(source, messages, outcome)
        finally:
            with self._lock:
                self._in_flight -= 1
        return outcome

    def _invoke(self, source: SqsSource, messages: list[dict[str, Any]], outcome: BatchOutcome) -> None:
        ids = [m["MessageId"] for m in messages]
        event = build_sqs_event(messages, source.queue_arn)
        context = LocalLambdaContext(
            function_name=source.function_name,
            invoked_function_arn=source.function_arn,
            memory_limit_in_mb=source.memory_size,
            timeout_seconds=source.timeout,
        )
        try:
            handler = self._handler(source.entrypoint)
            with environment_overrides(source.environment):
                result = handler(event, context)
        except Exception as exc:  # Lambda retries the whole batch when the invocation fails
            log.exception(
                "%s failed on a batch of %d from %s", source.function_logical_id, len(ids), source.queue_name
            )
            outcome.error = exc
            outcome.failed = ids
            return

        failed = failed_message_ids(result, ids)
        if failed and not source.report_batch_item_failures:
            log.warning(
                "%s reported batchItemFailures but %s does not declare ReportBatchItemFailures: "
                "Lambda deletes the whole batch",
                source.function_logical_id,
                source.event_name,
            )
            failed = []
        outcome.failed = failed
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE_BATCH):
            chunk = done[start : start + MAX_RECEIVE_BATCH]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url(source),
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.error("could not delete message from %s: %s", source.queue_name, failure)
            failed_entries = {f["Id"] for f in response.get("Failed", [])}
            outcome.deleted += [m["MessageId"] for i, m in enumerate(chunk) if str(i) not in failed_entries]
        if failed:
            log.info(
                "%s: %d of %d messages left for redelivery", source.function_logical_id, len(failed), len(ids)
            )

    def process_once(
        self, function_logical_id: str, *, wait_time_seconds: int | None = None
    ) -> list[BatchOutcome]:
        """Poll each SQS source of one function once (for deterministic tests)."""
        return [
            self.poll(s, wait_time_seconds=wait_time_seconds) for s in self.sources_of(function_logical_id)
        ]

    # ------------------------------------------------------------------ workers

    def _work(self, source: SqsSource) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.poll(source)
                backoff = 0.5
            except (ClientError, BotoCoreError):
                if self._stop.is_set():
                    return
                log.exception(
                    "polling %s for %s failed; retrying", source.queue_name, source.function_logical_id
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # never let a worker die silently
                log.exception("consumer %s crashed; restarting the loop", source.function_logical_id)
                self._stop.wait(backoff)

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for source in self.sources:
            if not source.enabled:
                log.info("%s.%s is disabled in the template", source.function_logical_id, source.event_name)
                continue
            self.queue_url(source)  # fail fast when the queue was not provisioned
            thread = threading.Thread(
                target=self._work,
                args=(source,),
                name=f"sqs-{source.function_logical_id}-{source.event_name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
            log.info(
                "consuming %s -> %s (batch %d%s)",
                source.queue_name,
                source.entrypoint,
                source.batch_size,
                ", partial failures" if source.report_batch_item_failures else "",
            )

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("consumer thread %s still busy after %.0fs", thread.name, timeout)
        self._threads = []

    # ------------------------------------------------------------------ tests

    def queue_depths(self) -> dict[str, dict[str, int]]:
        return queue_depths(self.sqs, {s.queue_name: self.queue_url(s) for s in self.sources})

    def drain(self, timeout: float = 30) -> None:
        """Wait until every consumer queue is empty and no batch is being handled.

        Messages left by a failed batch stay in flight for the queue's visibility timeout,
        so drain() times out on them: a test that expects failures should use process_once.
        """
        wait_until_drained(self.queue_depths, self._busy, timeout=timeout, what="consumer queues")

    def _busy(self) -> int:
        with self._lock:
            return self._in_flight


_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_depths(sqs: Any, queue_urls: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Visible, in-flight and delayed message counts of each named queue."""
    depths: dict[str, dict[str, int]] = {}
    for name, url in queue_urls.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH_ATTRIBUTES))
        depths[name] = {n: int(attributes["Attributes"].get(n, 0)) for n in _DEPTH_ATTRIBUTES}
    return depths


def wait_until_drained(
    depths: Callable[[], dict[str, dict[str, int]]], busy: Callable[[], int], *, timeout: float, what: str
) -> None:
    """Poll until every queue is empty and nothing is being handled; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        current, in_flight = depths(), busy()
        if in_flight == 0 and all(v == 0 for d in current.values() for v in d.values()):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not drained after {timeout}s: {current} ({in_flight} in flight)")
        time.sleep(0.05)
