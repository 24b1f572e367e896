"""Have the RBC consumers learned the law of demand? A probe of the learned demand heads that does not depend on
the prices the run ended at: play the run's learned profile for one episode (its last curriculum state), and
at every consumer observation from step 2 on (prices set by the firms) lower the observed price of one good at
a time to `--cut` (the others as observed) and read the policy's demand for that good, against the same
observation unchanged. Nothing is trained; the environment is not stepped with the changed observations.

Prints per run: the demand heads' entropy (share of ln 11) on the observations as played, the mean attempted
units of a good as played and with its price cut, and the shift of the basket towards it (the good's share of
the attempted units, ĉ_i / Σ_k ĉ_k; 10% for a uniform policy): a consumer that learned to buy cheap goods
shifts its basket towards the good whose price fell; one whose demand ignores prices does not.

    python bench/experiments/demand_response.py RUN [RUN ...] [--cut 1000] [--envs 8]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from econdsl.analysis.best_response import load_trainer
from econdsl.trainer.policy import TypePolicy

DEMAND = 10  # the consumer's first ten action columns: attempted units 0..10 of each firm's good


@torch.no_grad()
def probe(run: Path, cut: float, n_envs: int, seed: int = 2000) -> dict[str, float]:
    tr = load_trainer(run)
    env = tr.model.env(n_envs, backend="torch", device="cpu", seed=seed)
    e = max(tr.iteration - 1, 0)
    tr.apply_curriculum(env, e)
    masks = tr.masks(e)
    gen = torch.Generator().manual_seed(seed)
    labels = env.obs_labels["Consumer"]
    price_col = [labels.index(f"p[{i}]") for i in range(DEMAND)]
    units = torch.arange(11, dtype=torch.float64)
    obs = env.reset()
    rows = []
    for t in range(tr.resolved.horizon):
        act = {}
        for a in env.stages[0]:
            x = obs[a]
            E, n, d = x.shape
            logp, _ = tr.policies[a](x.reshape(E * n, d).float(), masks[a])
            act[a] = TypePolicy.sample(logp, gen).view(E, n, -1)
            if a == "Consumer" and t >= 2:
                rows.append((x.reshape(E * n, d).float(), logp))
        obs, _, _, _ = env.step(act)
    pol, mask = tr.policies["Consumer"], masks["Consumer"]
    h, base_units, cut_units, base_share, cut_share, prices = [], [], [], [], [], []
    for x, logp in rows:
        p = logp[:, :DEMAND, :11].double().exp()  # [B, 10, 11]
        h.append(float(-(p * p.clamp_min(1e-30).log()).sum(-1).mean()) / math.log(11))
        mean = (p * units).sum(-1)  # attempted units of each good [B, 10]
        prices.append(float(x[:, price_col].mean()))
        for i in range(DEMAND):
            y = x.clone()
            y[:, price_col[i]] = cut
            q = pol(y, mask)[0][:, :DEMAND, :11].double().exp()
            m2 = (q * units).sum(-1)
            base_units.append(float(mean[:, i].mean()))
            cut_units.append(float(m2[:, i].mean()))
            base_share.append(float((mean[:, i] / mean.sum(-1).clamp_min(1e-12)).mean()))
            cut_share.append(float((m2[:, i] / m2.sum(-1).clamp_min(1e-12)).mean()))
    return {"entropy_fraction": float(np.mean(h)), "price": float(np.mean(prices)),
            "units": float(np.mean(base_units)), "units_cut": float(np.mean(cut_units)),
            "share": float(np.mean(base_share)), "share_cut": float(np.mean(cut_share))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--cut", type=float, default=1000.0, help="the lowered price (default 1000)")
    ap.add_argument("--envs", type=int, default=8)
    args = ap.parse_args()
    print(f"| run | demand entropy / max | mean observed price | units of a good | with its price at {args.cut:g} "
          f"| its share of the basket | with its price at {args.cut:g} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for run in args.runs:
        r = probe(run, args.cut, args.envs)
        print(f"| {run} | {100 * r['entropy_fraction']:.1f}% | {r['price']:,.0f} | {r['units']:.2f} | "
              f"{r['units_cut']:.2f} | {100 * r['share']:.1f}% | {100 * r['share_cut']:.1f}% |")


if __name__ == "__main__":
    main()
