"""Upload-validation latency per fixture photo and preprocessing time per identity,
measured through the HTTP API of the local stack (emulator, API and consumers in process)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"
PHOTOS = sorted(p for p in FACES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))


def _upload(client: httpx.Client, photo: Path, name: str) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    resp = client.post(
        "/identity/upload", data={"name": name}, files={"file": (photo.name, photo.read_bytes())}
    )
    return (time.perf_counter() - t0) * 1000, resp


def run(api_url: str, api_key: str, *, repeats: int = 3) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=api_url, headers={"X-API-Key": api_key}, timeout=120) as client:
        _upload(client, PHOTOS[0], "warm-up")  # first upload loads the models
        for photo in PHOTOS:
            samples, last = [], None
            for i in range(repeats):
                ms, resp = _upload(client, photo, f"bench-{photo.stem}-{i}-{time.time_ns()}")
                samples.append(ms)
                last = resp
            assert last is not None
            verdict = (
                "accepted"
                if last.status_code == 201
                else f"{last.status_code} {last.json()['detail']['message']}"
            )
            rows.append({"photo": photo.name, "upload_ms": statistics.median(samples), "verdict": verdict})

        # preprocessing time per identity, as the service itself records it
        pending = {
            i["identity_code"]: i["name"]
            for i in client.get("/identity", params={"page_size": 100}).json()["data"]
        }
        deadline = time.monotonic() + 300
        times: dict[str, float] = {}
        while pending and time.monotonic() < deadline:
            for code in list(pending):
                status = client.get(f"/identity/{code}/status").json()
                if status["preprocessing_status"] in ("completed", "failed"):
                    times[pending.pop(code)] = status["preprocessing_time"] or 0.0
            time.sleep(0.2)
    for row in rows:
        per_photo = [t for n, t in times.items() if n.startswith(f"bench-{Path(row['photo']).stem}-")]
        row["preprocess_s"] = statistics.median(per_photo) if per_photo else None
    return rows


def main(api_url: str, api_key: str) -> None:
    rows = run(api_url, api_key)
    print("\n== Upload validation through HTTP (decode + detect + one-face rule + store + enqueue) ==")
    print(f"{'photo':28} {'upload ms (median of 3)':>24} {'preprocess s':>13}  verdict")
    for r in rows:
        pre = f"{r['preprocess_s']:.3f}" if r["preprocess_s"] is not None else "-"
        print(f"{r['photo']:28} {r['upload_ms']:>24.0f} {pre:>13}  {r['verdict']}")
