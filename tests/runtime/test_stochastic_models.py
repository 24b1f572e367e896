"""The stochastic models of models/ do what their sources say, on long random-action runs (fixed seeds).

- nk_calvo: the share of firms that reset averages 1 − θ within 1 % (3.2·10^5 Bernoulli draws: the
  standard error is 0.15 % of 1 − θ);
- search_matching: realised matches per step average m(u, v) within 2 %, and every matched worker joins
  a firm that posted a vacancy (the ranking rule over pairs of firms);
- aiyagari: productivity follows the chain P (empirical transitions within 3 standard errors), assets
  stay above the borrowing limit, and the factor prices households observe and are paid are the
  Cobb–Douglas marginal products of the current capital (the assets) and labour.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import econdsl

MODELS = Path(__file__).resolve().parents[2] / "models"
K_CM = (0.36 / (1 / 0.96 - 1 + 0.08)) ** (1 / 0.64)  # aiyagari.econ's initial assets: complete-markets capital


def _run(name: str, n_envs: int, steps: int, seed: int, record):
    env = econdsl.load(MODELS / f"{name}.econ").env(n_envs, backend="torch", dtype=torch.float64, seed=seed,
                                                    quantities=True)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        before = env.state
        acts = env.random_actions(gen)
        env.step(acts)
        record(before, acts, env.state)


@pytest.mark.slow
def test_calvo_reset_share_is_one_minus_theta():
    total = []
    _run("nk_calvo", 64, 500, 11, lambda b, a, s: total.append(float(s["resets"].mean())))
    assert abs(np.mean(total) / 0.25 - 1) <= 0.01


@pytest.mark.slow
def test_realised_matches_average_the_matching_function():
    m, realised, bad = [], [], []

    def record(before, acts, s):
        m.append(float(s["m"].sum()))
        realised.append(float(s["matches"].sum()))
        matched = s["matched"].bool()
        post = acts["Firm"][:, :, 0]  # [E, firms]
        hire = s["hire"].long()
        bad.append(int((matched & (torch.gather(post, 1, hire) != 1)).sum()))

    _run("search_matching", 64, 400, 5, record)
    assert abs(sum(realised) / sum(m) - 1) <= 0.02
    assert sum(bad) == 0


def test_aiyagari_chain_and_factor_prices():
    P = np.array([[0.8, 0.2, 0.0], [0.1, 0.8, 0.1], [0.0, 0.2, 0.8]])
    trans = np.zeros((3, 3))

    def record(before, acts, s):
        if float((s["a"] - K_CM).abs().max()) < 1e-9:  # an episode just ended: the states were reset
            return
        np.add.at(trans, (before["e"].long().numpy().ravel(), s["e"].long().numpy().ravel()), 1)
        assert bool((s["a"] >= 0).all())
        z = torch.tensor([0.2, 1.0, 1.8], dtype=torch.float64)
        # the step pays this period's prices (the states it starts from) ...
        assert torch.allclose(s["cash"], (1 + before["r"][:, None]) * before["a"]
                              + before["w"][:, None] * z[before["e"].long()])
        # ... and ends with next period's: the marginal products of the assets saved and the labour drawn
        # (after an episode's last step the states are reset: a = K_cm, e = 1 are priced the same way)
        K = s["a"].mean(1).clamp(min=0.01)
        L = z[s["e"].long()].mean(1)
        assert torch.allclose(s["r"], 0.36 * (K / L) ** -0.64 - 0.08)
        assert torch.allclose(s["w"], 0.64 * (K / L) ** 0.36)

    _run("aiyagari", 16, 120, 3, record)
    for i in range(3):
        row = trans[i].sum()
        for k in range(3):
            assert abs(trans[i, k] / row - P[i, k]) <= 3 * math.sqrt(P[i, k] * (1 - P[i, k]) / row) + 1e-12
