"""Chaos (issue 10): a short training killed at random points (between iterations, in the middle of a metrics
row, in the middle of an atomic write of the checkpoint, the config or the evaluation) and hit by a full disk
(simulated ENOSPC on fsync), resumed each time, ends with the same metrics.csv and evaluation as an
uninterrupted run, and leaves no temporary file behind.

Each attempt is a forked child (no re-import, so the test stays at a few tens of seconds) that creates or
resumes the run exactly as ``econdsl train`` / ``--resume`` do; faults end it with os._exit (SIGKILL-like:
nothing is flushed or cleaned up) or with the RunError a full disk produces.
"""

from __future__ import annotations

import csv
import errno
import os
import random
from pathlib import Path

import pytest
import torch

from econdsl.trainer import fileio, session
from econdsl.trainer.run import RunDir

COURNOT = str(Path(__file__).resolve().parents[2] / "models" / "cournot.econ")
FLAGS = {"iterations": 24, "envs": 8, "seed": 11}
SETS = {"checkpoint_every": "3", "threads": "1", "eval_envs": "2"}
KILLED = 9
DISK_FULL = 3


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(f)]


def _attempt(run: Path, seed: int) -> None:
    """One run of the child: arm the faults, then create or resume the run and train to the end."""
    rng = random.Random(seed)
    p_kill_step, p_kill_write, p_full = rng.choice([(0.08, 0.15, 0.1), (0.0, 0.5, 0.0), (0.0, 0.0, 0.4),
                                                    (0.15, 0.0, 0.0)])
    real_replace, real_fsync, real_append = fileio.os.replace, fileio.os.fsync, RunDir.append_metrics

    def replace(src, dst):  # killed after the temporary is complete, before the rename
        if rng.random() < p_kill_write:
            os._exit(KILLED)
        return real_replace(src, dst)

    def fsync(fd):  # the disk fills up while a file is written
        if rng.random() < p_full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    def append(self, row, columns):  # killed half-way through a metrics row
        if rng.random() < p_kill_step / 2:
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write("12,34,0.5")
            os._exit(KILLED)
        return real_append(self, row, columns)

    fileio.os.replace, fileio.os.fsync, RunDir.append_metrics = replace, fsync, append

    def hook(metrics, stage):
        if rng.random() < p_kill_step:
            os._exit(KILLED)

    resume = (run / "config.json").exists()
    try:
        s = session.prepare(COURNOT, str(run), flags=None if resume else FLAGS, sets=None if resume else SETS,
                            resume=resume)
        session.train(s, hook)
    except session.RunError:  # what the user sees as "Error: cannot write …: no space left on the device"
        os._exit(DISK_FULL)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_killed_and_full_disk_runs_resume_to_the_uninterrupted_result(tmp_path, seed):
    torch.set_num_threads(1)  # a forked child must not inherit a busy OpenMP pool
    full = tmp_path / "full"
    session.train(session.prepare(COURNOT, str(full), flags=FLAGS, sets=SETS))
    cut = tmp_path / "cut"
    outcomes = []
    for attempt in range(60):
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest
            code = 70
            try:
                _attempt(cut, seed * 1000 + attempt)
                code = 0
            finally:
                os._exit(code)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        outcomes.append(code)
        assert code in (0, KILLED, DISK_FULL), outcomes
        if code == 0:
            break
    assert outcomes[-1] == 0, f"no attempt finished: {outcomes}"
    assert KILLED in outcomes or DISK_FULL in outcomes, outcomes  # the faults did happen
    assert rows(cut) == rows(full)
    assert (cut / "eval.json").read_text() == (full / "eval.json").read_text()
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((fileio.TMP_SUFFIX, ".tmp", ".partial"))
                 or "econdsl-partial" in p.name]
    assert not leftovers, leftovers
    print(f"attempts: {outcomes}")
