"""Hosted models through the local stack, each provider a local fake that answers at once: the
time Likeness itself adds to a job.

- accept -> provider call: from the POST /generation answer to the fake receiving the call
  (queue, worker, reading inputs, building the request);
- provider answer -> Done: from the fake's answer to the job's own finish time (decoding,
  identity verdict, storing, the completion transaction);
- provider answer -> webhook: to the signed ``generation.completed`` arriving at a receiver.

Try-ons on ``nano-banana-2`` (an avatar and a garment, 1K, identity_check enforce: every
output is judged) and upscales on ``seedvr2`` through the fal queue (submitted, polled, parked
when not done: the fake answers at once, so the first status poll finds it done).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.bench_jobs import FACES, _percentile

GARMENTS = FACES.parent / "garments"
KEYS = {"gemini": "bench-gemini-key-not-real", "fal": "bench-fal-key-not-real"}


class _Files(BaseHTTPRequestHandler):
    """The avatar photo, served as a customer's CDN would."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        data = (FACES / "obama.jpg").read_bytes()
        self.send_response(200)
        self.send_header("content-type", "image/jpeg")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Receiver(BaseHTTPRequestHandler):
    arrivals: dict[str, float] = {}

    def do_POST(self) -> None:  # noqa: N802
        payload = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if payload.get("type") == "generation.completed":
            _Receiver.arrivals[payload["data"]["external_id"]] = time.time()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def start_fakes() -> tuple[Any, Any, Callable[[], None]]:
    """Fake Gemini and fal, and the settings that point the stack at them (set before it starts)."""
    from tests.fakes import FakeFal, FakeGemini

    person = (FACES / "obama.jpg").read_bytes()
    gemini = FakeGemini(api_key=KEYS["gemini"], default_image=person).start()
    fal = FakeFal(api_key=KEYS["fal"], default_image=person).start()
    variables = {
        "LIKENESS_GEMINI_API_KEY": KEYS["gemini"],
        "LIKENESS_GEMINI_BASE_URL": gemini.url,
        "LIKENESS_FAL_KEY": KEYS["fal"],
        "LIKENESS_FAL_QUEUE_URL": fal.url,
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)

    def stop() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        gemini.close()
        fal.close()

    return gemini, fal, stop


def _finished_at(job_id: str) -> float:
    from bench.bench_jobs import _finished_at as finished

    return finished(job_id)


def _wait(client: httpx.Client, generation_ids: list[int], timeout: float = 600) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(generation_ids) and time.monotonic() < deadline:
        for gid in generation_ids:
            if gid not in done:
                body = client.get(f"/generation/{gid}").json()
                if body["status"] in ("Done", "Error"):
                    done[gid] = body
        time.sleep(0.05)
    return done


def _measure(client: httpx.Client, fake: Any, body: dict[str, Any], jobs: int) -> dict[str, list[float]]:
    """Jobs one after another (so the times are the stack's, not a queue's), and their timings."""
    accept_to_call: list[float] = []
    answer_to_done: list[float] = []
    answer_to_webhook: list[float] = []
    for _ in range(jobs):
        fake.reset()
        resp = client.post("/generation", json=body)
        accepted = time.time()
        resp.raise_for_status()
        created = resp.json()
        [finished] = _wait(client, [created["generation_id"]]).values()
        assert finished["status"] == "Done", finished.get("error_message")
        calls = fake.generation_calls
        answers = [c for c in fake.calls if c.status == 200]
        accept_to_call.append((calls[0].received_at - accepted) * 1000)
        answered = max(c.answered_at for c in answers)
        job_id = created["external_id"]
        answer_to_done.append((_finished_at(job_id) - answered) * 1000)
        deadline = time.monotonic() + 30
        while job_id not in _Receiver.arrivals and time.monotonic() < deadline:
            time.sleep(0.01)
        if job_id in _Receiver.arrivals:
            answer_to_webhook.append((_Receiver.arrivals[job_id] - answered) * 1000)
    return {
        "accept_to_call": accept_to_call,
        "answer_to_done": answer_to_done,
        "answer_to_webhook": answer_to_webhook,
    }


def run(api_url: str, api_key: str, gemini: Any, fal: Any, *, jobs: int = 20) -> dict[str, Any]:
    files = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    for server in (files, receiver):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    figures: dict[str, Any] = {"jobs": jobs}
    with httpx.Client(base_url=api_url, headers={"X-API-Key": api_key}, timeout=120) as client:
        endpoint = client.post(
            "/webhooks/endpoints",
            json={"url": f"http://127.0.0.1:{receiver.server_port}/hook", "events": ["generation.completed"]},
        )
        endpoint.raise_for_status()
        garment = (GARMENTS / "tshirt_front.png").read_bytes()
        item = client.post(
            "/clothing-item", data={"clothing_item_name": "tee"}, files={"file": ("tee.png", garment)}
        ).json()["clothing_item_id"]
        avatar = client.post(
            "/avatar",
            json={"avatar_name": "bench", "avatar_url": f"http://127.0.0.1:{files.server_port}/obama.jpg"},
        ).json()["avatar_id"]
        try_on = {
            "clothing_item_id": item,
            "avatar_id": avatar,
            "model_slug": "nano-banana-2",
            "prompt": "studio",
            "num_images": 1,
            "resolution": "1K",
        }
        upscale = {
            "use_case": "upscale",
            "image_url": f"http://127.0.0.1:{files.server_port}/obama.jpg",
            "model_slug": "seedvr2",
            "num_images": 1,
        }
        _measure(client, gemini, try_on, 2)  # warm-up: the worker loads the face models
        figures["try_on"] = _measure(client, gemini, try_on, jobs)
        figures["upscale"] = _measure(client, fal, upscale, jobs)
        client.delete(f"/webhooks/endpoints/{endpoint.json()['endpoint_id']}")
    for server in (files, receiver):
        server.shutdown()
    return figures


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"    {name}: no samples"
    return f"    {name}: p50 {_percentile(values, 0.5):.0f} ms, p95 {_percentile(values, 0.95):.0f} ms"


def main(api_url: str, api_key: str, gemini: Any, fal: Any) -> None:
    figures = run(api_url, api_key, gemini, fal)
    print(f"\nHosted models, fakes answering at once: what Likeness adds ({figures['jobs']} jobs each)")
    for name, label in (
        ("try_on", "try-on on nano-banana-2 (judged)"),
        ("upscale", "upscale on seedvr2 (fal queue)"),
    ):
        timings = figures[name]
        print(f"  {label}")
        print(_line("accept -> provider call", timings["accept_to_call"]))
        print(_line("provider answer -> Done", timings["answer_to_done"]))
        print(_line("provider answer -> webhook received", timings["answer_to_webhook"]))
