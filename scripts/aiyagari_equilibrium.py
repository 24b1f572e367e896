"""The stationary equilibrium of models/aiyagari.econ, the benchmark for its trained runs.

Reads β, α, δ, the chain P, the levels z and the savings grid from the model, then for a trial r:
solves each household's problem by value-function iteration on an asset grid (the same choice set as the
model: save a fraction s of cash on hand (1 + r)·a + w·z_e, consume the rest, log utility), simulates
10,000 households for 500 periods from the complete-markets capital, and compares their mean assets
(capital supply) with the firms' demand L·(α / (r + δ))^(1/(1−α)). Bisection on r gives the rate that
clears the capital market (Aiyagari 1994, fig. II):

    python scripts/aiyagari_equilibrium.py [models/aiyagari.econ]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from econdsl.language import check_model

ASSETS = np.linspace(0.0, 40.0, 500)  # asset grid of the value function (linear interpolation between points)


def economy(path: Path) -> dict:
    r = check_model(path)
    table = {k: np.array(t.values).reshape(t.shape) for k, t in r.tables.items()}
    return {"β": r.consts["β"], "α": r.consts["α"], "δ": r.consts["δ"], "P": table["P"], "z": table["z"],
            "S": np.array(r.heads["Household"][0].values[0])}


def supply_and_demand(m: dict, r: float, seed: int = 0) -> tuple[float, float, list[float]]:
    """(capital supplied by the households' stationary assets, capital demanded by firms, mean assets by
    productivity state) at the interest rate r."""
    β, α, δ, P, z, S = m["β"], m["α"], m["δ"], m["P"], m["z"], m["S"]
    pi = np.linalg.matrix_power(P, 500)[0]  # stationary distribution of the chain
    L = float(pi @ z)
    k = (α / (r + δ)) ** (1 / (1 - α))  # K/L where F_K − δ = r
    w = (1 - α) * k**α
    cash = (1 + r) * ASSETS[:, None] + w * z[None, :]  # [A, states]
    nxt = S[None, None, :] * cash[:, :, None]  # [A, states, choices]
    u = np.log((1 - S)[None, None, :] * cash[:, :, None])
    V = np.zeros((len(ASSETS), len(z)))
    for _ in range(5000):
        EV = V @ P.T  # EV[a', e] = Σ_e' P[e, e'] V[a', e']
        cont = np.stack([np.interp(nxt[:, e, :].ravel(), ASSETS, EV[:, e]).reshape(nxt.shape[0], -1)
                         for e in range(len(z))], 1)
        Q = u + β * cont
        new = Q.max(2)
        done = np.abs(new - V).max() < 1e-7
        V = new
        if done:
            break
    policy = Q.argmax(2)
    rng = np.random.default_rng(seed)
    n = 10_000
    a, e = np.full(n, k * L), rng.choice(len(z), n, p=pi)
    cum = P.cumsum(1)
    for _ in range(500):
        choice = policy[np.clip(np.searchsorted(ASSETS, a), 0, len(ASSETS) - 1), e]
        a = S[choice] * ((1 + r) * a + w * z[e])
        e = (rng.random(n)[:, None] > cum[e]).sum(1)
    return float(a.mean()), k * L, [float(a[e == s].mean()) for s in range(len(z))]


def equilibrium(m: dict, steps: int = 10) -> tuple[float, float, list[float]]:
    """Bisection on r in (0, 1/β − 1): the rate where supply meets demand, its capital, assets by state."""
    lo, hi = 0.0, 1 / m["β"] - 1 - 1e-4
    for _ in range(steps):
        mid = (lo + hi) / 2
        supply, demand, _ = supply_and_demand(m, mid)
        lo, hi = (lo, mid) if supply > demand else (mid, hi)
    r = (lo + hi) / 2
    supply, _, by_state = supply_and_demand(m, r)
    return r, supply, by_state


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "models" / "aiyagari.econ")
    m = economy(path)
    r, K, by_state = equilibrium(m)
    print(f"complete markets: r = 1/β − 1 = {1 / m['β'] - 1:.4f}")
    print(f"Aiyagari equilibrium: r* = {r:.4f}, K* = {K:.3f}, mean assets by productivity state: "
          + ", ".join(f"{x:.2f}" for x in by_state))
