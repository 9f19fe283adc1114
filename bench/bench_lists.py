"""Lists as an account grows, and the emulator's memory under traffic.

- p50 / p95 of list calls with 100, 10,000 and 100,000 jobs in one account (seeded with batch
  writes, counters included, as the API's own transactions leave them): the wardrobe's
  ``GET /generations`` (first page, a status filter, sorted by last change, a deep page) and
  the Jobs API's ``GET /api/v1/jobs``. Goal: p50 at 100,000 within 2x of p50 at 100.
- the emulator's resident memory before and after 5,000 mixed requests (lists and secret
  rotations, which write). Goal: under 200 MB of growth.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import httpx

# LIKENESS_BENCH_LIST_SIZES=100,1000 for a quick look
SIZES = tuple(int(n) for n in os.environ.get("LIKENESS_BENCH_LIST_SIZES", "100,10000,100000").split(","))
CALLS = 30
MIXED_REQUESTS = 5_000


def _seed_jobs(account_id: str, count: int) -> None:
    """``count`` finished wardrobe generations and ``count`` Jobs API jobs, with their counters."""
    from likeness.counters import counts_key
    from likeness.jobs.models import job_counters, new_job_item
    from likeness.wardrobe.generation_list import generation_list_filters
    from likeness.wardrobe.store import GENERATION_INDEX_PREFIX, GENERATION_JOB_TYPE
    from likeness.wiring import table

    db = table()
    counts: Counter[str] = Counter()
    batch: list[dict[str, Any]] = []
    start = time.time() - count
    for n in range(count):
        for prefix, job_type in (
            (GENERATION_INDEX_PREFIX, GENERATION_JOB_TYPE),
            ("JOB", "avatar_generation"),
        ):
            job_id = str(uuid.uuid4())
            job = new_job_item(
                job_id=job_id,
                job_type=job_type,
                account_id=account_id,
                engine="classical",
                index_prefix=prefix,
                list_filters=generation_list_filters(model_slug="classical", batch_id=n % 10)
                if prefix == GENERATION_INDEX_PREFIX
                else (),
                inputs={
                    "generation_id": n, "result_ids": [], "use_case": "generate", "model_slug": "classical",
                    "clothing_item_ids": [1], "avatar_id": None, "batch_id": n % 10, "num_images": 1,
                    "prompt": "seeded", "payload": {"prompt": "seeded"}, "camera": "photo",
                    "aspect_ratio": "auto", "resolution": "1K",
                },  # fmt: skip
            )
            # spread over time, so the indexes have an order to keep
            created = isoformat_at(start + n)
            state = "succeeded" if n % 4 else "failed"
            job.update(
                created_at=created,
                finished_at=created,
                state=state,
                GSI1SK=f"{prefix}#{created}#{job_id}",
                GSI3SK=f"{created}#{job_id}",
            )
            job.pop("GSI2PK", None)
            job.pop("GSI2SK", None)
            for name in job_counters(job):
                counts[name] += 1
                counts[f"{name}@{state}"] += 1
            batch.append(job)
        if len(batch) >= 500:
            db.batch_write(puts=batch)
            batch = []
    db.batch_write(puts=batch)
    db.put({**counts_key(account_id), **counts})


def isoformat_at(epoch: float) -> str:
    from datetime import UTC, datetime

    from likeness.clock import isoformat

    return isoformat(datetime.fromtimestamp(epoch, UTC))


def _timed(client: httpx.Client, url: str, params: dict[str, Any]) -> tuple[float, float]:
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        client.get(url, params=params).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def _rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(api_url: str, emulator_pid: int | None) -> dict[str, Any]:
    from likeness.wiring import account_service

    accounts = account_service()
    lists: dict[int, dict[str, tuple[float, float]]] = {}
    seed_seconds: dict[int, float] = {}
    keys: list[str] = []
    for size in SIZES:
        account = accounts.create_account(name=f"bench-lists-{size}", plan="pro", credits=10)
        key = accounts.issue_key(
            account_id=account.account_id, scopes=("identities:read", "identities:write")
        ).api_key
        keys.append(key)
        started = time.perf_counter()
        _seed_jobs(account.account_id, size)
        seed_seconds[size] = time.perf_counter() - started
        with httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=120) as client:
            total = client.get("/generations").json()["total_count"]
            assert total == size, f"seeded {size}, the list says {total}"
            lists[size] = {
                "GET /generations": _timed(client, "/generations", {}),
                "GET /generations?status=Error": _timed(client, "/generations", {"status": "Error"}),
                "GET /generations?sort=updated_at:desc": _timed(
                    client, "/generations", {"sort": "updated_at:desc"}
                ),
                "GET /generations?page=5": _timed(client, "/generations", {"page": 5}),
                "GET /api/v1/jobs": _timed(client, "/api/v1/jobs", {}),
            }

    # memory: mixed traffic on the largest account
    before = _rss_mb(emulator_pid)
    mixed_started = time.perf_counter()
    with httpx.Client(base_url=api_url, headers={"X-API-Key": keys[-1]}, timeout=120) as client:
        for n in range(MIXED_REQUESTS // 5):
            client.get("/generations", params={"page": 1 + n % 3}).raise_for_status()
            client.get("/api/v1/jobs", params={"offset": n % 40}).raise_for_status()
            client.get("/identity").raise_for_status()
            client.post("/webhooks/signing-secret/rotate").raise_for_status()
    after = _rss_mb(emulator_pid)
    return {
        "lists": lists,
        "seed_seconds": seed_seconds,
        "memory": (before, after, time.perf_counter() - mixed_started),
    }


def main(api_url: str, emulator_pid: int | None) -> None:
    figures = run(api_url, emulator_pid)
    print("\nLists as one account grows (local stack; p50 / p95 of 30 calls, ms)")
    header = "".join(f"{size:>18,}" for size in SIZES)
    print(f"  {'jobs in the account':<40}{header}")
    for name in figures["lists"][SIZES[0]]:
        row = "".join(
            f"{figures['lists'][size][name][0]:>10.1f} /{figures['lists'][size][name][1]:>6.1f}"
            for size in SIZES
        )
        print(f"  {name:<40}{row}")
    worst = max(
        figures["lists"][SIZES[-1]][name][0] / figures["lists"][SIZES[0]][name][0]
        for name in figures["lists"][SIZES[0]]
    )
    print(f"  worst p50 at {SIZES[-1]:,} / p50 at {SIZES[0]}: {worst:.2f}x (goal: within 2x)")
    seeded = ", ".join(f"{size:,}: {seconds:.0f} s" for size, seconds in figures["seed_seconds"].items())
    print(f"  seeding (batch writes, two lists each): {seeded}")
    before, after, seconds = figures["memory"]
    if before is None or after is None:
        print("  emulator memory: not measurable here (no /proc)")
    else:
        print(
            f"  emulator memory: {before:.0f} MB before, {after:.0f} MB after {MIXED_REQUESTS:,} mixed "
            f"requests in {seconds:.0f} s: {after - before:+.0f} MB (goal: under +200 MB)"
        )
