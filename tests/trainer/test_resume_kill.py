"""A run killed hard (no Ctrl-C handler, no final checkpoint) mid-way, then resumed with
`econdsl train --resume`, ends with the same metrics as an uninterrupted run: on the compiled env."""

import csv
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from econdsl.cli import main

MODELS = Path(__file__).resolve().parents[2] / "models"
COURNOT = str(MODELS / "cournot.econ")
ARGS = ["--iterations", "40", "--seed", "5", "--set", "checkpoint_every=10", "--set", "threads=1", "--quiet"]

# Trains in a child process and kills it (os._exit: nothing is flushed or saved) after iteration 25.
KILLER = """
import os, sys
from econdsl.trainer import session
s = session.prepare(sys.argv[1], sys.argv[2], flags={"iterations": 40, "seed": 5},
                    sets={"checkpoint_every": "10", "threads": "1"})
def hook(m, stage):
    if m["iteration"] == 25:
        os._exit(9)
session.train(s, hook)
"""


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(f)]


def test_killed_run_resumes_to_the_same_final_metrics(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert CliRunner().invoke(main, ["train", COURNOT, "--out", str(full), *ARGS]).exit_code == 0
    proc = subprocess.run([sys.executable, "-c", KILLER, COURNOT, str(cut)], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert len(rows(cut)) == 26 and not (cut / "eval.json").exists()  # killed after logging iteration 25
    res = CliRunner().invoke(main, ["train", COURNOT, "--out", str(cut), "--resume", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "resumed at iteration 20" in res.output  # from the last checkpoint; rows 20-25 are redone
    assert rows(cut) == rows(full)
    assert (cut / "eval.json").read_text() == (full / "eval.json").read_text()
