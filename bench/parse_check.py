"""Time the language front end: parse + resolve + every check of a model (default models/rbc_open.econ).

Prints one JSON row and appends it to bench/results/parse_check.jsonl. The first (cold) run includes
building the grammar and importing SymPy; the median is over the warm runs that follow.

    python bench/parse_check.py [MODEL] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "models" / "rbc_open.econ"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from econdsl.language import check_file

    result = check_file(args.model)
    cold = time.perf_counter() - t0
    assert not result.diagnostics.has_errors(), result.diagnostics.render()
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        check_file(args.model)
        times.append(time.perf_counter() - t)
    row = {
        "bench": "parse_check",
        "model": Path(args.model).name,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "runs": args.runs,
        "cold_s_incl_imports": round(cold, 4),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "system": platform.system()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(row))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "parse_check.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
