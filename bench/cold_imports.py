"""Cold import time of each API function module, each in a fresh interpreter."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "cv2", "onnxruntime", "onnx", "dlib", "PIL", "aws_xray_sdk")

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def api_function_modules() -> list[str]:
    """Every functions/<name>/app.py that defines an HTTP app (queue consumers are not API functions)."""
    modules = []
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        if "Mangum(" in app.read_text():
            modules.append(f"functions.{app.parent.name}.app")
    return modules


def measure(module: str, runs: int = 5) -> dict[str, object]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    samples, heavy = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        samples.append(result["seconds"] * 1000)
        heavy = result["heavy"]
    return {"module": module, "median_ms": statistics.median(samples), "min_ms": min(samples), "heavy": heavy}


def main() -> None:
    print("\n== Cold import of API function modules (fresh interpreter, 5 runs) ==")
    print(f"{'module':40} {'median ms':>10} {'min ms':>8}  heavy ML modules loaded")
    for module in api_function_modules():
        r = measure(module)
        print(
            f"{r['module']:40} {r['median_ms']:>10.0f} {r['min_ms']:>8.0f}  {', '.join(r['heavy']) or 'none'}"
        )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
