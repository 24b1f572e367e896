"""The textbook models, trained by `econdsl train` on the compiled environment, reach their analytic
equilibria (stated in the models' comments) within 5%. Small budgets: a few seconds each on CI."""

from pathlib import Path

import numpy as np
import pytest

from econdsl.trainer import evaluate, session

MODELS = Path(__file__).resolve().parents[2] / "models"


def train(model: str, out: Path, **sets) -> tuple[dict, dict]:
    s = session.prepare(str(MODELS / model), str(out), sets={"threads": "1", **sets})
    session.train(s)
    arrays, summary = evaluate.load(out)
    return arrays, summary


def chosen_values(model: str, arrays: dict, agent: str, head: int = 0) -> np.ndarray:
    """Grid values of the actions chosen in the evaluation episode: [T, envs, agents]."""
    from econdsl.language import check_model

    grid = np.array(check_model(MODELS / model).heads[agent][head].values[0])
    return grid[arrays[f"action/{agent}"][..., head]]


def test_cournot_reaches_the_nash_quantity(tmp_path):
    a, b, c, n = 100.0, 1.0, 10.0, 2
    q_star = (a - c) / (b * (n + 1))  # 30
    arrays, summary = train("cournot.econ", tmp_path / "run")
    q = chosen_values("cournot.econ", arrays, "Firm")
    assert q.mean() == pytest.approx(q_star, rel=0.05)
    assert summary["series"]["P"]["mean"] == pytest.approx((a + n * c) / (n + 1), rel=0.05)
    assert summary["reward"]["Firm"] == pytest.approx(b * q_star**2, rel=0.05)


def test_labour_leisure_reaches_each_consumers_optimum(tmp_path):
    tau, chi = 0.25, 0.5
    wages = np.array([16.0, 24.0, 32.0, 40.0])
    h_star = (1 - tau) * wages / chi  # 24, 36, 48, 60
    arrays, _ = train("labour_leisure.econ", tmp_path / "run")
    hours = chosen_values("labour_leisure.econ", arrays, "Consumer").mean(axis=(0, 1))
    # aggregate labour supply within 5%; each consumer within one grid step (4 h) of its own optimum
    assert hours.sum() == pytest.approx(h_star.sum(), rel=0.05)
    assert np.abs(hours - h_star).max() <= 4.0 + 1e-6
    assert np.mean(np.abs(hours - h_star) / h_star) <= 0.05
