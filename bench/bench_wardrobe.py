"""The wardrobe surface through the local stack's HTTP API.

- time per use case on the classical engine: from POST /generation to status Done, for a
  try-on with an avatar, an edit, a 2x upscale and a 3 s video (median of a few runs);
- list calls with 1,000 generations in the table: GET /generations (first page, a status
  filter, a batch filter) and GET /generation-results, median of 5 calls each.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"
GARMENTS = ROOT / "tests" / "fixtures" / "garments"
SEEDED = 1000


def _serve_faces() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            data = (FACES / self.path.rsplit("/", 1)[-1]).read_bytes()
            self.send_response(200)
            self.send_header("content-type", "image/jpeg")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _until_done(client: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    generation_id = client.post("/generation", json=body).raise_for_status().json()["generation_id"]
    while True:
        generation = client.get(f"/generation/{generation_id}").json()
        if generation["status"] in ("Done", "Error"):
            return time.perf_counter() - started, generation
        time.sleep(0.05)


def _seed_generations(account_id: str, count: int) -> None:
    """Finished generations written straight into the table, as a busy account would have them."""
    from likeness.clock import now_iso
    from likeness.jobs.models import new_job_item
    from likeness.wardrobe.store import GENERATION_INDEX_PREFIX, GENERATION_JOB_TYPE, generation_key
    from likeness.wiring import id_allocator, table

    db = table()
    first = id_allocator().allocate("generation", count)
    for offset in range(count):
        generation_id = first + offset
        job_id = str(uuid.uuid4())
        job = new_job_item(
            job_id=job_id,
            job_type=GENERATION_JOB_TYPE,
            account_id=account_id,
            engine="classical",
            index_prefix=GENERATION_INDEX_PREFIX,
            inputs={
                "generation_id": generation_id, "result_ids": [], "use_case": "generate",
                "model_slug": "classical", "clothing_item_ids": [1], "avatar_id": None, "batch_id": 7,
                "num_images": 1, "prompt": "seeded", "payload": {"prompt": "seeded"},
                "camera": "photo", "aspect_ratio": "auto", "resolution": "1K",
            },
        )  # fmt: skip
        job.update(state="succeeded" if offset % 4 else "failed", finished_at=now_iso())
        job.pop("GSI2PK", None)
        job.pop("GSI2SK", None)
        db.put(job)
        pk, sk = generation_key(generation_id)
        db.put(
            {
                "PK": pk, "SK": sk, "GSI1PK": f"ACCOUNT#{account_id}",
                "GSI1SK": f"WGEN#{job['created_at']}#{generation_id:012d}", "type": "wardrobe_generation",
                "generation_id": generation_id, "job_id": job_id, "account_id": account_id,
                "clothing_item_ids": [1], "avatar_id": None, "batch_id": 7, "model_slug": "classical",
                "created_at": job["created_at"],
            }
        )  # fmt: skip


def run(api_url: str, *, repeats: int = 3) -> dict[str, Any]:
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name="bench-wardrobe", plan="pro", credits=10_000)
    key = accounts.issue_key(
        account_id=account.account_id, scopes=("identities:read", "identities:write")
    ).api_key
    server = _serve_faces()
    figures: dict[str, Any] = {}
    with httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=120) as client:
        files = {
            "file": ("tshirt_front.png", (GARMENTS / "tshirt_front.png").read_bytes()),
            "back_file": ("tshirt_back.png", (GARMENTS / "tshirt_back.png").read_bytes()),
        }
        started = time.perf_counter()
        item = client.post(
            "/clothing-item", data={"clothing_item_name": "tee"}, files=files
        ).raise_for_status()
        figures["clothing_item_with_enhancement_ms"] = (time.perf_counter() - started) * 1000
        item_id = item.json()["clothing_item_id"]
        avatar = client.post(
            "/avatar",
            json={"avatar_name": "bench", "avatar_url": f"http://127.0.0.1:{server.server_port}/obama.jpg"},
        ).raise_for_status()
        avatar_id = avatar.json()["avatar_id"]
        generate = {
            "clothing_item_id": item_id,
            "avatar_id": avatar_id,
            "prompt": "studio",
            "resolution": "1K",
        }
        _, warm = _until_done(client, generate)  # loads the models in the worker
        source = {"generation_result_parent_id": warm["generation_results"][0]["generation_result_id"]}
        cases = {
            "generate (try-on + face transfer, 1K)": generate,
            "edit (black and white)": {**source, "use_case": "edit", "prompt": "black and white"},
            "upscale 2x": {**source, "use_case": "upscale", "upscale_factor": 2},
            "video 3 s 720p": {**source, "use_case": "video", "duration": 3, "resolution": "720p"},
        }
        per_case = {}
        for name, body in cases.items():
            samples = []
            for _ in range(repeats):
                seconds, generation = _until_done(client, body)
                assert generation["status"] == "Done", generation
                samples.append(seconds * 1000)
            per_case[name] = statistics.median(samples)
        figures["use_case_ms"] = per_case

        _seed_generations(account.account_id, SEEDED)
        calls = {
            "GET /generations (page 1 of 20)": {"url": "/generations", "params": {}},
            "GET /generations?status=Error": {"url": "/generations", "params": {"status": "Error"}},
            "GET /generations?batch_id=7&sort=updated_at:desc": {
                "url": "/generations", "params": {"batch_id": 7, "sort": "updated_at:desc"},
            },
            "GET /generation-results": {"url": "/generation-results", "params": {}},
        }  # fmt: skip
        listing = {}
        for name, call in calls.items():
            samples = []
            for _ in range(5):
                t0 = time.perf_counter()
                client.get(call["url"], params=call["params"]).raise_for_status()
                samples.append((time.perf_counter() - t0) * 1000)
            listing[name] = statistics.median(samples)
        figures["list_ms"] = listing
        figures["generations_in_table"] = client.get("/generations").json()["total_count"]
    server.shutdown()
    return figures


def main(api_url: str) -> None:
    figures = run(api_url)
    print("\nWardrobe through the local stack (classical engine)")
    upload_ms = figures["clothing_item_with_enhancement_ms"]
    print(f"  clothing item from upload, with cut-out and description: {upload_ms:.0f} ms")
    for name, ms in figures["use_case_ms"].items():
        print(f"  {name:<45} {ms:7.0f} ms to Done")
    print(f"  list calls with {figures['generations_in_table']} generations of the account in the table:")
    for name, ms in figures["list_ms"].items():
        print(f"  {name:<45} {ms:7.0f} ms")
