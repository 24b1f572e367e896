"""Tables and figures of the paper's experiments from the sweep directories of paper_cpu.sh.

Reads only the runs' own outputs (each sweep's outcomes.json, written by `econdsl compare/sweep` from
the runs' eval.json/eval.npz, and the best-response epsilon.json files) and prints markdown tables;
writes figures and a JSON of every number to ``OUT/paper/``. This script is about the RBC model,
so it names the RBC's series (p, w, hours, C, Y, r_g, τ, σ).

    python bench/experiments/paper_tables.py sweeps/paper-cpu
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

# Display name -> outcome-table row of `econdsl compare` (means over the evaluation episode).
QUANTITIES = {
    "price p": "p", "wage w": "w", "hours per consumer": "hours", "units sold per firm C": "C",
    "output per firm Y": "Y", "exports per firm X": "X", "income tax τ": "τ", "corporate tax σ": "σ",
    "consumer mean reward": "mean reward Consumer", "firm mean reward": "mean reward Firm",
    "welfare (government reward)": "mean reward Government",
}


def fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(v)
    if a >= 1e4:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def cell(table: dict, row: str, variant: str) -> str:
    c = table.get(row, {}).get(variant)
    if not c or not c["n"]:
        return "–"
    return f"{fmt(c['mean'])} ± {fmt(c['std'])} (n={c['n']})" if c["n"] > 1 else fmt(c["mean"])


def per_run(outcomes: dict, variant: str) -> list[dict]:
    label = next(v["label"] for v in outcomes["variants"] if v["id"] == variant)
    return [r for r in outcomes["runs"] if r["variant"] == label]


def fit(x: list[float], y: list[float]) -> dict:
    x_, y_ = np.asarray(x, float), np.asarray(y, float)
    if len(x_) < 3 or np.std(x_) == 0 or np.std(y_) == 0:
        return {"n": len(x_), "slope": math.nan, "intercept": math.nan, "r2": math.nan}
    slope, intercept = np.polyfit(x_, y_, 1)
    r = np.corrcoef(x_, y_)[0, 1]
    return {"n": len(x_), "slope": float(slope), "intercept": float(intercept), "r2": float(r * r)}


def main(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dest = out / "paper"
    dest.mkdir(parents=True, exist_ok=True)
    data: dict = {}
    oc = json.loads((out / "open_closed" / "outcomes.json").read_text(encoding="utf-8"))
    t = oc["table"]

    print("## Open vs closed economy\n")
    print("| quantity (evaluation episode mean) | open | closed |\n|---|---:|---:|")
    for name, row in QUANTITIES.items():
        print(f"| {name} | {cell(t, row, 'rbc_open')} | {cell(t, row, 'rbc_closed')} |")
    data["open_closed"] = {name: {v: t.get(row, {}).get(v) for v in ("rbc_open", "rbc_closed")}
                           for name, row in QUANTITIES.items()}

    # Figure 7: the spread of open-economy equilibria over seeds, with linear fits.
    runs = per_run(oc, "rbc_open")
    pairs = [("price p", "units sold per firm C"), ("wage w", "hours per consumer"),
             ("consumer mean reward", "firm mean reward"), ("income tax τ", "welfare (government reward)"),
             ("corporate tax σ", "welfare (government reward)")]
    paper_r2 = {0: 0.73, 1: 0.19, 2: 0.25, 3: 0.06, 4: 0.06}
    print(f"\n## Spread of open-economy equilibria over {len(runs)} seeds (figure 7)\n")
    print("| x | y | slope | r² (ours) | r² (paper) |\n|---|---|---:|---:|---:|")
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs), 3.1))
    data["fig7"] = []
    for k, (xn, yn) in enumerate(pairs):
        xs = [r.get(QUANTITIES[xn], math.nan) for r in runs]
        ys = [r.get(QUANTITIES[yn], math.nan) for r in runs]
        f = fit(xs, ys)
        data["fig7"].append({"x": xn, "y": yn, "points": list(zip(xs, ys, strict=True)), **f})
        print(f"| {xn} | {yn} | {fmt(f['slope'])} | {fmt(f['r2'])} | {paper_r2[k]} |")
        ax = axes[k]
        ax.scatter(xs, ys, s=18)
        if not math.isnan(f["slope"]):
            grid = np.linspace(min(xs), max(xs), 10)
            ax.plot(grid, f["slope"] * grid + f["intercept"], "k--", lw=1)
        ax.set_xlabel(xn, fontsize=8)
        ax.set_ylabel(yn, fontsize=8)
        ax.set_title(f"r² = {fmt(f['r2'])}", fontsize=9)
    fig.tight_layout()
    fig.savefig(dest / "fig7_open_spread.png", dpi=90)
    plt.close(fig)

    # Figure 5: fixed tax rates vs the learned government.
    ft_path = out / "fixed_tax" / "outcomes.json"
    if ft_path.exists():
        ft = json.loads(ft_path.read_text(encoding="utf-8"))
        rows = [("welfare (government reward)", "mean reward Government"),
                ("consumer mean reward", "mean reward Consumer"), ("firm mean reward", "mean reward Firm"),
                ("hours per consumer", "hours"), ("price p", "p"), ("wage w", "w")]
        print("\n## Fixed tax rates vs the learned government (figure 5)\n")
        head = [v["label"].split()[-1] for v in ft["variants"]]
        print("| quantity | " + " | ".join(head) + " | learned government (open runs) |")
        print("|---|" + "---:|" * (len(head) + 1))
        data["fig5"] = {}
        for name, row in rows:
            vals = [cell(ft["table"], row, v["id"]) for v in ft["variants"]]
            print(f"| {name} | " + " | ".join(vals) + f" | {cell(t, row, 'rbc_open')} |")
            data["fig5"][name] = {"fixed": {v["label"]: ft["table"].get(row, {}).get(v["id"]) for v in ft["variants"]},
                                  "learned": t.get(row, {}).get("rbc_open")}
        rates = [float(v["label"].split("=")[-1]) for v in ft["variants"]]
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.1))
        for ax, (name, row) in zip(axes, rows[:3], strict=True):
            m = [ft["table"].get(row, {}).get(v["id"], {}).get("mean", math.nan) for v in ft["variants"]]
            ax.plot(rates, m, "o-", label="fixed rates (both taxes)")
            lg = t.get(row, {}).get("rbc_open")
            if lg:
                ax.axhspan(lg["mean"] - lg["std"], lg["mean"] + lg["std"], color="C1", alpha=0.3)
                ax.axhline(lg["mean"], color="C1", label=f"learned government ({lg['n']} seeds)")
            ax.set_xlabel("tax rate")
            ax.set_title(name, fontsize=9)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(dest / "fig5_fixed_tax.png", dpi=90)
        plt.close(fig)

    # Table 3: best responses.
    run = out / "open_closed" / "runs" / "rbc_open" / "seed0"
    data["table3"] = {}
    for algo, sub in (("vanilla PG (paper)", "best_response_pg"), ("PPO (econdsl default)", "best_response")):
        p = run / sub / "epsilon.json"
        if not p.exists():
            continue
        eps = json.loads(p.read_text(encoding="utf-8"))
        data["table3"][algo] = eps["types"]
        print(f"\n## Best responses, {algo}: {eps['settings']['iterations']} iterations\n")
        print("| type | kind | U before | U after | ε (abs) | 95% interval | ε / scale "
              "| paper (table 3, worst of 10 seeds; type level) |")
        print("|---|---|---:|---:|---:|---|---:|---:|")
        paper = {"Consumer": "< 3%", "Firm": "< 10%", "Government": "< 1%"}
        for a, entry in eps["types"].items():
            for kind in ("unilateral", "type"):
                s = entry.get(kind)
                if s is None:
                    continue
                rel = s["epsilon_relative"]
                print(f"| {a} | {kind} | {fmt(s['before'])} | {fmt(s['after'])} | {fmt(s['epsilon'])} | "
                      f"[{fmt(s['ci95'][0])}, {fmt(s['ci95'][1])}] | "
                      f"{'–' if rel is None else f'{100 * rel:.1f}%'} | {paper.get(a, '')} |")
    (dest / "paper_numbers.json").write_text(json.dumps(data, indent=1, ensure_ascii=False, default=float),
                                             encoding="utf-8")
    print(f"\nfigures and numbers: {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "sweeps/paper-cpu"))
