"""The media index batch job: the container entry of the GPU path for large media files.

MediaBatchQueue -> MediaIndexPipe (EventBridge Pipes) -> AWS Batch submits one job per message;
the job definition's command passes the message's fields (``Ref::account_id`` ...)::

    python -m gpu_jobs.media_index --account-id ACC --file-uuid F --run-id R
    python -m gpu_jobs.media_index '{"account_id": "ACC", "file_uuid": "F", "run_id": "R"}'
    python -m gpu_jobs.media_index --drain-queue "$LIKENESS_MEDIA_BATCH_QUEUE_URL"

The work is the core's ``likeness.media_index_job().handle(message)``, the call the
MediaIndexer Lambda makes for short files: idempotent, it records a file that cannot be indexed
as failed (with the reason) and raises only for transient errors. Exit codes tell Batch what
to do (template.yaml's RetryStrategy):

* 0 - handled (indexed, failed for a reason stored on the file, or a stale run_id ignored);
* 2 - the message itself is unusable (missing fields, not JSON): no retry can fix it;
* 75 (EX_TEMPFAIL) - a transient error: Batch runs the job again, up to its attempts.

``LIKENESS_MEDIA_DEVICE`` (or ``--device``) picks where the models run: ``auto`` (the job
definition's value) takes CUDA when PyTorch sees a GPU and the CPU otherwise, ``cpu`` forces
the CPU (the local stack), ``cuda`` insists on a GPU. The choice is exported, resolved to
``cuda`` or ``cpu``, in ``LIKENESS_MEDIA_DEVICE`` for the indexer to read.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from likeness.observability import logger

EXIT_OK = 0
EXIT_INVALID = 2  # argparse's usage error too
EXIT_RETRY = 75  # EX_TEMPFAIL

DEVICE_ENV = "LIKENESS_MEDIA_DEVICE"
DEVICES = ("auto", "cpu", "cuda")
MESSAGE_FIELDS = ("account_id", "file_uuid", "run_id")
REQUIRED_FIELDS = ("account_id", "file_uuid")


class InvalidMessage(ValueError):
    """Not a media index message."""


class DeviceUnavailable(RuntimeError):
    """``cuda`` was asked for and this host has no usable GPU."""


# --------------------------------------------------------------------------- the message


def parse_message(raw: str | dict[str, Any]) -> dict[str, Any]:
    """``{"account_id", "file_uuid", "run_id"}`` from JSON text (or a dict), checked."""
    if isinstance(raw, str):
        try:
            message = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidMessage(f"not JSON: {exc}") from None
    else:
        message = dict(raw)
    if not isinstance(message, dict):
        raise InvalidMessage("the message must be a JSON object")
    for key in REQUIRED_FIELDS:
        value = message.get(key)
        if not isinstance(value, str) or not value:
            raise InvalidMessage(f"{key} is missing")
    for key, value in message.items():
        # a Batch parameter the submitter never set stays as its literal placeholder
        if isinstance(value, str) and value.startswith("Ref::"):
            raise InvalidMessage(f"{key} was not substituted ({value})")
    return message


def message_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.message is not None:
        return parse_message(args.message)
    fields = {key: getattr(args, key) for key in MESSAGE_FIELDS if getattr(args, key) is not None}
    return parse_message(fields)


# --------------------------------------------------------------------------- the device


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # a CPU-only install (the local stack, the Lambda image)
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver is no GPU
        logger.exception("CUDA probe failed")
        return False


def select_device(requested: str | None = None) -> str:
    """Resolve auto|cpu|cuda to cpu or cuda, export it in LIKENESS_MEDIA_DEVICE, and return it."""
    value = (requested or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if value not in DEVICES:
        raise ValueError(f"{DEVICE_ENV} must be one of {', '.join(DEVICES)}, not {value!r}")
    if value == "auto":
        value = "cuda" if cuda_available() else "cpu"
    elif value == "cuda" and not cuda_available():
        raise DeviceUnavailable("cuda was requested but PyTorch sees no GPU on this host")
    os.environ[DEVICE_ENV] = value
    if value == "cuda":
        import torch

        logger.info(
            "media index on the GPU",
            device=torch.cuda.get_device_name(0),
            torch=torch.__version__,
            cuda=torch.version.cuda,
        )
    else:
        logger.info("media index on the CPU", cpus=os.cpu_count())
    return value


# --------------------------------------------------------------------------- running


def handle(message: dict[str, Any]) -> int:
    """One message through the core; the exit code Batch should see."""
    from likeness.settings import get_settings
    from likeness.wiring import media_index_job

    logger.set_correlation_id(str(message.get("correlation_id") or message["file_uuid"]))
    try:
        media_index_job().handle(message)
    except Exception as exc:
        attempt = int(os.environ.get("AWS_BATCH_JOB_ATTEMPT") or 1)
        if attempt >= get_settings().media_index_max_attempts:
            # Batch will not run it again: the file must not stay "processing"
            logger.exception("media index gave up", file_uuid=message["file_uuid"], attempt=attempt)
            media_index_job().fail(message, f"Indexing failed {attempt} times; last error: {exc}")
            return EXIT_OK
        logger.exception(
            "media index failed; the job will be retried",
            file_uuid=message["file_uuid"],
            run_id=message.get("run_id"),
            attempt=attempt,
        )
        return EXIT_RETRY
    logger.info("media file handled", file_uuid=message["file_uuid"], run_id=message.get("run_id"))
    return EXIT_OK


@contextmanager
def keep_invisible(sqs: Any, queue_url: str, receipt_handle: str, seconds: int) -> Iterator[None]:
    """Extend a message's visibility while it is being worked on (indexing outlasts it)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(max(1.0, seconds / 2)):
            try:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
                )
            except Exception:
                logger.exception("could not extend the message's visibility")

    thread = threading.Thread(target=beat, name="visibility-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def drain_queue(
    queue_url: str, *, wait_seconds: int = 20, max_messages: int | None = None, sqs: Any = None
) -> int:
    """Handle messages from ``queue_url`` until a long poll finds none (or ``max_messages``).

    A handled message is deleted; a failed one is left for redelivery (and, after the queue's
    maxReceiveCount, its dead-letter queue), as the Pipe and Batch would. Exit code: 0 when
    every message was handled, 75 when any failed.
    """
    if sqs is None:
        from likeness.aws.clients import get_client

        sqs = get_client("sqs")
    visibility = int(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
    )
    handled = failed = 0
    while max_messages is None or handled + failed < max_messages:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not messages:
            break
        for received in messages:
            try:
                message = parse_message(received.get("Body", ""))
            except InvalidMessage as exc:
                logger.error("invalid message left for the dead-letter queue", reason=str(exc))
                failed += 1
                continue
            with keep_invisible(sqs, queue_url, received["ReceiptHandle"], visibility):
                code = handle(message)
            if code == EXIT_OK:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=received["ReceiptHandle"])
                handled += 1
            else:
                failed += 1
    logger.info("queue drained", queue_url=queue_url, handled=handled, failed=failed)
    return EXIT_OK if failed == 0 else EXIT_RETRY


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gpu_jobs.media_index",
        description="Index media files for face identities (one message, or a whole queue).",
    )
    parser.add_argument("message", nargs="?", help='the message JSON: {"account_id", "file_uuid", "run_id"}')
    parser.add_argument("--account-id", dest="account_id")
    parser.add_argument("--file-uuid", dest="file_uuid")
    parser.add_argument("--run-id", dest="run_id")
    parser.add_argument(
        "--drain-queue", metavar="URL", help="handle messages from this SQS queue until it is empty"
    )
    parser.add_argument("--wait-seconds", type=int, default=20, help="long-poll wait of --drain-queue")
    parser.add_argument("--max-messages", type=int, default=None, help="stop --drain-queue after this many")
    parser.add_argument(
        "--device", choices=DEVICES, default=None, help=f"overrides {DEVICE_ENV} (default auto)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    has_fields = any(getattr(args, key) is not None for key in MESSAGE_FIELDS)
    modes = sum((args.message is not None, has_fields, args.drain_queue is not None))
    if modes != 1:
        parser.error("give one of: a message JSON, --account-id/--file-uuid/--run-id, or --drain-queue URL")

    message: dict[str, Any] | None = None
    if args.drain_queue is None:
        try:
            message = message_from_args(args)
        except InvalidMessage as exc:
            logger.error("invalid media index message", reason=str(exc))
            return EXIT_INVALID
    try:
        select_device(args.device)
    except DeviceUnavailable as exc:
        logger.error(str(exc))
        return EXIT_RETRY  # another host may have a working GPU
    except ValueError as exc:
        logger.error(str(exc))
        return EXIT_INVALID

    if message is not None:
        return handle(message)
    return drain_queue(args.drain_queue, wait_seconds=args.wait_seconds, max_messages=args.max_messages)
