"""The textbook models, trained by `econdsl train` on the compiled environment, reach their analytic
equilibria (stated in the models' comments).

Training is stochastic and its last digits depend on the CPU, so the criteria are what the behaviour
implies on any seed, not the numbers one run produced: on a grid, a learned choice is the optimum or a
neighbouring grid point (PPO stops improving once the gain of a step is within its noise), the choices
are ordered as the theory orders them, and the payoff is within a stated fraction of the optimum. Each
criterion is checked on several seeds; the evaluation samples 64 replicas of the trained policy.
"""

from pathlib import Path

import numpy as np
import pytest

from econdsl.trainer import evaluate, session

MODELS = Path(__file__).resolve().parents[2] / "models"
SEEDS = [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
EVAL_ENVS = 64


def train(model: str, out: Path, seed: int) -> tuple[dict, dict]:
    s = session.prepare(str(MODELS / model), str(out),
                        sets={"threads": "1", "seed": str(seed), "eval_envs": str(EVAL_ENVS)})
    session.train(s)
    return evaluate.load(out)


def chosen_values(model: str, arrays: dict, agent: str, head: int = 0) -> np.ndarray:
    """Grid values of the actions chosen in the evaluation episode: [T, envs, agents]."""
    from econdsl.language import check_model

    grid = np.array(check_model(MODELS / model).heads[agent][head].values[0])
    return grid[arrays[f"action/{agent}"][..., head]]


def modal(values: np.ndarray) -> np.ndarray:
    """Each agent's most frequent choice over steps and replicas: [agents]."""
    flat = values.reshape(-1, values.shape[-1])
    out = []
    for k in range(flat.shape[1]):
        v, n = np.unique(flat[:, k], return_counts=True)
        out.append(v[np.argmax(n)])
    return np.array(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_cournot_reaches_the_nash_quantity(tmp_path, seed):
    a, b, c, n, step = 100.0, 1.0, 10.0, 2, 2.0
    q_star = (a - c) / (b * (n + 1))  # 30, on the grid 0:2:60
    arrays, summary = train("cournot.econ", tmp_path / "run", seed)
    q = chosen_values("cournot.econ", arrays, "Firm")
    # every firm plays the Nash quantity or a neighbouring grid point
    assert np.all(np.abs(modal(q) - q_star) <= step), modal(q)
    # so the market price is P* = 40 within b·n·step (both firms one grid step off), plus sampling spread
    p_star = (a + n * c) / (n + 1)
    assert abs(summary["series"]["P"]["mean"] - p_star) <= b * n * step + 2.0
    # and each firm's profit is near b·q*² = 900: one grid step off for both firms gives 832 or 952
    assert abs(summary["reward"]["Firm"] - b * q_star**2) <= 0.1 * b * q_star**2


@pytest.mark.parametrize("seed", SEEDS)
def test_labour_leisure_reaches_each_consumers_optimum(tmp_path, seed):
    tau, chi, step = 0.25, 0.5, 4.0
    wages = np.array([16.0, 24.0, 32.0, 40.0])
    h_star = (1 - tau) * wages / chi  # 24, 36, 48, 60, on the grid 0:4:80
    u_star = ((1 - tau) * wages) ** 2 / (2 * chi)  # 144, 324, 576, 900
    arrays, _ = train("labour_leisure.econ", tmp_path / "run", seed)
    hours = modal(chosen_values("labour_leisure.econ", arrays, "Consumer"))
    # each consumer works its own optimum or a neighbouring grid point, so hours rise with the wage
    assert np.all(np.abs(hours - h_star) <= step), hours
    assert np.all(np.diff(hours) > 0), hours
    # each consumer's utility is within 10% of its optimum: one grid step off costs χ·step²/2 = 4, at
    # most 2.8% (the lowest wage); the rest is left for the policy's remaining randomness
    u = arrays["reward/Consumer"].mean(axis=(0, 1))
    assert np.all(u >= 0.9 * u_star), u / u_star
