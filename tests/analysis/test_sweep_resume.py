"""`econdsl sweep` with real training runs: killed and resumed without redoing finished points;
`econdsl compare` writes a report whose table is the runs' own evaluation numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODELS = ROOT / "models"


def _sweep_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "econdsl.cli", "sweep", str(HERE / "models" / "labour_leisure.econ"),
            "--set", "τ=0.1,0.25,0.4", "--set", "checkpoint_every=1", "--iterations", "40", "--envs", "8",
            "--jobs", "1", "--out", str(out), "--no-report"]


def _wait(cond, timeout: float, what: str) -> None:
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow  # four training processes and two sweep drivers
def test_killed_sweep_resumes_without_redoing_finished_points(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(_sweep_cmd(out), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    status = out / "status"
    _wait(lambda: (out / "sweep.json").exists(), 60, "the plan")
    plan = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    first, second = plan["points"][0], plan["points"][1]
    try:
        _wait(lambda: (status / f"{first['id']}.json").exists(), 240, "the first point to finish")
        ckpt = out / second["run_dir"] / "checkpoint.pt"
        _wait(ckpt.exists, 240, "the second point's first checkpoint")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a hard kill of the sweep and its training process
        proc.wait()
    assert not (status / f"{second['id']}.json").exists()
    done_eval = out / first["run_dir"] / "eval.json"
    stamp = done_eval.stat().st_mtime_ns

    r = subprocess.run(_sweep_cmd(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"skip  {first['id']}" in r.stdout
    assert f"resume {second['id']}" in r.stdout
    assert done_eval.stat().st_mtime_ns == stamp  # the finished point was not trained again
    log = (out / "logs" / f"{first['id']}.log").read_text(encoding="utf-8")
    assert log.count("$ ") == 1
    assert all((status / f"{p['id']}.json").exists() for p in plan["points"])
    # The interrupted point continued from its checkpoint: every iteration appears exactly once.
    import csv

    with open(out / second["run_dir"] / "metrics.csv", newline="", encoding="utf-8") as f:
        its = [int(float(row["iteration"])) for row in csv.DictReader(f)]
    assert its == list(range(40))
    assert "--resume" in (out / "logs" / f"{second['id']}.log").read_text(encoding="utf-8")


@pytest.mark.slow  # four training processes of rbc_open
@pytest.mark.parametrize("seeds", [2])
def test_compare_report_table_is_the_runs_own_numbers(tmp_path: Path, seeds: int) -> None:
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", str(MODELS / "rbc_open.econ"), str(MODELS / "rbc_closed.econ"),
                                  "--preset", "quick", "--iterations", "2", "--envs", "4", "--seeds", str(seeds),
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = json.loads((out / "outcomes.json").read_text(encoding="utf-8"))
    plan = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert len(plan["points"]) == 2 * seeds
    checked = 0
    for p in plan["points"]:
        ev = json.loads((out / p["run_dir"] / "eval.json").read_text(encoding="utf-8"))
        for agent, value in ev["reward"].items():
            cell = table["table"][f"mean reward {agent}"][p["variant"]]
            assert value in cell["values"]
            checked += 1
        for name in ("Y", "r_g", "C"):  # step quantities: the episode mean of eval.json
            assert ev["series"][name]["mean"] in table["table"][name][p["variant"]]["values"]
            checked += 1
        import numpy as np

        with np.load(out / p["run_dir"] / "eval.npz") as z:
            sp = z["series/p"]
        if np.all(sp[0] == 1000.0):  # states recorded as each step starts (t = 0: the initial price)
            price = ev["series"]["p"]["mean"]
        else:  # states recorded after each step: the last entry is the next episode's reset, left out
            assert np.all(sp[-1] == 1000.0)
            price = float(np.mean(sp[:-1]))
        assert price == pytest.approx(table["table"]["p"][p["variant"]]["values"][p["seed"]], rel=1e-6)
        checked += 1
    assert checked == 2 * seeds * 7
    for q, by_variant in table["table"].items():
        for cell in by_variant.values():
            assert cell["mean"] == pytest.approx(sum(cell["values"]) / len(cell["values"])), q
    md = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "| equations | `X` | changed |" in md
    assert "data:image/png;base64," in html and "<table>" in html
    # The markdown table shows the same numbers (to its printed precision).
    from econdsl.analysis.report import Cell

    cell = table["table"]["mean reward Firm"]["rbc_open"]
    assert Cell(cell["values"]).text() in md
