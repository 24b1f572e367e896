"""Is the RBC consumers' payoff flat in the heads they leave near uniform? Evaluation-only measurements on the
evaluation episode (`eval.npz`) of quick-preset runs of models/rbc_open.econ (docs/results.md, "Consumers'
policy entropy, per head"); no simulation, nothing trained.

- prices: do the firms post equal prices (then the demand columns only set the basket's composition, since
  step 1 scales every basket down to the budget)?
- the even basket: the same consumption spread evenly over the ten goods against the learned basket,
  Σ_i u(c̄) − Σ_i u(c_i) per consumer and step (the best any composition can do when prices are equal and
  nothing is rationed; a lower bound on nothing, an upper bound on what the demand heads can gain);
- employers: do the consumers who work avoid firms that pay less than the top wage they observe, and what
  share of its maximum entropy an employer head uniform over the top-wage firms has (a best response: the
  heads are drawn independently given the observation, so the employer cannot depend on the hours drawn);
- a first-order value of an employer chosen as the argmax of the observed wages (the extra income ΔB at step
  t is spent at t+1 on the consumer's own basket; income at the last step is never spent).

    python bench/experiments/consumer_heads.py sweeps/t3/seed0 sweeps/t3/seed1 sweeps/t3/seed2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ETA = 0.1  # the model's CRRA coefficient
HOURS = np.array([0, 260, 520, 780, 1040])  # the hours grid
DEMAND, HOURS_COL, EMPLOYER = slice(0, 10), 10, 11  # the consumer's action columns


def u(c: np.ndarray) -> np.ndarray:
    return ((c + 1) ** (1 - ETA) - 1) / (1 - ETA)


def measure(run: Path) -> list[str]:
    d = np.load(run / "eval.npz")
    a, w, p = d["action/Consumer"], d["series/w"], d["series/p"]  # [T, E, n, 12], [T, E, F], [T, E, F]
    c, r, y, D = d["series/c"], d["series/r_c"], d["series/y"], d["series/D"]
    T, F = a.shape[0], w.shape[-1]
    later = np.arange(T)[:, None, None] > 0  # prices and wages at step 0 are the initial state
    rationed = (D > y).mean((1, 2))
    even = (u(c.mean(-1, keepdims=True)) * F - u(c).sum(-1, keepdims=True))[..., 0]  # [T, E, n]
    works = a[..., HOURS_COL] > 0
    emp = a[..., EMPLOYER]
    top = w == w.max(-1, keepdims=True)
    chose = np.stack([emp == i for i in range(F)], -1)  # [T, E, n, F]
    worker_share = (chose & works[..., None]).sum(2) / np.maximum(works.sum(2)[..., None], 1)  # [T, E, F]
    below = ~top & later
    k_top = top.sum(-1)[1:]  # firms at the top wage, steps 1..
    br_share = np.log(k_top).mean() / np.log(F)  # heads are drawn independently: the employer cannot see the hours
    paid = np.take_along_axis(w, emp, axis=2)
    dz = HOURS[a[..., HOURS_COL]] * (w.max(-1, keepdims=True) - paid)  # income lost [T, E, n]
    dem = a[..., DEMAND]
    ratio = np.where(D > y, y / np.maximum(D, 1e-12), 1.0)
    S = d["series/S"]
    money = (((c + 1) ** -ETA) * dem * ratio[:, :, None, :]).sum(-1) / np.maximum(S, 1e-12)  # utils per unit
    money = np.where(d["series/λ"] < 1, money, 0.0)
    argmax_gain = (dz[:-1] * money[1:]).sum(0) / T  # [E, n]
    size = np.abs(r).mean()
    return [
        f"{run}: prices from step 1 on: min {p[1:].min():,.0f}, max {p[1:].max():,.0f}, mean {p[1:].mean():,.0f}; "
        f"share of goods rationed per step {np.round(rationed, 3).tolist()}",
        f"  mean |consumer reward| per step {size:.3f}, mean reward {r.mean():.3f}",
        f"  even basket: gain per consumer and step {even.mean():.4f} utils (largest consumer "
        f"{even.mean((0, 1)).max():.4f}) = {100 * even.mean() / size:.1f}% of the mean |reward|",
        f"  workers at a firm paying below the top wage: {worker_share[below].mean():.4f} per such firm "
        f"(top-wage firm: {worker_share[top & later].mean():.4f}; uniform: {1 / F:.2f}); "
        f"{below.sum()} of {below.size} firm-steps below the top",
        f"  entropy share of an employer head uniform over the top-wage firms: {br_share:.3f}",
        f"  employer = argmax of observed wages, first-order gain per step: mean {argmax_gain.mean():.4f}, "
        f"largest consumer {argmax_gain.max():.4f} utils",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="run directories of models/rbc_open.econ")
    for run in ap.parse_args().runs:
        print("\n".join(measure(run)))


if __name__ == "__main__":
    main()
