"""`econdsl sweep` on a continuous-action model and `econdsl compare` on a staged model run end to end (tiny
training: 2 iterations × 4 replicas), and their reports show the runs' own numbers: action rows are the values
the step used (not indices, not the policies' central values), and the step quantities computed from them
agree with those values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from econdsl.cli import main
from econdsl.trainer.files import EVAL_ARRAYS, REAL_ACTION

MODELS = Path(__file__).resolve().parents[2] / "models"
TINY = ["--iterations", "2", "--envs", "4", "--jobs", "1", "--set", "threads=1"]


def _points(out: Path) -> tuple[dict, list[dict]]:
    table = json.loads((out / "outcomes.json").read_text(encoding="utf-8"))["table"]
    plan = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    return table, plan["points"]


def _cell(table: dict, row: str, point: dict) -> float:
    return table[row][point["variant"]]["values"][point["seed"]]


@pytest.mark.slow  # two training subprocesses
def test_sweep_of_a_continuous_model(tmp_path: Path) -> None:
    """labour_leisure_continuous (h ∈ [0, 3], u = log(1 + w·h) − χ·h²/2) swept over the wage w: the table's
    h is the mean of the hours drawn in the evaluation episode, and its u is u of those hours at the
    variant's own w."""
    out = tmp_path / "sw"
    r = CliRunner().invoke(main, ["sweep", str(MODELS / "labour_leisure_continuous.econ"), "--set", "w=1,3",
                                  *TINY, "--out", str(out)])
    assert r.exit_code == 0, r.output
    table, points = _points(out)
    assert sorted(float(dict(p["overrides"])["w"]) for p in points) == [1.0, 3.0]
    for p in points:
        w = float(dict(p["overrides"])["w"])
        ev = json.loads((out / p["run_dir"] / "eval.json").read_text(encoding="utf-8"))
        with np.load(out / p["run_dir"] / EVAL_ARRAYS) as z:
            h = z[f"{REAL_ACTION}Worker"][..., 0].astype(np.float64)  # [steps, replicas, workers]
        assert 0.0 <= h.min() and h.max() <= 3.0 and len(np.unique(h)) > 1  # drawn values, not a grid
        assert _cell(table, "h", p) == pytest.approx(h.mean(), rel=1e-9)
        assert _cell(table, "mean reward Worker", p) == ev["reward"]["Worker"]
        u = np.log1p(w * h) - 0.5 * h**2 / 2  # float64 from the float32 draws: float32 rounding tolerance
        assert _cell(table, "u", p) == pytest.approx(u.mean(), rel=1e-5, abs=1e-6)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| h |" in md and "| u |" in md and "labour_leisure_continuous w=3" in md


@pytest.mark.slow  # two training subprocesses
def test_compare_of_a_staged_model_with_its_simultaneous_twin(tmp_path: Path) -> None:
    """stackelberg (leader in stage `lead`, follower in `follow` observing q_L) against the same duopoly
    without stages: both train and report quantities in [0, 90], and each run's Q = q_L + q_F holds between
    the table's rows (episode means of the drawn quantities); the report lists the removed stages."""
    text = (MODELS / "stackelberg.econ").read_text(encoding="utf-8")
    text = text.replace("stage lead: Leader\n", "").replace("stage follow: Follower\n", "")
    text = text.replace("    observe q_L ", "    observe c   ").replace("model stackelberg", "model cournot_pair")
    twin = tmp_path / "cournot_pair.econ"
    twin.write_text(text, encoding="utf-8")
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", str(MODELS / "stackelberg.econ"), str(twin), *TINY, "--out", str(out)])
    assert r.exit_code == 0, r.output
    table, points = _points(out)
    assert sorted(p["variant"] for p in points) == ["cournot_pair", "stackelberg"]
    for p in points:
        ev = json.loads((out / p["run_dir"] / "eval.json").read_text(encoding="utf-8"))
        q_l, q_f, big_q = (_cell(table, k, p) for k in ("q_L", "q_F", "Q"))
        assert 0.0 <= q_l <= 90.0 and 0.0 <= q_f <= 90.0
        assert big_q == pytest.approx(q_l + q_f, rel=1e-5)
        assert q_l == pytest.approx(ev["actions"]["q_L"]["mean"], rel=1e-5)
        for agent in ("Leader", "Follower"):
            assert _cell(table, f"mean reward {agent}", p) == ev["reward"][agent]
        assert not math.isnan(_cell(table, "P", p))
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| q_L |" in md and "| Q |" in md
    assert "stage lead: Leader; stage follow: Follower" in md  # the model difference: the stages removed
