"""Generate a whole collection, the way the wardrobe spec recommends: a manifest, a pilot,
then the bulk, downloading every result before its 4-hour window closes, and retrying only
the rows that failed or are missing when run again.

    python examples/wardrobe_collection.py --api http://127.0.0.1:8000 --key "$KEY" \
        --manifest collection.csv --out collection-out [--pilot 1]

The manifest is a CSV with one row per garment:

    sku,name,front_image,back_image,prompt,camera,model_slug,aspect_ratio,resolution,num_images

``front_image`` / ``back_image`` are file paths or http(s) URLs. Progress is kept in
``<out>/state.json`` (clothing_item_id, generation_id, status and saved files per SKU), so a
rerun reuses clothing items, skips rows that are Done and resubmits only the others.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TERMINAL = ("Done", "Error")


def load_state(out: Path) -> dict[str, Any]:
    path = out / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(out: Path, state: dict[str, Any]) -> None:
    (out / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))


def ensure_clothing_item(client: httpx.Client, row: dict[str, str], state: dict[str, Any]) -> int:
    """Reuse the SKU's clothing item, or create it (files are uploaded, URLs are fetched by the API)."""
    if state.get("clothing_item_id"):
        return int(state["clothing_item_id"])
    data: dict[str, str] = {"clothing_item_name": row["name"]}
    files: dict[str, tuple[str, bytes]] = {}
    for side, form_file, form_url in (
        ("front_image", "file", "clothing_item_url"),
        ("back_image", "back_file", "clothing_item_back_url"),
    ):
        source = row.get(side) or ""
        if source.startswith(("http://", "https://")):
            data[form_url] = source
        elif source:
            files[form_file] = (Path(source).name, Path(source).read_bytes())
    resp = client.post("/clothing-item", data=data, files=files or None)
    resp.raise_for_status()
    state["clothing_item_id"] = resp.json()["clothing_item_id"]
    return int(state["clothing_item_id"])


def submit(client: httpx.Client, row: dict[str, str], item_id: int, batch_id: int) -> int:
    body: dict[str, Any] = {
        "clothing_item_id": item_id,
        "use_case": "generate",
        "prompt": row["prompt"],
        "num_images": int(row.get("num_images") or 1),
        "camera": row.get("camera") or "photo",
        "batch_id": batch_id,
    }
    for field in ("model_slug", "aspect_ratio", "resolution"):
        if row.get(field):
            body[field] = row[field]
    resp = client.post("/generation", json=body)
    resp.raise_for_status()
    return int(resp.json()["generation_id"])


def wait_all(client: httpx.Client, pending: dict[str, int], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll with backoff until every generation is Done or Error."""
    finished: dict[str, dict[str, Any]] = {}
    delay, deadline = 0.5, time.monotonic() + timeout
    while len(finished) < len(pending) and time.monotonic() < deadline:
        for sku, generation_id in pending.items():
            if sku not in finished:
                generation = client.get(f"/generation/{generation_id}").json()
                if generation["status"] in TERMINAL:
                    finished[sku] = generation
        time.sleep(delay)
        delay = min(delay * 1.5, 10.0)
    return finished


def persist(generation: dict[str, Any], out: Path, sku: str) -> list[str]:
    """Download every result now: the URLs stop working after 4 hours."""
    saved = []
    for result in generation["generation_results"]:
        suffix = ".mp4" if result["kind"] == "Video" else ".png"
        path = out / f"{sku}-{result['generation_result_id']}{suffix}"
        path.write_bytes(httpx.get(result["url"], timeout=60).raise_for_status().content)
        saved.append(str(path))
    return saved


def run(
    api: str, key: str, manifest: Path, out: Path, *, pilot: int = 1, timeout: float = 600
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(manifest.open()))
    state = load_state(out)
    batch_id = int(state.setdefault("_batch_id", int(time.time())))
    todo = [r for r in rows if state.get(r["sku"], {}).get("status") != "Done"]
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        # a small pilot first, with the collection's settings; then the rest with the same ones
        for stage in (todo[:pilot], todo[pilot:]):
            if not stage:
                continue
            pending = {}
            for row in stage:
                sku_state = state.setdefault(row["sku"], {})
                try:
                    item_id = ensure_clothing_item(client, row, sku_state)
                    pending[row["sku"]] = sku_state["generation_id"] = submit(client, row, item_id, batch_id)
                    sku_state.update(status="Created", error=None)
                except httpx.HTTPStatusError as exc:
                    # refused before anything ran (a bad row): recorded, retried on the next run
                    detail = exc.response.json().get("detail", {})
                    sku_state.update(
                        status="Rejected", error=f"{exc.response.status_code} {detail.get('message')}"
                    )
                save_state(out, state)
            for sku, generation in wait_all(client, pending, timeout).items():
                state[sku]["status"] = generation["status"]
                state[sku]["error"] = generation.get("error_message")
                if generation["status"] == "Done":
                    state[sku]["files"] = persist(generation, out, sku)
                save_state(out, state)
            if stage is todo[:pilot] and any(state[r["sku"]]["status"] != "Done" for r in stage):
                print("pilot did not fully succeed; fix the failed rows and run again", file=sys.stderr)
                break
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("collection-out"))
    parser.add_argument("--pilot", type=int, default=1)
    args = parser.parse_args()
    state = run(args.api, args.key, args.manifest, args.out, pilot=args.pilot)
    rows = {k: v for k, v in state.items() if not k.startswith("_")}
    for sku, row in sorted(rows.items()):
        print(f"{sku}: {row['status']} {row.get('error') or ''} {' '.join(row.get('files', []))}".rstrip())
    return 0 if all(r["status"] == "Done" for r in rows.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
