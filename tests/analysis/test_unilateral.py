"""Unilateral ε on textbook games whose unilateral gains are known analytically.

Each held profile is a non-equilibrium: a curriculum ``allow`` line holds every agent at one action (the
models in tests/analysis/models), or, without a mask, a policy whose logits make that action certain
(entropy ≈ 0: a settled policy that a best response started from it cannot move away from). The analytic
unilateral gain of one agent, everybody else held:

- Cournot triopoly (cournot3.econ), P = 100 − Q, cost 10, held at q = 15 each: profit (100 − 45 − 10)·15 = 675.
  A firm alone facing the others' 30 earns (60 − q)·q, largest at q = 30: 900. Gain 225.
- Bertrand duopoly (bertrand.econ), demand 100 − p at the lowest price, split at a tie, cost 10, held at
  p = 30: (30 − 10)·70 / 2 = 700. Undercutting to p < 30 takes the market: (p − 10)(100 − p), increasing
  below 55, so p = 29 on the integer grid: 19·71 = 1349. Gain 649.
- Public goods (public_goods.econ), 4 players, endowment 10, contributions × 1.6 shared: held at full
  contribution, 10 − 10 + 0.4·40 = 16; contributing 0 alone: 10 + 0.4·30 = 22. Gain 6.
- Monopolist (monopoly.econ), P = 100 − q, cost 10, held at q = 20: (70)·20 = 1400; optimum q = 45:
  45·45 = 2025. Gain 625.

Tolerance: the issue's 5% of the analytic gain. Against held (deterministic) opponents, the fixed-action
check is exact, so the measured gains are exact up to float32 rounding.
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

HELD = {  # model: (agent type, held action index, analytic unilateral gain, payoff before)
    "cournot3": ("Firm", 3, 225.0, 675.0),  # q grid 0:5:60, index 3 = 15
    "bertrand": ("Firm", 30, 649.0, 700.0),  # price grid 0:1:60
    "public_goods": ("Player", 10, 6.0, 16.0),  # g grid 0:1:10
    "monopoly": ("Monopolist", 4, 625.0, 1400.0),  # q grid 0:5:60, index 4 = 20
}
FAST = br.BRSettings(iterations=20, eval_iterations=2, members=2, replicas=16, screen_replicas=1024)


def _trainer(path: Path, curriculum: bool = True) -> Trainer:
    torch.set_num_threads(1)
    model = econdsl.load(path)
    layers = build_layers(model.resolved)
    layers.config.curriculum = curriculum
    return Trainer(model, layers.config, layers.curriculum_consts)


def _settle(tr: Trainer, agent: str, action: int) -> None:
    """Make ``agent``'s policy play ``action`` with probability 1 − 1e-40 whatever it observes."""
    pol = tr.policies[agent]
    with torch.no_grad():
        pol.logits.weight.zero_()
        pol.logits.bias.fill_(-50.0)
        pol.logits.bias[action] = 50.0


def _assert_gain(results: list[br.BRResult], gain: float, before: float) -> None:
    for r in results:
        assert r.before == pytest.approx(before, rel=1e-4), r
        assert r.eps_abs == pytest.approx(gain, rel=0.05), (r.members, r.deviation, r.eps_abs, gain)
        assert r.ci95[1] >= -1e-6 * abs(before)  # never negative beyond its interval


@pytest.mark.parametrize("name", list(HELD))
def test_profile_held_by_a_mask(name: str) -> None:
    agent, _, gain, before = HELD[name]
    tr = _trainer(HERE / "models" / f"{name}.econ")
    s = br.setup_from_trainer(tr, 16, seed=3)
    _assert_gain(br.unilateral(s, agent, FAST, seed=0), gain, before)


@pytest.mark.parametrize("name", ["cournot3", "public_goods"])
def test_deterministic_held_policy(name: str) -> None:
    """No mask: the policy itself has settled on the held action (entropy ≈ 1e-40)."""
    agent, action, gain, before = HELD[name]
    tr = _trainer(HERE / "models" / f"{name}.econ", curriculum=False)
    _settle(tr, agent, action)
    s = br.setup_from_trainer(tr, 16, seed=3)
    _assert_gain(br.unilateral(s, agent, FAST, seed=0), gain, before)


@pytest.mark.slow
def test_fresh_head_explores_away_from_a_settled_policy() -> None:
    """Without the fixed-action check: the copy of the settled policy cannot move (its gradients vanish),
    the fresh head with restored entropy finds the Cournot deviation (gain 225)."""
    agent, action, gain, before = HELD["cournot3"]
    tr = _trainer(HERE / "models" / "cournot3.econ", curriculum=False)
    _settle(tr, agent, action)
    s = br.setup_from_trainer(tr, 16, seed=3)
    explore = br.BRSettings(iterations=40, eval_iterations=2, members=1, replicas=16, exact=False)
    rs = br.unilateral(s, agent, explore, seed=1)
    assert "fresh head" in rs[0].deviation, rs[0].deviation
    assert rs[0].eps_abs == pytest.approx(gain, rel=0.05)


def test_type_level_differs_from_unilateral() -> None:
    """Public goods: alone, a player gains 6 by contributing nothing; all players together lose (everybody
    at 0 earns 10 < 16), so the meta-game ε of the type is negative while the unilateral one is 6."""
    agent, _, gain, before = HELD["public_goods"]
    tr = _trainer(HERE / "models" / "public_goods.econ")
    s = br.setup_from_trainer(tr, 16, seed=3)
    r = br.best_response(s, agent, br.BRSettings(iterations=40, eval_iterations=2), seed=0)
    assert r.kind == "type" and r.before == pytest.approx(before)
    assert r.eps_abs < 0


@pytest.mark.slow
def test_trained_nash_profile_has_small_unilateral_epsilon() -> None:
    """models/cournot.econ: the Nash quantity q* = 30 (profit 900) is on the grid; after training, no firm
    gains more than 2% of its payoff by deviating alone (the rest of the stochastic policy's spread)."""
    tr = _trainer(MODELS / "cournot.econ")
    while tr.iteration < tr.cfg.iterations:
        tr.iterate()
    s = br.setup_from_trainer(tr, 32, seed=3)
    rs = br.unilateral(s, "Firm", br.BRSettings(iterations=20, eval_iterations=4, replicas=32), seed=0)
    for r in rs:
        assert r.before > 850, r
        assert r.ci95[1] >= 0 and r.eps_abs < 0.02 * 900, (r.members, r.eps_abs, r.deviation)


def test_sample_members_is_stratified() -> None:
    class E:
        n_agents = {"C": 10}
        agent_types = ["C"]

    s = br.Setup.__new__(br.Setup)
    s.env = E()
    theta = torch.tensor([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], dtype=torch.float64).numpy()[:, None]
    assert br.sample_members(s, "C", 2, theta) == (2, 7)  # θ quantiles 0.25 and 0.75: members 7 (θ=2), 2 (θ=7)
    assert br.sample_members(s, "C", 20, theta) == tuple(range(10))
    assert br.relative_scale(0.5, -0.01) == 0.5 and br.relative_scale(0.0, -3.0) == 3.0


def test_cli_json(tmp_path: Path) -> None:
    from econdsl.trainer.session import prepare, train

    run = tmp_path / "run"
    train(prepare(str(HERE / "models" / "cournot3.econ"), str(run)))
    # the run reports its policy entropy per head (the mask holds one of 13 choices: entropy 0 of ln 13)
    from econdsl.trainer.report import make_report

    header = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "Firm/entropy[q]" in header and "Firm/entropy_fraction[q]" in header
    report = make_report(run).read_text(encoding="utf-8")
    assert "| Firm | q (per column) | 0 | – | 0.0% |" in report
    assert "| Firm | all (sum over 1 columns) | 0 | 2.56 |" in report
    r = CliRunner().invoke(main, ["best-response", str(run), "--json", "--iterations", "5", "--eval-iterations",
                                  "2", "--members", "1", "--replicas", "8"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    firm = data["types"]["Firm"]
    for kind in ("unilateral", "type"):
        for key in ("epsilon", "epsilon_relative", "ci95", "before", "after", "members"):
            assert key in firm[kind], (kind, key)
    assert firm["unilateral"]["epsilon"] == pytest.approx(225.0, rel=0.05)
    assert "table 3" in data["note"]
    assert (run / "best_response" / "epsilon.md").exists()
    r = CliRunner().invoke(main, ["best-response", str(run), "--member", "Firm:7"])
    assert r.exit_code == 2 and "members 0..2" in r.output


def test_a_screened_deviation_that_loses_on_fresh_episodes_falls_back_to_staying(monkeypatch) -> None:
    """The monopolist held at its optimum (q = 45): every deviation loses. If the screening's noise ranks a
    losing one first, its measured loss is reported in the label and ε is staying's 0 (staying is always open,
    so ε ≥ 0), never a negative ε beyond its interval."""
    tr = _trainer(HERE / "models" / "monopoly.econ", curriculum=False)
    _settle(tr, "Monopolist", 9)  # q grid 0:5:60, index 9 = 45
    s = br.setup_from_trainer(tr, 16, seed=3)
    real = br._screen

    def noisy(s, policies, agent, blocks, *rest):  # a losing fixed action screened as the best gain
        gains = [(min(g, 0.0), se) for g, se in real(s, policies, agent, blocks, *rest)]
        k = next(k for k, b in enumerate(blocks) if b.kind == "fixed" and b.action[0] not in (-1, 9))
        gains[k] = (1.0, 0.0)
        return gains

    monkeypatch.setattr(br, "_screen", noisy)
    settings = br.BRSettings(iterations=0, eval_iterations=2, members=1, replicas=16, fresh=False)
    [r] = br.unilateral(s, "Monopolist", settings, seed=0)
    assert r.before == pytest.approx(2025.0, rel=1e-4)
    assert r.eps_abs == 0.0 and r.ci95 == (0.0, 0.0)
    assert r.deviation.startswith("none (staying is best: the screening's best, fixed action index (")
    assert "changed U by -" in r.deviation  # the loss it was measured to make
