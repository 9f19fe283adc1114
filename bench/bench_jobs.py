"""Jobs through the local stack's HTTP API: throughput, and job completion -> webhook delivery.

- jobs per minute: N avatar jobs (one reference image each: the portrait path of the classical
  engine) submitted at once; the clock runs from the first submit to the last completion.
- webhook latency: a saved endpoint on a loopback server receives ``job.completed``; the delay
  is the arrival time minus the job's own ``completed`` time (EventBridge rule -> SQS ->
  delivery consumer -> signed POST), p50 and p95.
"""

from __future__ import annotations

import base64
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"


class _Receiver(BaseHTTPRequestHandler):
    arrivals: dict[str, float] = {}

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        payload = json.loads(body)
        if payload.get("type") == "job.completed":
            _Receiver.arrivals[payload["data"]["id"]] = time.time()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(api_url: str, api_key: str, *, jobs: int = 12) -> dict[str, Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reference = "data:image/jpeg;base64," + base64.b64encode((FACES / "obama.jpg").read_bytes()).decode()
    with httpx.Client(base_url=api_url, headers={"X-API-Key": api_key}, timeout=120) as client:
        endpoint = client.post(
            "/webhooks/endpoints",
            json={"url": f"http://127.0.0.1:{server.server_port}/hook", "events": ["job.completed"]},
        )
        endpoint.raise_for_status()
        body = {"prompt": "bench", "reference_images": [reference], "output": {"size": 512}}
        # warm-up: the first job loads the face models in the worker
        warm = client.post("/api/v1/avatars/generate", json=body).json()["job_id"]
        _wait(client, [warm])

        started = time.perf_counter()
        ids = [client.post("/api/v1/avatars/generate", json=body).json()["job_id"] for _ in range(jobs)]
        finished = _wait(client, ids)
        elapsed = time.perf_counter() - started

        deadline = time.monotonic() + 60
        while any(i not in _Receiver.arrivals for i in ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        client.delete(f"/webhooks/endpoints/{endpoint.json()['endpoint_id']}")
    server.shutdown()
    delays = [(_Receiver.arrivals[i] - _finished_at(i)) * 1000 for i in ids if i in _Receiver.arrivals]
    run_seconds = [finished[i]["completed"] - finished[i]["started"] for i in ids if finished[i]["started"]]
    return {
        "jobs": jobs,
        "completed": sum(1 for i in ids if finished[i]["status"] == "completed"),
        "elapsed_s": elapsed,
        "jobs_per_minute": jobs / elapsed * 60,
        "job_run_s_median": statistics.median(run_seconds) if run_seconds else None,
        "webhooks_received": len(delays),
        "webhook_delay_ms_p50": _percentile(delays, 0.5) if delays else None,
        "webhook_delay_ms_p95": _percentile(delays, 0.95) if delays else None,
    }


def _finished_at(job_id: str) -> float:
    """The job's own completion time, to the millisecond (the API shows whole seconds)."""
    from datetime import datetime

    from likeness.jobs.models import job_key
    from likeness.wiring import table

    job = table().get(*job_key(job_id))
    assert job is not None
    return datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()


def _wait(client: httpx.Client, ids: list[str], timeout: float = 600) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(ids) and time.monotonic() < deadline:
        for job_id in ids:
            if job_id not in done:
                job = client.get(f"/api/v1/jobs/{job_id}").json()
                if job["status"] in ("completed", "failed", "cancelled"):
                    done[job_id] = job
        time.sleep(0.1)
    return done


def main(api_url: str, api_key: str) -> None:
    figures = run(api_url, api_key)
    print("\nJobs through the local stack (avatar portrait jobs, classical engine)")
    print(
        f"  {figures['completed']}/{figures['jobs']} completed in {figures['elapsed_s']:.1f} s: "
        f"{figures['jobs_per_minute']:.1f} jobs/minute (median run {figures['job_run_s_median']} s)"
    )
    print(
        f"  job completed -> webhook received: p50 {figures['webhook_delay_ms_p50']:.0f} ms, "
        f"p95 {figures['webhook_delay_ms_p95']:.0f} ms ({figures['webhooks_received']} deliveries)"
    )
