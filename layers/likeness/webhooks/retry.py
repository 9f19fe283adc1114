"""When to try a failed delivery again: the schedule, its jitter and the receiver's Retry-After."""

from __future__ import annotations

import random
from collections.abc import Sequence
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def retry_delay(
    failed_attempts: int,
    *,
    schedule: Sequence[int],
    jitter: float,
    retry_after: float | None = None,
    max_retry_after: float,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after ``failed_attempts`` (>= 1) failures; None when exhausted.

    The n-th retry waits ``schedule[n-1]`` stretched or shrunk by up to ``jitter`` (a fraction),
    so receivers recovering from an outage are not hit by every sender at once. A Retry-After
    longer than that wins, capped at ``max_retry_after``; it never makes the wait shorter.
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    if failed_attempts > len(schedule):
        return None
    base = float(schedule[failed_attempts - 1])
    spread = (rng or random).uniform(-jitter, jitter) if jitter else 0.0
    delay = max(0.0, base * (1.0 + spread))
    if retry_after is not None:
        delay = max(delay, min(retry_after, float(max_retry_after)))
    return delay
