"""The quick preset over several seeds (docs/results.md, docs/paper-reproduction.md section 5): one column per
run, the evaluation episode's outcomes next to the paper's band, the last 10 training iterations and the
consumers' policy entropy per head (mean of the last 10 iterations, share of its maximum ln(choices)).

    python bench/experiments/quick_seeds.py sweeps/quick/seed0 sweeps/quick/seed1 sweeps/quick/seed2
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
from quick_table import QUANTITIES, fmt, per_iteration

BAND = {"welfare (government reward) per step": (3000, 4000), "firm reward per firm and step": (115_000, 150_000)}


def _heads(rows: list[dict], agent: str) -> dict[str, float]:
    prefix = f"{agent}/entropy_fraction["
    names = [k[len(prefix):-1] for k in rows[-1] if k.startswith(prefix)]
    return {n: float(np.nanmean(per_iteration(rows, f"{prefix}{n}]")[-10:])) for n in names}


def columns(run: Path) -> dict[str, str]:
    rows = list(csv.DictReader((run / "metrics.csv").open(encoding="utf-8")))
    ev = np.load(run / "eval.npz")
    cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
    out = {"commit": str(cfg.get("econdsl", {}).get("git_commit", "?"))[:7]}
    for name, (col, scale, series) in QUANTITIES.items():
        v = float(ev[series].mean()) * scale
        band = BAND.get(name)
        mark = "" if band is None else (" ✓" if band[0] <= v <= band[1] else " ✗")
        out[f"{name}, evaluation episode"] = fmt(v) + mark
        if band is not None:
            out[f"{name}, last 10 iterations"] = fmt(float(np.nanmean(per_iteration(rows, col)[-10:]) * scale))
    nvec = cfg.get("architecture", {}).get("types", {}).get("Consumer", {}).get("action_nvec", [])
    top = sum(math.log(n) for n in nvec if n > 1)
    total = float(np.nanmean(per_iteration(rows, "Consumer/entropy")[-10:]))
    out["consumer entropy, nats (share of maximum)"] = f"{total:.1f} of {top:.1f} ({100 * total / top:.0f}%)"
    for head, share in _heads(rows, "Consumer").items():
        out[f"consumer entropy, `{head}` head (share of maximum)"] = f"{100 * share:.0f}%"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    cols = [columns(r) for r in args.runs]
    print("| quantity | " + " | ".join(r.name for r in args.runs) + " | paper |")
    print("|---|" + "---:|" * len(cols) + "---|")
    for key in cols[0]:
        band = next((f"{lo:,}–{hi:,}" for n, (lo, hi) in BAND.items() if key.startswith(n)), "")
        print(f"| {key} | " + " | ".join(c.get(key, "–") for c in cols) + f" | {band} |")


if __name__ == "__main__":
    main()
