"""The RBC quick-run table of docs/results.md, from a run directory's own outputs.

Reads ``metrics.csv`` (per-iteration means of the economy) and ``eval.npz`` (the evaluation episode)
and prints one markdown row per quantity: iteration 0, the given iterations, the mean of the last 10
iterations and the evaluation episode. RBC-specific: it names the RBC's series (p, w, L, c, τ, σ).

    python bench/experiments/quick_table.py sweeps/rerun/open_s0 --at 79 159
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

N_CONSUMERS, N_FIRMS = 100, 10


def fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e4:
        return f"{v:,.0f}".replace("-", "−")
    if a >= 100:
        return f"{v:,.0f}".replace("-", "−")
    return f"{v:.3g}".replace("-", "−")


def per_iteration(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows])


QUANTITIES = {  # name -> (metrics.csv column, scale, eval.npz series, how the episode is averaged)
    "mean firm price": ("econ/p", 1.0, "series/p"),
    "mean firm wage": ("econ/w", 1.0, "series/w"),
    "hours per consumer per quarter": ("econ/L", N_FIRMS / N_CONSUMERS, "series/L"),
    "consumption per consumer per step": ("econ/c", N_FIRMS, "series/c"),
    "firm reward per firm and step": ("Firm/reward", 1.0, "reward/Firm"),
    "welfare (government reward) per step": ("Government/reward", 1.0, "reward/Government"),
    "consumer reward per consumer and step": ("Consumer/reward", 1.0, "reward/Consumer"),
    "income tax τ": ("econ/τ", 1.0, "series/τ"),
    "corporate tax σ": ("econ/σ", 1.0, "series/σ"),
}


def table(run: Path, at: list[int]) -> str:
    rows = list(csv.DictReader((run / "metrics.csv").open(encoding="utf-8")))
    ev = np.load(run / "eval.npz")
    head = ["quantity", "iteration 0", *(f"e = {e}" for e in at), "last 10 iterations", "evaluation episode",
            "episode, t ≥ 1"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, (col, scale, series) in QUANTITIES.items():
        x = per_iteration(rows, col) * scale
        ep = ev[series] * scale  # [steps, replicas, ...]
        cells = [fmt(x[0]), *(fmt(x[e]) for e in at), fmt(np.nanmean(x[-10:])), fmt(float(ep.mean())),
                 fmt(float(ep[1:].mean()))]
        out.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--at", type=int, nargs="*", default=[159], help="iterations to show")
    args = ap.parse_args()
    print(table(args.run, args.at))


if __name__ == "__main__":
    main()
