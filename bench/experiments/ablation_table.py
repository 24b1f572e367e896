"""The collapse-ablation table of docs/paper-reproduction.md, from a sweep directory's own outputs.

For every variant of the sweep (the unchanged point and each ``--ablate``), per seed and as mean ± sd over
seeds: hours per consumer per quarter, total output per step and welfare (the government's reward per
step), each averaged over windows of training iterations from ``metrics.csv``, the lowest 10-iteration
mean of hours, the consumers' policy entropy (nats, summed over their 12 heads; uniform = 27.9), and
whether the run collapsed (hours below 10 per consumer per quarter, averaged over its last 10 iterations).
RBC-specific: it names the RBC's series (L, Y).

    python bench/experiments/ablation_table.py sweeps/ablation --windows 0:10 45:55 90:100
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

N_CONSUMERS, N_FIRMS = 100, 10
COLLAPSED_HOURS = 10.0  # per consumer per quarter (full time is 1040): the trivial economy


def series(rows: list[dict], key: str, scale: float = 1.0) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows]) * scale


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if len(x) and not np.isnan(x).all() else float("nan")


def run_numbers(run: Path, windows: list[tuple[int, int]]) -> dict[str, list[float]] | None:
    path = run / "metrics.csv"
    if not path.exists():
        return None
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    hours = series(rows, "econ/L", N_FIRMS / N_CONSUMERS)
    out = {
        "hours": [_mean(hours[a:b]) for a, b in windows],
        "output": [_mean(series(rows, "econ/Y", N_FIRMS)[a:b]) for a, b in windows],
        "welfare": [_mean(series(rows, "Government/reward")[a:b]) for a, b in windows],
        "entropy": [_mean(series(rows, "Consumer/entropy")[a:b]) for a, b in windows],
        "min_hours": [float(min(np.nanmean(hours[k:k + 10]) for k in range(max(len(hours) - 9, 1))))],
        "last_hours": [float(np.nanmean(hours[-10:]))],
        "iterations": [float(len(rows))],
    }
    return out


def fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def cell(xs: list[float]) -> str:
    """Mean ± sd over the runs that reached the window (a run stopped earlier has no value there)."""
    have = [x for x in xs if not np.isnan(x)]
    note = f" ({len(have)} of {len(xs)})" if len(have) < len(xs) else ""
    if not have:
        return "–"
    if len(have) == 1:
        return fmt(have[0]) + note
    return f"{fmt(float(np.mean(have)))} ± {fmt(float(np.std(have, ddof=1)))}{note}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep", type=Path)
    ap.add_argument("--windows", nargs="+", default=["0:10", "45:55", "90:100"])
    ap.add_argument("--json", type=Path, help="also write every number to this file")
    ap.add_argument("--plot", type=Path, help="also draw hours, output and welfare over training (PNG)")
    args = ap.parse_args()
    windows = [tuple(int(x) for x in w.split(":")) for w in args.windows]
    plan = json.loads((args.sweep / "sweep.json").read_text(encoding="utf-8"))
    variants: dict[str, list[tuple[int, dict]]] = {}
    for p in plan["points"]:
        nums = run_numbers(args.sweep / p["run_dir"], windows)
        label = " ".join(f"{k}={v}" for k, v in p["overrides"]) or "(unchanged)"
        if nums is not None:
            variants.setdefault(label, []).append((p["seed"], nums))
    wl = [f"it. {a}–{b - 1}" for a, b in windows]
    head = ["variant", "seeds", *(f"hours, {w}" for w in wl), *(f"output, {w}" for w in wl),
            *(f"welfare, {w}" for w in wl), "lowest hours (10 it.)", "consumer entropy, last window",
            "collapsed"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for label, runs in variants.items():
        seeds = [s for s, _ in runs]

        def col(key: str, k: int, runs: list = runs) -> str:
            return cell([n[key][k] for _, n in runs])

        collapsed = sum(n["last_hours"][0] < COLLAPSED_HOURS for _, n in runs)
        its = sorted({int(n["iterations"][0]) for _, n in runs})
        row = [label, ",".join(map(str, seeds)) + (f" ({'/'.join(map(str, its))} it.)" if its else ""),
               *(col("hours", k) for k in range(len(windows))), *(col("output", k) for k in range(len(windows))),
               *(col("welfare", k) for k in range(len(windows))), col("min_hours", 0),
               col("entropy", len(windows) - 1), f"{collapsed} of {len(runs)}"]
        print("| " + " | ".join(row) + " |")
    print()
    for label, runs in variants.items():
        for s, n in runs:
            print(f"{label} seed {s}: hours " + ", ".join(fmt(h) for h in n["hours"]) + "; welfare "
                  + ", ".join(fmt(h) for h in n["welfare"]) + f"; last-10 hours {fmt(n['last_hours'][0])}")
    if args.json:
        args.json.write_text(json.dumps(variants, indent=1), encoding="utf-8")
    if args.plot:
        plot(args.sweep, plan, args.plot)


def plot(sweep: Path, plan: dict, out: Path) -> None:
    """One panel per quantity, one colour per variant, one line per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("hours per consumer per quarter", "econ/L", N_FIRMS / N_CONSUMERS),
              ("output per step (all firms)", "econ/Y", N_FIRMS), ("welfare per step", "Government/reward", 1.0)]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4))
    colours: dict[str, str] = {}
    for p in plan["points"]:
        path = sweep / p["run_dir"] / "metrics.csv"
        if not path.exists():
            continue
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        label = " ".join(f"{k}={v}" for k, v in p["overrides"]) or "unchanged"
        colour = colours.setdefault(label, f"C{len(colours)}")
        for ax, (title, key, scale) in zip(axes, panels, strict=True):
            ax.plot(series(rows, key, scale), color=colour, lw=1, label=label if p["seed"] == 0 else None)
            ax.set_title(title)
            ax.set_xlabel("training iteration")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
