"""The wardrobe surface through the local stack's HTTP API.

- time per use case on the classical engine: from POST /generation to status Done, for a
  try-on with an avatar, an edit, a 2x upscale and a 3 s video (median of a few runs).

List calls as an account grows are in ``bench_lists``.
"""

from __future__ import annotations

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"
GARMENTS = ROOT / "tests" / "fixtures" / "garments"


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

    server.shutdown()
    return figures


def main(api_url: str) -> None:
    figures = run(api_url)
    print("\nWardrobe through the local stack (classical engine)")
    upload_ms = figures["clothing_item_with_enhancement_ms"]
    print(f"  clothing item from upload, with cut-out and description: {upload_ms:.0f} ms")
    for name, ms in figures["use_case_ms"].items():
        print(f"  {name:<45} {ms:7.0f} ms to Done")
    print("  (list calls as an account grows: see the lists table)")
