"""`econdsl sweep --engine ray` on a two-node Ray cluster on this machine: one worker process killed mid-run,
the sweep still finishes every run, and each run's metrics and evaluation are those of the local engine."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(__file__).resolve().parent / "models" / "labour_leisure.econ"
# Under pytest-xdist the tests of this module share one worker: one Ray cluster at a time on the machine.
pytestmark = pytest.mark.xdist_group("ray")
# Two runs, one per node of the two-node cluster: each `econdsl train` process costs seconds of CPU to start
# (torch), whatever its iterations, so more runs would only add start-ups on a 2-core CI machine.
# Ray starts its workers (and so the training processes they start) at nice 15 unless told otherwise: next to
# the test workers of pytest-xdist at nice 0 on a 2-core machine they would wait for minutes to be scheduled.
WORKERS_AT_NICE_0 = {"RAY_worker_niceness": "0"}
ARGS = ["--set", "τ=0.1,0.4", "--seeds", "1", "--set", "checkpoint_every=5", "--iterations", "40", "--envs", "4",
        "--no-report"]


def test_engine_ray_without_ray_is_a_usage_error_that_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    r = CliRunner().invoke(main, ["sweep", str(MODEL), *ARGS, "--engine", "ray", "--out", str(tmp_path / "sw")])
    assert r.exit_code == 2, r.output
    assert "pip install -e '.[ray]'" in r.output
    assert not (tmp_path / "sw").exists()


def test_ray_options_need_engine_ray(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["sweep", str(MODEL), *ARGS, "--cpus-per-run", "2", "--out", str(tmp_path / "sw")])
    assert r.exit_code == 2 and "--engine ray" in r.output


def _rows(run: Path) -> list[dict[str, float]]:
    with open(run / "metrics.csv", newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(f)]


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def _wait(cond, timeout: float, what: str):
    t0 = time.time()
    while not (got := cond()):
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return got


@pytest.mark.slow
def test_sweep_on_a_two_node_ray_cluster_survives_a_killed_worker(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    for k, v in WORKERS_AT_NICE_0.items():  # the cluster's raylets start the workers with this environment
        monkeypatch.setenv(k, v)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)  # a second node: the two runs at once, one per node
    out = tmp_path / "ray"
    try:
        cmd = [sys.executable, "-m", "econdsl.cli", "sweep", str(MODEL), *ARGS, "--engine", "ray",
               "--address", cluster.address, "--out", str(out)]
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        try:
            # Kill the Ray worker of the first run whose checkpoint has reached the driver, mid-run.
            def victim():
                for log in sorted((out / "logs").glob("*.log")) if (out / "logs").exists() else []:
                    pid = log.stem
                    m = re.findall(r"# attempt 1 on Ray node \S+, worker pid (\d+)", log.read_text(encoding="utf-8"))
                    plan = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
                    rd = next(out / p["run_dir"] for p in plan["points"] if p["id"] == pid)
                    if m and (rd / "checkpoint.pt").exists() and not (out / "status" / f"{pid}.json").exists():
                        return pid, int(m[0])
                return None

            killed, worker = _wait(victim, 300, "a run with a checkpoint on the driver")
            os.kill(worker, signal.SIGKILL)
            stdout, _ = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, stdout
        assert "2/2 done" in stdout
        log = (out / "logs" / f"{killed}.log").read_text(encoding="utf-8")
        assert "# attempt 2" in log and "--resume" in log, log  # retried, from the run's checkpoint
    finally:
        cluster.shutdown()

    local = tmp_path / "local"
    r = subprocess.run([sys.executable, "-m", "econdsl.cli", "sweep", str(MODEL), *ARGS, "--jobs", "2", "--out",
                        str(local)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    plan = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert len(plan["points"]) == 2
    for p in plan["points"]:
        assert (out / "status" / f"{p['id']}.json").exists()
        a, b = out / p["run_dir"], local / p["run_dir"]
        assert [row["iteration"] for row in _rows(a)] == list(range(40))  # every iteration once, after the kill too
        assert _close(_rows(a), _rows(b)), p["id"]
        assert _close(json.loads((a / "eval.json").read_text()), json.loads((b / "eval.json").read_text())), p["id"]


@pytest.mark.slow
def test_best_response_seeds_on_ray_equal_the_local_engine(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", str(MODEL), "--iterations", "4", "--envs", "4", "--out", str(run), "-q"])
    assert r.exit_code == 0, r.output
    br = ["best-response", str(run), "--kind", "type", "--iterations", "3", "--seeds", "2", "--eval-iterations", "1"]
    local = CliRunner().invoke(main, [*br, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **WORKERS_AT_NICE_0)
    p = subprocess.run([sys.executable, "-m", "econdsl.cli", *br, "--out", str(tmp_path / "ray"), "--engine", "ray"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert [ln for ln in p.stdout.splitlines() if " seed " in ln] == \
        [ln for ln in local.output.splitlines() if " seed " in ln]
    assert (tmp_path / "ray" / "epsilon.json").read_text() == (tmp_path / "local" / "epsilon.json").read_text()
