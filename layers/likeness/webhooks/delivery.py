"""The dispatcher: bus events in (from WebhookQueue), signed POSTs out, retries scheduled on SQS.

For each event it logs the envelope, finds the targets (enabled saved endpoints subscribed to
the type, and the job's request-level webhook), makes one delivery per target and attempts
each. A delivery's id is derived from the event and the target, and every attempt first
claims the delivery with a conditional write naming the cycle and the attempts already made,
so a queue message handled twice (SQS delivers at least once) cannot send twice.

Retries are messages on the same queue::

    {"kind": "webhook.retry", "delivery_id": ..., "cycle": 1, "attempt": 2, "not_before": <epoch>}

``attempt`` is how many attempts of that cycle were made when it was scheduled; the claim
fails for a stale or duplicate message. SQS delays stop at 15 minutes, so a message that
arrives before ``not_before`` is sent again with the remaining delay.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any

from likeness import __version__
from likeness.aws.dynamodb import ConditionFailed, Item
from likeness.aws.kms import SecretsUnavailable, SecretUnreadable
from likeness.aws.sqs import JobQueue
from likeness.clock import isoformat, now_iso
from likeness.jobs.models import job_key
from likeness.net.urlguard import (
    OutboundRequestFailed,
    PostResult,
    UnsafeUrl,
    UrlResolutionFailed,
    post_json,
)
from likeness.observability import logger
from likeness.settings import Settings
from likeness.webhooks.models import DeliveryStatus, TargetKind, event_matches
from likeness.webhooks.retry import parse_retry_after, retry_delay
from likeness.webhooks.secrets import REQUEST
from likeness.webhooks.signing import signature_headers
from likeness.webhooks.store import (
    MAX_ATTEMPTS_KEPT,
    WebhookStore,
    delivery_ids,
    delivery_index_pk,
    delivery_key,
    dumps,
)

RETRY_KIND = "webhook.retry"
FAILED_KIND = "webhook.delivery_failed"
MAX_SQS_DELAY = 900
MIN_ATTEMPT_SECONDS = 3.0
USER_AGENT = f"Likeness-Webhooks/{__version__}"

PostFn = Callable[..., PostResult]


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    SKIPPED = "skipped"  # another message already made (or is making) this attempt
    DEFERRED = "deferred"  # too little time left in this invocation: re-queued at once
    POSTPONED = "postponed"  # an early retry message, sent again with the remaining delay


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    key: str  # what makes the delivery id unique for one event
    url: str
    endpoint_id: str | None = None
    job_id: str | None = None


def build_payload(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """What subscribers receive: ``{"type", "timestamp", "data"}``."""
    detail = dict(envelope.get("detail") or {})
    data = detail["data"] if "data" in detail else {k: v for k, v in detail.items() if k != "account_id"}
    return {
        "type": envelope["detail-type"],
        "timestamp": detail.get("occurred_at") or envelope.get("time"),
        "data": data,
    }


def delivery_ttl_seconds(settings: Settings) -> int:
    """A delivery outlives its retries, then stays readable as long as the event log."""
    # each wait is at most its jittered delay or a capped Retry-After, whichever is longer
    retries = sum(
        max(delay * (1 + settings.webhook_retry_jitter), settings.webhook_max_retry_after_seconds)
        for delay in settings.webhook_retry_schedule
    )
    return settings.event_log_ttl_seconds + int(retries)


def _iso(epoch: float) -> str:
    return isoformat(datetime.fromtimestamp(epoch, UTC))


class _Final(Exception):
    """The delivery cannot succeed (endpoint gone or disabled, hostile URL): fail it, no retry."""


class WebhookDispatcher:
    def __init__(
        self,
        *,
        store: WebhookStore,
        queue: JobQueue,
        dead_letters: JobQueue,
        settings: Settings,
        post: PostFn = post_json,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_workers: int = 8,
    ) -> None:
        self.store = store
        self.queue = queue
        self.dead_letters = dead_letters
        self.settings = settings
        self._post = post
        self._clock = clock
        self._rng = rng or random.Random()
        self._max_workers = max_workers
        # a crashed attempt's claim lapses well before SQS shows its message again (180 s)
        self._claim_seconds = settings.webhook_timeout_seconds * 3 + 30

    # ------------------------------------------------------------------ messages

    def handle(self, message: Mapping[str, Any], *, deadline: float | None = None) -> list[AttemptOutcome]:
        """One WebhookQueue message: a bus event envelope or a scheduled retry.

        ``deadline`` (time.monotonic()) is when this invocation must be done; attempts that
        would not fit are re-queued instead of started.
        """
        if message.get("kind") == RETRY_KIND:
            return [self.handle_retry(message, deadline=deadline)]
        if "detail-type" in message:
            return self.handle_event(message, deadline=deadline)
        logger.warning("dropping an unknown webhook queue message", keys=sorted(message)[:10])
        return []

    def handle_event(
        self, envelope: Mapping[str, Any], *, deadline: float | None = None
    ) -> list[AttemptOutcome]:
        detail = envelope.get("detail")
        if (
            not isinstance(detail, dict)
            or not isinstance(detail.get("account_id"), str)
            or not envelope.get("id")
            or not envelope.get("detail-type")
        ):
            logger.warning("dropping a malformed event", event_id=envelope.get("id"))
            return []
        account_id: str = detail["account_id"]
        event_type = str(envelope["detail-type"])
        event_id = str(envelope["id"])
        now = self._clock()
        self.store.log_event(
            account_id=account_id,
            envelope=dict(envelope),
            expires_at=int(now) + self.settings.event_log_ttl_seconds,
        )
        targets = self.targets(account_id=account_id, event_type=event_type, detail=detail)
        if not targets:
            return []
        body = dumps(build_payload(envelope))
        created = now_iso()
        expires_at = int(now) + delivery_ttl_seconds(self.settings)
        delivery_list: list[str] = []
        for target in targets:
            delivery_id, message_id = delivery_ids(event_id, target.key)
            self.store.create_delivery(
                {
                    "PK": delivery_key(delivery_id)[0],
                    "SK": delivery_key(delivery_id)[1],
                    "GSI1PK": delivery_index_pk(account_id=account_id, endpoint_id=target.endpoint_id),
                    "GSI1SK": f"{created}#{delivery_id}",
                    "type": "webhook_delivery",
                    "delivery_id": delivery_id,
                    "message_id": message_id,
                    "account_id": account_id,
                    "event_id": event_id,
                    "event_type": event_type,
                    "target": target.kind.value,
                    "endpoint_id": target.endpoint_id,
                    "job_id": target.job_id,
                    "url": target.url,
                    "body": body,
                    "status": DeliveryStatus.PENDING.value,
                    "cycle": 1,
                    "cycle_attempts": 0,
                    "attempt_count": 0,
                    "attempts": [],
                    "next_attempt_at": created,
                    "created_at": created,
                    "updated_at": created,
                    "expires_at": expires_at,
                }
            )
            # an existing delivery (this message was handled before) is left to the claim:
            # it proceeds only when that first attempt was never made
            delivery_list.append(delivery_id)
        logger.info("event dispatched", event_id=event_id, event_type=event_type, targets=len(targets))
        return self._run_all(
            [partial(self.attempt, d, cycle=1, after_attempts=0, deadline=deadline) for d in delivery_list]
        )

    def handle_retry(self, message: Mapping[str, Any], *, deadline: float | None = None) -> AttemptOutcome:
        delivery_id = str(message["delivery_id"])
        cycle = int(message.get("cycle", 1))
        after = int(message.get("attempt", 0))
        not_before = float(message.get("not_before", 0))
        remaining = not_before - self._clock()
        if remaining > 1.0:
            self._schedule(delivery_id, cycle=cycle, after_attempts=after, not_before=not_before)
            return AttemptOutcome.POSTPONED
        return self.attempt(delivery_id, cycle=cycle, after_attempts=after, deadline=deadline)

    # ------------------------------------------------------------------ targets

    def targets(self, *, account_id: str, event_type: str, detail: Mapping[str, Any]) -> list[Target]:
        targets = [
            Target(
                kind=TargetKind.ENDPOINT,
                key=f"endpoint:{e['endpoint_id']}",
                url=e["url"],
                endpoint_id=e["endpoint_id"],
            )
            for e in self.store.endpoints(account_id)
            if e.get("enabled", True) and event_matches(event_type, e.get("events"))
        ]
        job_id = detail.get("job_id")
        if isinstance(job_id, str) and job_id:
            job = self.store.table.get(*job_key(job_id))
            webhook = (job or {}).get("webhook")
            if (
                job is not None
                and job.get("account_id") == account_id
                and isinstance(webhook, dict)
                and webhook.get("url")
                and event_matches(event_type, webhook.get("events"))
            ):
                targets.append(
                    Target(
                        kind=TargetKind.REQUEST, key=f"request:{job_id}", url=webhook["url"], job_id=job_id
                    )
                )
        return targets

    def _resolve(self, item: Item) -> tuple[str, str]:
        """The URL and secret to use now: the endpoint's current ones (a rotated secret signs
        at once), or the job's request-level webhook."""
        account_id = item["account_id"]
        if item["target"] == TargetKind.ENDPOINT.value:
            endpoint = self.store.endpoint(account_id, item["endpoint_id"])
            if endpoint is None:
                raise _Final("the endpoint was deleted")
            if not endpoint.get("enabled", True):
                raise _Final(
                    f"the endpoint is disabled ({endpoint.get('disabled_reason') or 'by its owner'})"
                )
            secret = self.store.endpoint_secret(endpoint)
            if not secret:
                raise _Final("the endpoint has no signing secret")
            return str(endpoint["url"]), secret
        job = self.store.table.get(*job_key(item["job_id"]))
        webhook = (job or {}).get("webhook")
        if job is None or not isinstance(webhook, dict) or not webhook.get("url"):
            raise _Final("the job (and its webhook) no longer exists")
        # the client's own webhook_secret, else the account's (made when the job was accepted:
        # this function writes no account record)
        secret = self.store.secrets.open(webhook, REQUEST, account_id=account_id)
        secret = secret or self.store.existing_signing_secret(account_id)
        if not secret:
            raise _Final("the account has no webhook signing secret")
        return str(webhook["url"]), secret

    # ------------------------------------------------------------------ one attempt

    def attempt(
        self, delivery_id: str, *, cycle: int, after_attempts: int, deadline: float | None = None
    ) -> AttemptOutcome:
        timeout = self.settings.webhook_timeout_seconds
        if deadline is not None:
            # an attempt can spend the timeout connecting and again waiting for the answer;
            # shorten it to what is left, and hand it to a fresh invocation when too little is
            fits = (deadline - time.monotonic() - 1) / 2
            if fits < min(timeout, MIN_ATTEMPT_SECONDS):
                self._schedule(
                    delivery_id, cycle=cycle, after_attempts=after_attempts, not_before=self._clock()
                )
                return AttemptOutcome.DEFERRED
            timeout = min(timeout, fits)
        token = secrets.token_hex(8)
        now = self._clock()
        try:
            item = self.store.table.update(
                *delivery_key(delivery_id),
                update="SET claim_token = :token, claimed_until = :until",
                condition="#status = :pending AND #cycle = :cycle AND cycle_attempts = :n "
                "AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
                names={"#status": "status", "#cycle": "cycle"},
                values={
                    ":token": token,
                    ":until": now + self._claim_seconds,
                    ":pending": DeliveryStatus.PENDING.value,
                    ":cycle": cycle,
                    ":n": after_attempts,
                    ":now": now,
                },
            )
        except ConditionFailed:
            logger.info("delivery attempt already made or in flight", delivery_id=delivery_id, cycle=cycle)
            return AttemptOutcome.SKIPPED

        started = time.monotonic()
        url: str | None = item.get("url")
        status_code: int | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        final = False
        try:
            url, secret = self._resolve(item)
            headers = signature_headers(
                secret, message_id=item["message_id"], timestamp=int(self._clock()), body=item["body"]
            )
            headers["user-agent"] = USER_AGENT
            result = self._post(
                url,
                body=item["body"].encode("utf-8"),
                headers=headers,
                allow_private=self.settings.allow_private_urls,
                timeout=timeout,
            )
            status_code = result.status_code
            excerpt = result.body_excerpt[:256] or None
            if result.ok:
                error = None
            elif status_code == 410:
                final = True
                error = "the endpoint answered 410 Gone"
            else:
                error = f"HTTP {status_code}"
                retry_after = parse_retry_after(result.headers.get("retry-after"), now=self._clock())
        except _Final as exc:
            final, error = True, str(exc)
        except UnsafeUrl as exc:
            final, error = True, exc.message
        except (UrlResolutionFailed, OutboundRequestFailed) as exc:
            error = exc.message
        except SecretUnreadable as exc:  # the stored secret does not decrypt: no retry helps
            final, error = True, exc.message
        except SecretsUnavailable as exc:  # KMS throttled or out of reach: a later attempt may sign
            error = exc.message
        duration_ms = int((time.monotonic() - started) * 1000)

        if error is None:
            outcome, next_at = AttemptOutcome.SUCCEEDED, None
        elif final:
            outcome, next_at = AttemptOutcome.FAILED, None
            if status_code == 410 and item.get("endpoint_id"):
                self.store.disable_endpoint(
                    item["account_id"], item["endpoint_id"], reason="the endpoint answered 410 Gone"
                )
                logger.warning("endpoint disabled after 410 Gone", endpoint_id=item["endpoint_id"])
        else:
            failed_in_cycle = int(item["cycle_attempts"]) + 1
            delay = retry_delay(
                failed_in_cycle,
                schedule=self.settings.webhook_retry_schedule,
                jitter=self.settings.webhook_retry_jitter,
                retry_after=retry_after,
                max_retry_after=self.settings.webhook_max_retry_after_seconds,
                rng=self._rng,
            )
            if delay is None:
                outcome, next_at = AttemptOutcome.FAILED, None
                error = f"{error}; gave up after {failed_in_cycle} attempts"
                # only an exhausted schedule needs an operator: 410 and refused URLs are answers
                self._dead_letter(item, error=error, status_code=status_code)
            else:
                outcome, next_at = AttemptOutcome.RETRY_SCHEDULED, self._clock() + delay
                # queued before the record: a crash in between repeats this attempt, never loses the retry
                self._schedule(delivery_id, cycle=cycle, after_attempts=failed_in_cycle, not_before=next_at)

        self._record(
            item,
            token=token,
            outcome=outcome,
            url=url,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            next_at=next_at,
            excerpt=excerpt,
        )
        logger.info(
            "webhook attempt",
            delivery_id=delivery_id,
            event_type=item["event_type"],
            status_code=status_code,
            outcome=outcome.value,
            duration_ms=duration_ms,
        )
        return outcome

    def _record(
        self,
        item: Item,
        *,
        token: str,
        outcome: AttemptOutcome,
        url: str | None,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        next_at: float | None,
        excerpt: str | None,
    ) -> None:
        now = now_iso()
        count = int(item.get("attempt_count", 0)) + 1
        attempt = {
            "attempt": count,
            "cycle": int(item["cycle"]),
            "attempted_at": now,
            "url": url,
            "status_code": status_code,
            "error": error,
            "duration_ms": duration_ms,
            "outcome": outcome.value,
            "next_attempt_at": _iso(next_at) if next_at is not None else None,
            "response_excerpt": excerpt,
        }
        attempts = [*(item.get("attempts") or []), attempt][-MAX_ATTEMPTS_KEPT:]
        status = {
            AttemptOutcome.SUCCEEDED: DeliveryStatus.SUCCEEDED,
            AttemptOutcome.FAILED: DeliveryStatus.FAILED,
        }.get(outcome, DeliveryStatus.PENDING)
        sets = [
            "attempts = :attempts",
            "attempt_count = :count",
            "cycle_attempts = cycle_attempts + :one",
            "#status = :status",
            "updated_at = :now",
        ]
        removes = ["claim_token", "claimed_until"]
        values: dict[str, Any] = {
            ":attempts": attempts,
            ":count": count,
            ":one": 1,
            ":status": status.value,
            ":now": now,
            ":token": token,
        }
        for name, value in (
            ("last_status_code", status_code),
            ("last_error", error),
            ("next_attempt_at", _iso(next_at) if next_at is not None else None),
        ):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        if status is not DeliveryStatus.PENDING:
            sets.append("finished_at = :now")
        try:
            self.store.table.update(
                *delivery_key(item["delivery_id"]),
                update=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                condition="claim_token = :token",
                names={"#status": "status"},
                values=values,
            )
        except ConditionFailed:
            # the claim lapsed mid-attempt (far slower than the timeout allows): another took over
            logger.warning("delivery claim lost before recording", delivery_id=item["delivery_id"])

    # ------------------------------------------------------------------ queues

    def _schedule(self, delivery_id: str, *, cycle: int, after_attempts: int, not_before: float) -> None:
        delay = min(MAX_SQS_DELAY, max(0, math.ceil(not_before - self._clock())))
        self.queue.send(
            {
                "kind": RETRY_KIND,
                "delivery_id": delivery_id,
                "cycle": cycle,
                "attempt": after_attempts,
                "not_before": round(not_before, 3),
            },
            delay_seconds=delay,
        )

    def _dead_letter(self, item: Item, *, error: str | None, status_code: int | None) -> None:
        # what an operator needs to follow up; no URL (it may carry tokens), no secret, no body
        self.dead_letters.send(
            {
                "kind": FAILED_KIND,
                "delivery_id": item["delivery_id"],
                "message_id": item["message_id"],
                "account_id": item["account_id"],
                "event_id": item["event_id"],
                "event_type": item["event_type"],
                "target": item["target"],
                "endpoint_id": item.get("endpoint_id"),
                "job_id": item.get("job_id"),
                "cycle": item["cycle"],
                "attempts": int(item.get("cycle_attempts", 0)) + 1,
                "last_status_code": status_code,
                "last_error": error,
                "failed_at": now_iso(),
            }
        )

    # ------------------------------------------------------------------ helpers

    def _run_all(self, calls: list[Callable[[], AttemptOutcome]]) -> list[AttemptOutcome]:
        """Attempt the targets of one event side by side: one slow receiver must not hold up the rest."""
        if len(calls) <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=min(self._max_workers, len(calls))) as pool:
            futures = [pool.submit(call) for call in calls]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return [f.result() for f in futures]


def parse_message(body: str) -> dict[str, Any]:
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("a webhook queue message is a JSON object")
    return message
