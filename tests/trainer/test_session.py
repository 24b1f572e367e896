"""Runs on a hand-written stand-in environment (tests/trainer/fakes.py): determinism, interrupt and
resume, NaN detection, run-directory contents, CLI errors."""

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.cli import main
from econdsl.trainer import session
from econdsl.trainer.report import make_report
from econdsl.trainer.trainer import NonFiniteError

from .fakes import MODELS, FakeModel

COURNOT = str(MODELS / "cournot.econ")


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(session, "_load", lambda path, overrides: FakeModel())


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(f)]


def run(out: Path, iterations: int = 30, stop_at: int | None = None, **flags):
    s = session.prepare(COURNOT, str(out), flags={"iterations": iterations, "seed": 3, **flags},
                        sets={"checkpoint_every": "7", "threads": "1"})

    def hook(m, stage):
        if stop_at is not None and m["iteration"] == stop_at:
            raise KeyboardInterrupt

    return session.train(s, hook)


def test_same_seed_same_metrics_and_run_contents(fake, tmp_path):
    run(tmp_path / "a")
    run(tmp_path / "b")
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert len(metrics(tmp_path / "a")) == 30
    names = {p.name for p in (tmp_path / "a").iterdir()}
    assert {"model.econ", "model.json", "config.json", "metrics.csv", "checkpoint.pt", "eval.npz",
            "eval.json"} <= names
    report = make_report(tmp_path / "a")
    text = report.read_text()
    assert "| `P` |" in text and "| scalar |" in text and "## Health" in text
    assert list((tmp_path / "a").glob("episode_*.png")) and (tmp_path / "a" / "report.html").exists()


def test_different_seed_differs(fake, tmp_path):
    run(tmp_path / "a")
    s = session.prepare(COURNOT, str(tmp_path / "b"), flags={"iterations": 30, "seed": 4},
                        sets={"checkpoint_every": "7", "threads": "1"})
    session.train(s)
    assert metrics(tmp_path / "a") != metrics(tmp_path / "b")


def test_interrupt_then_resume_reaches_the_same_metrics(fake, tmp_path):
    full = run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", stop_at=12)
    assert len(metrics(tmp_path / "cut")) == 13
    s = session.prepare(COURNOT, str(tmp_path / "cut"), resume=True)
    assert s.resumed_from == 13
    resumed = session.train(s)
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "full")
    assert resumed["reward"] == full["reward"]


def test_resume_from_an_older_checkpoint_drops_later_rows(fake, tmp_path):
    run(tmp_path / "full")
    run(tmp_path / "cut")
    # pretend the process died after iteration 16 was logged, with the checkpoint of iteration 14 on disk
    import torch

    s = session.prepare(COURNOT, str(tmp_path / "old"), flags={"iterations": 14, "seed": 3},
                        sets={"checkpoint_every": "7", "threads": "1"})
    session.train(s)
    torch.save(torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True), tmp_path / "cut" / "checkpoint.pt")
    s = session.prepare(COURNOT, str(tmp_path / "cut"), resume=True)
    assert s.resumed_from == 14 and len(metrics(tmp_path / "cut")) == 14
    session.train(s)
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "full")


def test_nan_names_the_agent_type_and_equation(monkeypatch, tmp_path):
    monkeypatch.setattr(session, "_load", lambda path, overrides: FakeModel(nan_at=5))
    s = session.prepare(COURNOT, str(tmp_path / "nan"), flags={"iterations": 30})
    with pytest.raises(NonFiniteError) as err:
        session.train(s)
    msg = str(err.value)
    assert "reward of agent type `Firm`" in msg and "iteration 5" in msg
    assert "`P` at " in msg and "cournot.econ" in msg and "P = max(a - b * Q, 0)" in msg


def cli(*args):
    return CliRunner().invoke(main, ["train", *args], catch_exceptions=False)


def test_cli_trains_and_plots(fake, tmp_path):
    out = tmp_path / "r"
    res = cli(COURNOT, "--iterations", "5", "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    assert "plot it: econdsl plot" in res.output
    res = CliRunner().invoke(main, ["plot", str(out)])
    assert res.exit_code == 0 and (out / "report.md").exists() and (out / "training.png").exists()


@pytest.mark.parametrize("args, code, msg", [
    (["missing.econ"], 2, "does not exist"),  # a missing file is misuse (docs/cli.md)
    ([COURNOT, "--set", "lr"], 2, "expected NAME=VALUE"),
    ([COURNOT, "--set", "nonsense=1"], 2, "neither a training setting"),
    ([COURNOT, "--preset", "fast"], 2, "no preset `fast`"),
    ([COURNOT, "--iterations", "0"], 2, "--iterations"),
    ([COURNOT, "--device", "tpu"], 2, "--device"),
])
def test_cli_errors_leave_no_run_directory(fake, tmp_path, args, code, msg):
    out = tmp_path / "r"
    res = cli(*args, "--out", str(out))
    assert res.exit_code == code, res.output
    assert msg in res.output
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_unwritable_output(fake, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    res = cli(COURNOT, "--out", str(blocker / "run"))
    assert res.exit_code == 1 and "is a file" in res.output
    res = cli(COURNOT, "--out", str(tmp_path / "r"), "--iterations", "3", "-q")
    assert res.exit_code == 0
    res = cli(COURNOT, "--out", str(tmp_path / "r"))
    assert res.exit_code == 1 and "--resume" in res.output


def test_cli_resume_requires_a_run(fake, tmp_path):
    res = cli(COURNOT, "--resume", "--out", str(tmp_path / "nothing"))
    assert res.exit_code == 1 and "not a run directory" in res.output
