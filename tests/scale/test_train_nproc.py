"""`econdsl train --nproc 2` (torchrun, gloo) computes what one process with the same replicas and seed
computes, to float rounding, on a model that draws per replica (param ~), inside the step and in both kinds
of action heads, with an uneven split of the replicas (5 over 2 processes) and several minibatches; and a
run killed mid-way resumes with the same number of processes to the same metrics."""

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
MODEL = str(Path(__file__).resolve().parent / "shares.econ")
ITERATIONS = 40
ARGS = ["--envs", "5", "--seed", "7", "--iterations", str(ITERATIONS), "--set", "minibatches=3",
        "--set", "checkpoint_every=4", "--quiet"]


def _rows(run: Path) -> list[dict[str, float]]:
    with open(run / "metrics.csv", newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(f)]


def _close(a, b, rel: float = 1e-4, abs_: float = 1e-6) -> bool:
    """Equal up to float32 rounding: the processes sum their shares in another order than one process."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel, abs_) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, rel, abs_) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    return a == b


def _diff(a: list[dict], b: list[dict]) -> str:
    for ra, rb in zip(a, b, strict=False):
        for k in ra:
            if not _close(ra[k], rb.get(k)):
                return f"iteration {ra['iteration']:.0f}, {k}: {ra[k]} vs {rb.get(k)}"
    return f"{len(a)} vs {len(b)} rows"


def _nproc(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "econdsl.cli", "train", MODEL, *ARGS, "--nproc", "2", "--out", str(out), *extra]


@pytest.mark.slow
def test_two_processes_killed_and_resumed_equal_one_process(tmp_path: Path) -> None:
    """One --nproc 2 run, killed after a checkpoint and resumed: its metrics (the rows before the kill from the
    first launch, the rest from the resumed one) and evaluation are those of one process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    one = tmp_path / "one"
    r = CliRunner().invoke(main, ["train", MODEL, *ARGS, "--out", str(one)])
    assert r.exit_code == 0, r.output

    cut = tmp_path / "cut"
    proc = subprocess.Popen(_nproc(cut), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.time()
        while not (cut / "checkpoint.pt").exists():
            assert proc.poll() is None and time.time() - t0 < 300, "no checkpoint before the run ended"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both training processes, without a final checkpoint
        proc.wait()
    assert not (cut / "eval.json").exists()  # killed mid-run
    p = subprocess.run(_nproc(cut, "--resume"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "over 2 processes" in p.stdout and re.search(r"resumed at iteration [1-9]", p.stdout), p.stdout
    assert [int(r["iteration"]) for r in _rows(cut)] == list(range(ITERATIONS))
    assert _close(_rows(one), _rows(cut)), _diff(_rows(one), _rows(cut))
    assert _close(json.loads((one / "eval.json").read_text()), json.loads((cut / "eval.json").read_text()))


def test_nproc_needs_out(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["train", MODEL, "--nproc", "2"])
    assert r.exit_code == 2 and "--out" in r.output


def test_replicas_are_shared_evenly_and_map_back_to_the_whole_run() -> None:
    import torch

    from econdsl.scale.distributed import Shard

    shards = [Shard.split(r, 3, 8) for r in range(3)]
    assert [(s.first, s.envs) for s in shards] == [(0, 3), (3, 3), (6, 2)]
    steps, agents = 2, 4
    rows = torch.randperm(steps * 8 * agents, generator=torch.Generator().manual_seed(0))
    whole = torch.arange(steps * 8 * agents).view(steps, 8, agents)
    for s in shards:  # the local rows of a shard point at the same samples as the whole run's rows
        mine = whole[:, s.first:s.first + s.envs].reshape(-1)
        local = s.local_rows(rows, steps, agents)
        picked = [int(g) for g in rows if s.first <= (int(g) % (8 * agents)) // agents < s.first + s.envs]
        assert mine[local].tolist() == picked
    with pytest.raises(ValueError):
        Shard.split(0, 4, 3)
