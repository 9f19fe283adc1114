"""Benchmark the face pipeline on the fixture photos.

    python bench/bench_faces.py [FIXTURES_DIR] [--runs 5] [--hog-runs 3] [--json out.json]

Per photo: decode ms, CenterFace detect ms (median after one warm-up), dlib HOG detect ms
(face_recognition.face_locations, upsample 1) and the HOG/CenterFace ratio, faces found by
each, dlib embedding ms per face, and the raw CenterFace session time with the weights still
listed as graph inputs versus removed. ``run(fixtures_dir)`` returns the same figures as dicts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = ROOT / "tests" / "fixtures" / "faces"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

if importlib.util.find_spec("likeness") is None:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "layers"))


def _median_ms(fn: Callable[[], Any], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def _hog_locations() -> Callable[[Any], list[Any]] | None:
    """face_recognition's HOG detector, or None when face_recognition is not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
            import face_recognition
    except ImportError:
        return None

    def locate(img: Any) -> list[Any]:
        return list(face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog"))

    return locate


def run(
    fixtures_dir: str | Path = DEFAULT_FIXTURES, *, runs: int = 5, hog_runs: int = 3
) -> list[dict[str, Any]]:
    """Benchmark every photo in ``fixtures_dir``; one dict of figures per photo."""
    from likeness.faces.decode import decode_image
    from likeness.faces.detector import CenterFaceDetector
    from likeness.faces.embedder import DlibResNetEmbedder

    detector = CenterFaceDetector()
    unstripped = CenterFaceDetector(strip_initializer_inputs=False)
    embedder = DlibResNetEmbedder()
    started = time.perf_counter()
    detector.load()
    load_ms = (time.perf_counter() - started) * 1000.0
    unstripped.load()
    embedder.load()
    hog = _hog_locations()

    photos = sorted(p for p in Path(fixtures_dir).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    rows: list[dict[str, Any]] = []
    for path in photos:
        data = path.read_bytes()
        decode_ms = _median_ms(partial(decode_image, data), runs)
        decoded = decode_image(data)
        img = decoded.to_array()

        faces = detector.detect(img)
        detect_ms = _median_ms(partial(detector.detect, img), runs)

        blob, _, _ = detector.prepare_input(img)
        session_ms = _median_ms(partial(detector.run_raw, blob), runs)
        session_unstripped_ms = _median_ms(partial(unstripped.run_raw, blob), runs)

        embed_ms = None
        if faces:
            per_face = [_median_ms(partial(embedder.embed, img, f), runs) for f in faces]
            embed_ms = statistics.median(per_face)

        hog_ms = hog_faces = None
        if hog is not None:
            hog_faces = len(hog(img))
            hog_ms = _median_ms(partial(hog, img), hog_runs, warmup=0)

        rows.append(
            {
                "photo": path.name,
                "width": decoded.width,
                "height": decoded.height,
                "input": f"{blob.shape[3]}x{blob.shape[2]}",
                "decode_ms": decode_ms,
                "centerface_ms": detect_ms,
                "centerface_faces": len(faces),
                "hog_ms": hog_ms,
                "hog_faces": hog_faces,
                "hog_over_centerface": (hog_ms / detect_ms) if hog_ms is not None else None,
                "embed_ms_per_face": embed_ms,
                "session_ms": session_ms,
                "session_ms_weights_as_inputs": session_unstripped_ms,
                "initializer_speedup": session_unstripped_ms / session_ms,
                "model_load_ms": load_ms,
            }
        )
    return rows


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'photo':24} {'size':>9} {'input':>7} {'decode':>7} {'cface':>7} {'hog':>8} {'hog/cf':>6} "
        f"{'faces cf/hog':>12} {'embed/face':>10} {'sess':>6} {'sess+w':>7} {'x':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        faces = f"{r['centerface_faces']}/{_fmt(r['hog_faces'])}"
        print(
            f"{r['photo']:24} {r['width']:>4}x{r['height']:<4} {r['input']:>7} {_fmt(r['decode_ms']):>7} "
            f"{_fmt(r['centerface_ms']):>7} {_fmt(r['hog_ms']):>8} {_fmt(r['hog_over_centerface']):>6} "
            f"{faces:>12} {_fmt(r['embed_ms_per_face']):>10} {_fmt(r['session_ms']):>6} "
            f"{_fmt(r['session_ms_weights_as_inputs']):>7} {_fmt(r['initializer_speedup'], '.2f'):>5}"
        )
    print(
        "(all times ms; cface = decode excluded, resize+session+decode of outputs; sess = session.run only,"
    )
    print(" sess+w = the same with the weights left in graph.input; x = sess+w / sess)")
    if rows:
        speedups = [r["initializer_speedup"] for r in rows]
        ratios = [r["hog_over_centerface"] for r in rows if r["hog_over_centerface"] is not None]
        print(f"CenterFace model load: {rows[0]['model_load_ms']:.0f} ms; cores: {os.cpu_count()}")
        print(
            f"median CenterFace detect {statistics.median(r['centerface_ms'] for r in rows):.1f} ms; "
            f"initializer removal speedup median {statistics.median(speedups):.2f}x "
            f"(range {min(speedups):.2f}-{max(speedups):.2f})"
        )
        if ratios:
            median = statistics.median(ratios)
            print(f"HOG / CenterFace median {median:.1f}x (range {min(ratios):.1f}-{max(ratios):.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("fixtures", nargs="?", default=str(DEFAULT_FIXTURES))
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (after a warm-up)")
    parser.add_argument("--hog-runs", type=int, default=3, help="timed runs for the slower HOG detector")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = run(args.fixtures, runs=args.runs, hog_runs=args.hog_runs)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
