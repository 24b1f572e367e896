"""Run the reliability mutation fuzzer (tests/reliability_fuzz.py) for many cases; write a JSON summary.

    nice -n 15 env OMP_NUM_THREADS=1 python bench/fuzz_reliability.py --cases 10000 --seed 1 \
        --json bench/results/fuzz_reliability.json

Cases rotate over train settings (in the model text or through --set), random command-line flags of every
command, and damaged run-directory files (config.json, metrics.csv, checkpoint.pt, model.econ, eval.*) under
`train --resume`, `best-response` and `plot`. A case fails if a Python exception escapes the command, or it
exits with a status other than 0/1/2 (130), or with 1/2 and no message. Failing cases are written in full.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("reliability_fuzz", ROOT / "tests" / "reliability_fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["reliability_fuzz"] = fuzz
_spec.loader.exec_module(fuzz)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "fuzz_reliability.json")
    ap.add_argument("--progress", type=int, default=500, help="Print a line every this many cases.")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.time()
    f = fuzz.Fuzzer(a.seed)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    failures: list[dict] = []

    def write(done: int) -> dict:
        summary = {"cases": done, "planned": a.cases, "seed": a.seed, "failures": len(failures),
                   "seconds": round(time.time() - t0), "by_kind_and_exit": {k: dict(v) for k, v in counts.items()},
                   "failed_cases": failures[:50]}
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
        return summary

    k = 0
    try:
        for k, out in enumerate(f.cases(a.cases), start=1):
            counts[out.kind][str(out.exit_code) if out.error is None else "FAILED"] += 1
            if out.error is not None:
                failures.append({"kind": out.kind, "args": out.args, "notes": out.notes, "error": out.error})
                print(f"FAILED case {k} ({out.kind}): {out.args} {out.notes}\n{out.error}", flush=True)
            if k % a.progress == 0:
                print(f"{k} cases, {len(failures)} failures, {time.time() - t0:.0f} s", flush=True)
                write(k)  # partial results survive an interrupted campaign
    finally:
        f.close()
    summary = write(k)
    print(json.dumps({k: v for k, v in summary.items() if k != "failed_cases"}, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
