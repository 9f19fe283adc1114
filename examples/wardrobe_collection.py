"""Generate a whole collection, the way the wardrobe spec recommends: a manifest, a pilot,
then the bulk, downloading every result before its 4-hour window closes, and retrying only
the rows that failed or are missing when run again.

    python examples/wardrobe_collection.py --api http://127.0.0.1:8000 --key "$KEY" \
        --manifest collection.csv --out collection-out [--pilot 1]

The manifest is a CSV with one row per garment, with the spec's columns:

    sku,name,front_image_url,back_image_url,prompt,camera,model_slug,aspect_ratio,resolution,num_images

and optionally ``avatar_id``: a saved avatar (``POST /avatar``) to wear the garment, the same
model across the collection; empty for a virtual model. ``front_image_url`` /
``back_image_url`` are http(s) URLs (fetched by the API) or local file paths (uploaded);
``front_image`` / ``back_image`` are accepted for them too. A row with no front image, two
different front (or back) images, or an ``avatar_id`` that is not a number is recorded as
Rejected without calling the API; a manifest without ``sku``, ``name``, ``prompt`` or a front
image column is refused before anything runs.

The first ``--pilot`` rows not yet Done run first; unless every one of them ends Done the run
stops there (fix the rows and run again), otherwise the rest follow with the same settings.
Progress is kept in ``<out>/state.json`` (clothing_item_id, generation_id, avatar_id, status and
saved files per SKU), so a rerun reuses clothing items, skips rows that are Done and resubmits
only the others.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

TERMINAL = ("Done", "Error")
# the spec's column names first; the short ones are accepted too
IMAGE_COLUMNS = {"front": ("front_image_url", "front_image"), "back": ("back_image_url", "back_image")}
REQUIRED_COLUMNS = ("sku", "name", "prompt")


class BadRow(ValueError):
    """A manifest row that cannot be submitted as it is: recorded as Rejected, retried next run."""


def check_columns(fieldnames: Sequence[str] | None) -> None:
    names = set(fieldnames or ())
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if not names & set(IMAGE_COLUMNS["front"]):
        missing.append(" or ".join(IMAGE_COLUMNS["front"]))
    if missing:
        raise ValueError(f"the manifest has no {', '.join(missing)} column")


def image_source(row: dict[str, str], side: str) -> str:
    """The row's front or back image under either column name ('' when it has none)."""
    given = {(row.get(c) or "").strip() for c in IMAGE_COLUMNS[side]} - {""}
    if len(given) > 1:
        raise BadRow(f"{' and '.join(IMAGE_COLUMNS[side])} name different images")
    if side == "front" and not given:
        raise BadRow(f"no front image ({IMAGE_COLUMNS['front'][0]})")
    return given.pop() if given else ""


def avatar_of(row: dict[str, str]) -> int | None:
    """The saved avatar the row names (avatar_id), or None for a virtual model."""
    text = (row.get("avatar_id") or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise BadRow(f"avatar_id must be a saved avatar's number (GET /avatars), not {text!r}")
    return int(text)


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
        ("front", "file", "clothing_item_url"),
        ("back", "back_file", "clothing_item_back_url"),
    ):
        source = image_source(row, side)
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
    avatar_id = avatar_of(row)
    if avatar_id is not None:
        body["avatar_id"] = avatar_id
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
    with manifest.open(newline="") as handle:
        reader = csv.DictReader(handle)
        check_columns(reader.fieldnames)
        rows = list(reader)
    out.mkdir(parents=True, exist_ok=True)
    state = load_state(out)
    batch_id = int(state.setdefault("_batch_id", int(time.time())))
    todo = [r for r in rows if state.get(r["sku"], {}).get("status") != "Done"]
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        # a small pilot first, with the collection's settings; then the rest with the same ones
        for is_pilot, stage in ((True, todo[:pilot]), (False, todo[pilot:])):
            if not stage:
                continue
            pending = {}
            for row in stage:
                sku_state = state.setdefault(row["sku"], {})
                try:
                    avatar_id = avatar_of(row)  # a bad row is caught before anything is created
                    for side in IMAGE_COLUMNS:
                        image_source(row, side)
                    item_id = ensure_clothing_item(client, row, sku_state)
                    pending[row["sku"]] = sku_state["generation_id"] = submit(client, row, item_id, batch_id)
                    sku_state.update(status="Created", error=None, avatar_id=avatar_id)
                except BadRow as exc:
                    sku_state.update(status="Rejected", error=f"bad row: {exc}")
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
            if is_pilot and any(state[r["sku"]]["status"] != "Done" for r in stage):
                held = len(todo) - len(stage)
                print(
                    f"pilot did not fully succeed; {held} other row(s) not submitted: "
                    "fix the failed rows and run again",
                    file=sys.stderr,
                )
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
    try:
        state = run(args.api, args.key, args.manifest, args.out, pilot=args.pilot)
    except ValueError as exc:
        print(f"{args.manifest}: {exc}", file=sys.stderr)
        return 2
    rows = {k: v for k, v in state.items() if not k.startswith("_")}
    for sku, row in sorted(rows.items()):
        print(f"{sku}: {row['status']} {row.get('error') or ''} {' '.join(row.get('files', []))}".rstrip())
    return 0 if all(r["status"] == "Done" for r in rows.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
