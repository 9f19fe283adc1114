"""Image probes end to end through the local stack's HTTP API, on the classical engine: from
POST .../image-probe to a ready report (queue, worker, engine, consistency verdict against the
stored identity embedding, S3, the session's image.ready event), median of a few runs."""

from __future__ import annotations

import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"
ANCHORS = {
    "visual_summary": "bench character",
    "hair": "short dark hair",
    "avoid_visual_changes": ["no new scars"],
}


def _probe(client: httpx.Client, slug: str, session_id: str, probe_type: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    resp = client.post(
        f"/v1/characters/{slug}/image-probe", json={"probe_type": probe_type, "session_id": session_id}
    )
    probe_id = resp.raise_for_status().json()["data"]["probe_id"]
    while True:
        report = client.get(f"/v1/characters/{slug}/image-probe/{probe_id}").json()["data"]
        if report["state"] in ("ready", "failed", "blocked"):
            return time.perf_counter() - started, report
        time.sleep(0.05)


def run(api_url: str, *, repeats: int = 3) -> dict[str, float]:
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name="bench-characters", plan="pro", credits=10_000)
    key = accounts.issue_key(
        account_id=account.account_id, scopes=("identities:read", "identities:write")
    ).api_key
    slug = f"bench-{secrets.token_hex(3)}"
    figures: dict[str, float] = {}
    with httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=120) as client:
        client.post(
            "/v1/characters",
            json={
                "slug": slug,
                "name": "Bench",
                "profile": {"identity_anchors": ANCHORS},
                "behavioral_thresholds": {
                    "image_proactivity": 0.5,
                    "selfie_comfort": 0.5,
                    "daily_image_cap": 5,
                },
            },
        ).raise_for_status()
        client.post(
            f"/v1/characters/{slug}/visual-assets",
            data={"category": "identity", "asset_key": "front", "label": "front"},
            files={"file": ("obama.jpg", (FACES / "obama.jpg").read_bytes())},
        ).raise_for_status()
        session_id = (
            client.post(f"/v1/characters/{slug}/sessions").raise_for_status().json()["data"]["session_id"]
        )
        _probe(client, slug, session_id, "identity_selfie")  # warm-up: the worker loads its models
        for probe_type in (
            "identity_selfie",
            "accessory_carry_forward",
            "same_scene_followup",
            "forbidden_visual_check",
        ):
            samples = []
            for _ in range(repeats):
                seconds, report = _probe(client, slug, session_id, probe_type)
                assert report["state"] == "ready", report
                samples.append(seconds * 1000)
            figures[probe_type] = statistics.median(samples)
    return figures


def main(api_url: str) -> None:
    figures = run(api_url)
    print("\nImage probes end to end through the local stack (classical engine)")
    for probe_type, ms in figures.items():
        print(f"  {probe_type:<28} {ms:7.0f} ms from POST to a ready report")
