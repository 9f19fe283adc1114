"""Benchmark the classical engine on the fixture photos, and measure its consistency distances.

    python bench/bench_engine.py [--runs 3] [--json out.json]

Per operation: the median wall time (ms) of ``runs`` calls after one warm-up, through
``ClassicalEngine.run`` (decode, detection and landmarks included, as a job pays them), with the
input and output sizes. Then the descriptor distances that decide the consistency verdicts:
face transfer of obama.jpg onto four other people (distance to Obama, which must pass, and to
the base person, which must fail), new faces morphed from two references, and a portrait of a
reference itself (a near copy). Then the garment vision on the garment fixtures (cut-out and
description, timed) and try_on (timed with the other operations). ``run()`` returns the same
figures as dicts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "fixtures" / "faces"
GARMENTS = ROOT / "tests" / "fixtures" / "garments"
GARMENT_FILES = ["tshirt_front.png", "tshirt_back.png", "dress_red.jpg", "jeans_blue.webp"]

if importlib.util.find_spec("likeness") is None:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "layers"))

TRANSFER_BASES = ["biden.jpg", "rose_leslie_img1.jpg", "alex-lacamoire.png", "lin-manuel-miranda.png"]
MORPH_SETS = [["obama.jpg", "biden.jpg"], ["rose_leslie_img1.jpg", "alex-lacamoire.png"]]


def _image(name: str, label: str | None = None) -> Any:
    from likeness.engines.base import EngineImage

    return EngineImage(data=(FACES / name).read_bytes(), label=label or name)


def _garment(name: str) -> Any:
    from likeness.engines.base import EngineImage

    return EngineImage(data=(GARMENTS / name).read_bytes(), label=name)


def _median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    result = fn()  # warm-up (and the result we report sizes from)
    times = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times), result


def _size_of(name: str) -> str:
    from PIL import Image

    with Image.open(FACES / name) as im:
        return f"{im.width}x{im.height}"


def _cases() -> list[tuple[str, str, Any]]:
    """(label, input description, request) for every timed operation."""
    from likeness.engines.base import EngineRequest, Operation

    edit_args: dict[str, dict[str, Any]] = {
        "remove_background": {},
        "replace_background": {"color": "#ffffff"},
        "crop": {"aspect_ratio": "4:5"},
        "brightness": {"factor": 1.2},
        "contrast": {"factor": 1.2},
        "saturation": {"factor": 1.3},
        "grayscale": {},
        "sharpen": {"amount": 1.0},
        "blur": {"radius": 2},
        "mirror": {},
        "rotate": {"degrees": 90},
    }
    cases: list[tuple[str, str, Any]] = [
        (
            "face_transfer obama -> biden",
            f"{_size_of('biden.jpg')} base",
            EngineRequest(
                Operation.FACE_TRANSFER, base_image=_image("biden.jpg"), face_images=(_image("obama.jpg"),)
            ),
        ),
        (
            "face_transfer obama -> alex",
            f"{_size_of('alex-lacamoire.png')} base",
            EngineRequest(
                Operation.FACE_TRANSFER,
                base_image=_image("alex-lacamoire.png"),
                face_images=(_image("obama.jpg"),),
            ),
        ),
        (
            "new_face count 1 (2 refs)",
            "obama + biden",
            EngineRequest(
                Operation.NEW_FACE, face_images=(_image("obama.jpg"), _image("biden.jpg")), params={"seed": 1}
            ),
        ),
        (
            "portrait head_and_shoulders",
            _size_of("obama2.jpg"),
            EngineRequest(Operation.PORTRAIT, face_images=(_image("obama2.jpg"),)),
        ),
        (
            "portrait + background",
            _size_of("obama2.jpg"),
            EngineRequest(
                Operation.PORTRAIT, face_images=(_image("obama2.jpg"),), params={"background": "#ffffff"}
            ),
        ),
        (
            "upscale 2x",
            _size_of("obama.jpg"),
            EngineRequest(Operation.UPSCALE, base_image=_image("obama.jpg"), params={"factor": 2}),
        ),
        (
            "upscale 4x",
            _size_of("obama_small.jpg"),
            EngineRequest(Operation.UPSCALE, base_image=_image("obama_small.jpg"), params={"factor": 4}),
        ),
    ]
    for op, args in edit_args.items():
        cases.append(
            (
                f"edit {op}",
                _size_of("obama2.jpg"),
                EngineRequest(
                    Operation.EDIT,
                    base_image=_image("obama2.jpg"),
                    params={"instructions": [{"op": op, **args}]},
                ),
            )
        )
    cases.append(
        (
            "video 3 s, 24 fps",
            _size_of("obama.jpg"),
            EngineRequest(Operation.VIDEO, base_image=_image("obama.jpg"), params={"duration": 3}),
        )
    )
    try_on: list[tuple[str, str, tuple[str, ...], tuple[str, ...], dict[str, Any]]] = [
        ("try_on tshirt, photo", "obama.jpg", ("tshirt_front.png",), (), {"size": 1024}),
        ("try_on dress, photo", "biden.jpg", ("dress_red.jpg",), (), {"size": 1024}),
        (
            "try_on top+jeans, full body",
            "biden.jpg",
            ("tshirt_front.png", "jeans_blue.webp"),
            (),
            {"size": 1024, "camera": "full_body_front"},
        ),
        (
            "try_on tshirt + face, upper",
            "obama.jpg",
            ("tshirt_front.png",),
            ("rose_leslie_img1.jpg",),
            {"size": 1024, "camera": "upper_body_front"},
        ),
        ("try_on tshirt, count 4", "obama.jpg", ("tshirt_front.png",), (), {"size": 1024, "count": 4}),
    ]
    for label, base, garments, faces, params in try_on:
        cases.append(
            (
                label,
                f"{_size_of(base)} base",
                EngineRequest(
                    Operation.TRY_ON,
                    base_image=_image(base),
                    face_images=tuple(_image(f) for f in faces),
                    garment_images=tuple(_garment(g) for g in garments),
                    params=params,
                ),
            )
        )
    return cases


def time_operations(runs: int = 3) -> list[dict[str, Any]]:
    from likeness.engines.classical.engine import ClassicalEngine

    engine = ClassicalEngine()
    engine.warm_up()
    rows = []
    for label, source, request in _cases():
        ms, outputs = _median_ms(partial(engine.run, request), runs)
        out = outputs[0]
        rows.append(
            {
                "operation": label,
                "input": source,
                "output": f"{out.width}x{out.height} {out.content_type.split('/')[1]}",
                "output_kb": len(out.data) / 1024,
                "median_ms": ms,
            }
        )
    return rows


def time_garments(runs: int = 3) -> list[dict[str, Any]]:
    """analyze_garment on each garment fixture: time, cut-out size and what it measured."""
    from PIL import Image

    from likeness.engines.classical.garments import analyze_garment

    rows = []
    for name in GARMENT_FILES:
        data = (GARMENTS / name).read_bytes()
        ms, analysis = _median_ms(partial(analyze_garment, data, label=name), runs)
        with Image.open(GARMENTS / name) as im:
            source = f"{im.width}x{im.height}"
        rows.append(
            {
                "operation": f"analyze_garment {name}",
                "input": source,
                "output": f"{analysis.width}x{analysis.height} png",
                "output_kb": len(analysis.cutout_png) / 1024,
                "median_ms": ms,
                "description": analysis.description,
                "colours": [(c.name, c.hex, round(c.share, 2)) for c in analysis.colours],
                "category": analysis.category,
                "category_confidence": analysis.category_confidence,
                "coverage": analysis.coverage,
            }
        )
    return rows


def measure_consistency() -> dict[str, list[dict[str, Any]]]:
    """Descriptor distances behind the verdicts (see likeness.engines.consistency)."""
    from likeness.engines.base import EngineRequest, Operation
    from likeness.engines.classical.engine import ClassicalEngine
    from likeness.engines.consistency import ConsistencyJudge

    engine = ClassicalEngine()
    judge = ConsistencyJudge()
    names = sorted({"obama.jpg", *TRANSFER_BASES, *(n for s in MORPH_SETS for n in s)})
    embedding = {n: judge.reference_embeddings([_image(n)])[0] for n in names}

    transfers = []
    for base in TRANSFER_BASES:
        for blend in ("seamless", "feather"):
            request = EngineRequest(
                Operation.FACE_TRANSFER,
                base_image=_image(base),
                face_images=(_image("obama.jpg"),),
                params={"blend": blend},
            )
            [out] = engine.run(request)
            identity = judge.judge(out.data, [embedding["obama.jpg"]], mode="same_person")
            other = judge.judge(out.data, [embedding[base]], mode="same_person")
            transfers.append(
                {
                    "base": base,
                    "blend": blend,
                    "to_identity": identity.distance,
                    "identity_verdict": identity.verdict.value,
                    "to_base": other.distance,
                    "base_verdict": other.verdict.value,
                    "faces": identity.faces_found,
                }
            )

    morphs = []
    for refs in MORPH_SETS:
        request = EngineRequest(
            Operation.NEW_FACE, face_images=tuple(_image(n) for n in refs), params={"count": 4, "seed": 1}
        )
        for out in engine.run(request):
            report = judge.judge(out.data, [embedding[refs[i]] for i in out.face_sources], mode="new_person")
            morphs.append(
                {
                    "references": " + ".join(refs),
                    "weights": out.details["weights"],
                    "distances": list(report.distances),
                    "near_copy": report.near_copy,
                    "verdict": report.verdict.value,
                }
            )

    [portrait] = engine.run(EngineRequest(Operation.PORTRAIT, face_images=(_image("obama.jpg"),)))
    crops = judge.reference_crops([_image("obama.jpg")])
    report = judge.judge(portrait.data, [embedding["obama.jpg"]], mode="same_person", reference_crops=crops)
    copies = [
        {
            "case": "portrait of obama.jpg vs obama.jpg",
            "distance": report.distance,
            "correlation": report.correlation,
            "near_copy": report.near_copy,
            "verdict": report.verdict.value,
        }
    ]
    return {"face_transfer": transfers, "new_face": morphs, "near_copy": copies}


def run(runs: int = 3) -> dict[str, Any]:
    garments = time_garments(runs)
    return {
        "timings": time_operations(runs) + garments,
        "consistency": measure_consistency(),
        "garments": garments,
    }


def print_report(result: dict[str, Any]) -> None:
    print("\n== Classical engine: median ms per request (decode, detection and landmarks included) ==")
    header = f"{'operation':32} {'input':>16} {'output':>16} {'KB':>7} {'median ms':>10}"
    print(header)
    print("-" * len(header))
    for r in result["timings"]:
        sizes = f"{r['input']:>16} {r['output']:>16}"
        print(f"{r['operation']:32} {sizes} {r['output_kb']:>7.0f} {r['median_ms']:>10.0f}")
    print(f"(cores: {os.cpu_count()})")

    consistency = result["consistency"]
    print(
        "\n== Face transfer of obama.jpg: descriptor distance of the output (same person <= 0.55 passes) =="
    )
    print(f"{'base':24} {'blend':9} {'to obama':>9} {'verdict':>16} {'to base':>8} {'verdict':>16}")
    for r in consistency["face_transfer"]:
        print(
            f"{r['base']:24} {r['blend']:9} {r['to_identity']:>9.3f} {r['identity_verdict']:>16} "
            f"{r['to_base']:>8.3f} {r['base_verdict']:>16}"
        )
    print("\n== New faces (new_person mode): distance to each reference ==")
    for r in consistency["new_face"]:
        weights = "/".join(f"{w:.2f}" for w in r["weights"])
        distances = " ".join(f"{d:.3f}" for d in r["distances"])
        print(f"{r['references']:42} weights {weights:12} distances {distances:14} {r['verdict']}")
    for r in consistency["near_copy"]:
        print(
            f"\n{r['case']}: distance {r['distance']:.3f}, aligned-crop correlation {r['correlation']:.3f}, "
            f"near copy {r['near_copy']}, verdict {r['verdict']}"
        )
    print("\n== Garment vision: what analyze_garment measured ==")
    for r in result.get("garments", []):
        colours = ", ".join(f"{name} {hexa} {share:.0%}" for name, hexa, share in r["colours"])
        print(
            f"{r['operation'].split()[-1]:18} {r['category']:12} ({r['category_confidence']:.2f}) "
            f"coverage {r['coverage']:.0%}  {colours}\n{'':18} {r['description']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per operation (after a warm-up)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.runs)
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    raise SystemExit(main())
