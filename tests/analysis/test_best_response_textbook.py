"""The ε test where the best response is known: the labour–leisure model (models/labour_leisure.econ).

Consumer j's utility is 18·h − χ_j·h²/2 on the hours grid 0:2:80, maximised at h*_j = 18/χ_j
(20, 30, 40, 50 hours; u* = 180, 270, 360, 450, mean 315). Consumers do not interact, so the
type's best response is every consumer at h*_j and ε = 315 − U(π) exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import econdsl
from econdsl.analysis import best_response as br
from econdsl.cli import main
from econdsl.trainer.config import build_layers
from econdsl.trainer.trainer import Trainer

HERE = Path(__file__).resolve().parent
MODELS = Path(__file__).resolve().parents[2] / "models"
CHI = torch.tensor([0.9, 0.6, 0.45, 0.36])
HOURS = torch.arange(0, 81, 2, dtype=torch.float32)
U_STAR = 315.0


def _utility_of(policy_probs: torch.Tensor) -> float:
    """Analytic mean utility when every consumer draws hours from ``policy_probs`` [4, 41]."""
    u = 18 * HOURS[None, :] - CHI[:, None] * HOURS[None, :] ** 2 / 2
    return float((policy_probs * u).sum(1).mean())


# Under pytest-xdist the module's tests share one worker, so the module's trained run is trained once.
pytestmark = pytest.mark.xdist_group("best_response_textbook")


@pytest.fixture(scope="module")
def trained() -> Trainer:
    torch.set_num_threads(1)  # module fixtures run before the per-test one-thread fixture
    model = econdsl.load(HERE / "models" / "labour_leisure.econ")
    layers = build_layers(model.resolved)
    tr = Trainer(model, layers.config, layers.curriculum_consts)
    while tr.iteration < tr.cfg.iterations:
        tr.iterate()
    return tr


def test_trained_equilibrium_has_small_epsilon(trained: Trainer) -> None:
    s = br.setup_from_trainer(trained, 64, seed=5)
    for algo in ("ppo", "pg"):
        r = br.best_response(s, "Consumer", br.BRSettings(iterations=60, algo=algo), seed=0)
        assert r.before > 0.98 * U_STAR  # trained to (within 2% of) the analytic optimum
        # ε cannot exceed what is left to gain, and is a small fraction of the payoff.
        assert -0.5 <= r.eps_abs <= U_STAR - r.before + 0.5
        assert r.eps_abs / U_STAR < 0.01


def test_perturbed_policy_epsilon_is_close_to_the_analytic_gain(trained: Trainer) -> None:
    s = br.setup_from_trainer(trained, 64, seed=5)
    bad = {a: p for a, p in s.policies.items()}
    import copy

    bad["Consumer"] = copy.deepcopy(s.policies["Consumer"])
    with torch.no_grad():  # a non-equilibrium policy: mostly zero hours, whoever the consumer is
        bad["Consumer"].logits.weight.zero_()
        bad["Consumer"].logits.bias.fill_(-3.0)
        bad["Consumer"].logits.bias[0] = 3.0
    s_bad = br.Setup(s.env, s.n_envs, bad, s.cfg, s.horizon, s.entropy_end, s.entropy_start)
    probs = torch.softmax(bad["Consumer"].logits.bias.detach(), 0).expand(4, -1)
    analytic_before = _utility_of(probs)
    analytic_gain = U_STAR - analytic_before
    r = br.best_response(s_bad, "Consumer", br.BRSettings(iterations=100), seed=0)
    assert r.before == pytest.approx(analytic_before, rel=0.2, abs=3.0)
    assert r.eps_abs > 0.5 * U_STAR
    assert r.eps_abs == pytest.approx(analytic_gain, rel=0.03)


def test_cli_on_a_run_directory(tmp_path: Path) -> None:
    from econdsl.trainer.session import prepare, train

    run = tmp_path / "run"
    session = prepare(str(HERE / "models" / "labour_leisure.econ"), str(run), flags={"iterations": 150})
    train(session)
    r = CliRunner().invoke(main, ["best-response", str(run), "--iterations", "20", "--seeds", "2",
                                  "--eval-iterations", "2", "--members", "2", "--replicas", "16"])
    assert r.exit_code == 0, r.output
    data = json.loads((run / "best_response" / "epsilon.json").read_text(encoding="utf-8"))
    typ = data["types"]["Consumer"]["type"]
    uni = data["types"]["Consumer"]["unilateral"]
    assert typ["seeds"] == [0, 1] and uni["distribution"]["n"] == 4  # 2 members × 2 seeds
    assert typ["train_gain"] > 100  # consumers learn from ≈ random hours to ≈ the optimum
    assert typ["scale"] == pytest.approx(max(abs(typ["train_gain"]), typ["before"]), rel=0.05)
    assert typ["epsilon_relative"] == pytest.approx(typ["epsilon"] / typ["scale"], rel=1e-6, abs=1e-9)
    # each consumer is alone in its problem: the unilateral gain is what is left to its own optimum
    assert all(m["epsilon"] < 0.05 * U_STAR for m in uni["members"])
    assert (run / "best_response" / "curves.png").stat().st_size > 1000
    csv_rows = (run / "best_response" / "epsilon.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_rows) == 1 + 2 + 4
    r = CliRunner().invoke(main, ["best-response", str(run), "--type", "Firm"])
    assert r.exit_code != 0 and "not an agent type" in r.output
