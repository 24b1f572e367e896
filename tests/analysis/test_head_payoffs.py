"""What each action head's choices are worth at a profile (the unilateral screening's per-head summary), and
the run report quoting it next to the head's entropy: a head the payoff is flat in is not "unlearned".

Model tests/analysis/models/two_shops.econ: u = 2h − h²/2 over h = 0..4 (u = 0, 1.5, 2, 1.5, 0) and a shop
choice between two shops with the same price. Against the (near-uniform) untrained policy, with common random
numbers: holding h = 2 gains 2 − Ū and holding h = 0 gains −Ū on the same draws, so best − worst = u(2) − u(0)
= 2 exactly whatever the draws; Ū ≈ 1 (uniform h), so the best gain is about 1; holding either shop changes
nothing the worker gets: gain 0 exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import econdsl
from econdsl.analysis import best_response as br
from econdsl.cli import main
from econdsl.trainer.config import build_layers
from econdsl.trainer.health import check_run
from econdsl.trainer.trainer import Trainer

MODEL = Path(__file__).resolve().parent / "models" / "two_shops.econ"
SCREEN = br.BRSettings(iterations=0, eval_iterations=2, members=2, replicas=16, fresh=False)


def _setup() -> br.Setup:
    torch.set_num_threads(1)
    model = econdsl.load(MODEL)
    layers = build_layers(model.resolved)
    return br.setup_from_trainer(Trainer(model, layers.config, layers.curriculum_consts), 16, seed=3)


@pytest.mark.parametrize("seed", [0, 1])
def test_screening_says_what_each_head_is_worth(seed: int) -> None:
    for r in br.unilateral(_setup(), "Worker", SCREEN, seed=seed):
        hours, shop = r.heads["hours"], r.heads["shop"]
        assert hours["best"] - hours["worst"] == pytest.approx(2.0, abs=1e-5)  # u(2) − u(0), exact under CRN
        assert hours["best"] == pytest.approx(1.0, abs=0.35)  # 2 − Ū, Ū ≈ 1 (about 4 standard errors)
        assert "(2, ·)" in hours["best_deviation"] and hours["candidates"] == 5
        assert shop["best"] == 0.0 and shop["worst"] == 0.0 and shop["candidates"] == 2  # flat: exactly 0
        assert r.abs_reward == pytest.approx(1.0, abs=0.35)


def _rows(fractions: dict[str, float], nvec: dict[str, list[int]]) -> list[dict[str, str]]:
    total = sum(f * math.log(n) for h, f in fractions.items() for n in nvec[h])
    row = {"Consumer/training": "1", "Consumer/reward": "1", "Consumer/entropy": str(total)}
    row.update({f"Consumer/entropy_fraction[{h}]": str(f) for h, f in fractions.items()})
    return [dict(row) for _ in range(20)]


def _finding(payoffs: dict | None):
    nvec = {"demand": [11] * 10, "hours": [5]}
    info = {"config": {"curriculum": False},
            "architecture": {"types": {"Consumer": {"action_nvec": nvec["demand"] + nvec["hours"]}}}}
    rows = _rows({"demand": 0.99, "hours": 0.2}, nvec)  # 94% of the maximum in total
    found = [f for f in check_run(info, rows, ["Consumer"], None, None, payoffs) if "entropy" in f.check]
    assert len(found) == 1
    return found[0]


def _payoffs(demand_best: float) -> dict:
    return {"Consumer": {"demand": {"best": demand_best, "worst": -0.01, "abs_reward": 0.4},
                         "hours": {"best": 0.1, "worst": -1.5, "abs_reward": 0.4}}}


def test_report_says_when_no_fixed_choice_beats_the_uniform_heads() -> None:
    f = _finding(_payoffs(0.004))  # 1% of |reward|: close to a best response
    assert f.level == "ok" and f.check == "entropy near its maximum, close to a best response"
    assert "demand +0.004 (1.0%; worst -0.01), hours +0.1 (25.0%; worst -1.5)" in f.detail
    assert "In the heads near uniform (demand) no fixed choice gains more than 2%" in f.detail


def test_report_keeps_the_warning_when_a_uniform_head_pays() -> None:
    payoffs = _payoffs(0.05)  # 12.5% of |reward|: the demand head matters and is left uniform
    payoffs["Consumer"]["demand"]["best_se"] = 0.004
    f = _finding(payoffs)
    assert f.level == "warning" and f.check == "entropy near its maximum"
    assert "demand +0.05 ± 0.004 (12.5%; worst -0.01)" in f.detail and "best response" not in f.detail


def test_report_without_a_measurement_says_how_to_get_one() -> None:
    f = _finding(None)
    assert f.level == "warning" and "per head: demand 99%, hours 20%" in f.detail
    assert "`econdsl best-response RUN` measures whether the payoff depends on these heads" in f.detail


def test_best_response_results_reach_the_run_report(tmp_path: Path) -> None:
    from econdsl.trainer.report import make_report
    from econdsl.trainer.session import prepare, train

    run = tmp_path / "run"
    train(prepare(str(MODEL), str(run)))
    r = CliRunner().invoke(main, ["best-response", str(run), "--json", "--kind", "unilateral", "--iterations", "0",
                                  "--eval-iterations", "2", "--members", "1", "--replicas", "8", "--no-fresh"])
    assert r.exit_code == 0, r.output
    heads = json.loads(r.output)["types"]["Worker"]["unilateral"]["heads"]
    assert heads["shop"]["best"] == 0.0 and heads["hours"]["best"] > 0.3
    md = (run / "best_response" / "epsilon.md").read_text(encoding="utf-8")
    assert "- `Worker` (mean |reward|" in md and "shop 0 (±0, 0.00%; worst 0)" in md
    report = make_report(run).read_text(encoding="utf-8")
    assert "the best fixed choice of one head gains per step" in report and "shop +0 (0.0%; worst +0)" in report


def test_a_per_member_head_is_also_held_whole() -> None:
    """A head of several columns (``demand[Firm]``) is screened one column at a time and all its columns at
    one value (the even basket); joint actions follow when there are few."""
    cands = br.fixed_candidates([3, 3, 2], 1, 100, torch.Generator().manual_seed(0), [[0, 1], [2]])
    actions = [a for a, t in cands]
    assert all(t is None for _, t in cands) and len(actions) == 8 + 3 + 18
    assert actions[8:11] == [(0, 0, -1), (1, 1, -1), (2, 2, -1)]
    assert (-1, -1, 1) in actions and (2, 1, 0) in actions


def test_results_older_than_the_run_are_not_quoted(tmp_path: Path) -> None:
    """A run directory trained again after its best response: the old per-head gains are not the run's."""
    import os

    from econdsl.trainer.health import BEST_RESPONSE_RESULTS, head_payoffs

    heads = {"demand": {"best": 0.004, "abs_reward": 0.4}, "hours": {"best": 0.1, "abs_reward": 0.4}}
    (tmp_path / BEST_RESPONSE_RESULTS).parent.mkdir()
    (tmp_path / BEST_RESPONSE_RESULTS).write_text(json.dumps({"types": {"Consumer": {"unilateral": {"heads": heads},
                                                                                    "type": {}}}}))
    (tmp_path / "metrics.csv").write_text("iteration\n0\n")
    os.utime(tmp_path / "metrics.csv", (1, 1))  # the run is older than its best response
    assert head_payoffs(tmp_path) == {"Consumer": heads}
    os.utime(tmp_path / "metrics.csv")  # trained again: now newer
    assert head_payoffs(tmp_path) == {}
    (tmp_path / BEST_RESPONSE_RESULTS).write_text("not json")
    assert head_payoffs(tmp_path / "missing") == {}


def test_deviators_train_with_the_runs_entropy_bonus() -> None:
    """A run trained with ``entropy_exclude`` gives its deviators the same bonus (the excluded head none), and
    with ``entropy_per_head`` the same mean: a best response is trained with the run's PPO."""
    torch.set_num_threads(1)
    model = econdsl.load(MODEL)
    layers = build_layers(model.resolved, None, {"entropy_exclude": "shop", "entropy_per_head": "true"})
    s = br.setup_from_trainer(Trainer(model, layers.config, layers.curriculum_consts), 16, seed=3)
    spec = br._spec(s, "Worker", br.BRSettings(iterations=2))
    assert spec.ppo.entropy_columns == (True, False) and spec.ppo.entropy_reals == ()
    assert spec.ppo.entropy_per_head
    plain = br._spec(_setup(), "Worker", br.BRSettings(iterations=2))
    assert plain.ppo.entropy_columns is None and not plain.ppo.entropy_per_head
