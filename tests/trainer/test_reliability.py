"""Run directories under hostile files, bad numbers and faults (issue 10): checkpoints never run code and every
damaged one gets one clear error; a non-finite PPO update stops the run and keeps the last good checkpoint;
the user's files are never removed; a full disk or a read-only directory is an error, not a traceback."""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from econdsl.cli import main
from econdsl.trainer import checkpoint, fileio, ppo, session
from econdsl.trainer.run import RunError
from econdsl.trainer.trainer import NonFiniteError

ROOT = Path(__file__).resolve().parents[2]
COURNOT = str(ROOT / "models" / "cournot.econ")
OVERFLOW = str(Path(__file__).parent / "models" / "overflow_step8.econ")
FAST = ["--envs", "4", "--set", "threads=1", "--set", "checkpoint_every=1", "--quiet"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def clean_exit(res, code: int) -> str:
    """The command ended with ``code`` through click (no Python exception escaped); its output."""
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    return res.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("rel") / "run"
    clean_exit(invoke("train", COURNOT, "--out", str(run), "--iterations", "2", *FAST), 0)
    return run


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


class _Evil:
    """Unpickling this creates the file ``marker``: what a crafted checkpoint would do to the reader."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_crafted(run: Path, marker: Path, raw_pickle: bool = False) -> None:
    ckpt = run / "checkpoint.pt"
    if raw_pickle:
        ckpt.write_bytes(pickle.dumps({"state": _Evil(marker)}))
    else:
        torch.save({"format": checkpoint.FORMAT, "state": _Evil(marker)}, ckpt)
    assert not marker.exists()


# ------------------------------------------------------------------ 1. checkpoints never run code


@pytest.mark.parametrize("raw_pickle", [False, True])
def test_crafted_checkpoint_is_refused_by_resume_best_response_and_plot(run, tmp_path, raw_pickle):
    marker = tmp_path / "pwned"
    plant_crafted(run, marker, raw_pickle)
    out = clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--quiet"), 1)
    assert "not a readable econdsl checkpoint" in out and "never loaded" in out
    out = clean_exit(invoke("best-response", str(run), "--iterations", "1", "--eval-iterations", "1"), 1)
    assert "not a readable econdsl checkpoint" in out
    clean_exit(invoke("plot", str(run), "--out", str(tmp_path / "fig")), 0)  # plot reads no checkpoint
    assert not marker.exists()


@pytest.mark.slow
def test_crafted_checkpoint_is_refused_by_compare(trained, tmp_path):
    out = tmp_path / "cmp"
    rd = out / "runs" / "cournot" / "seed0"  # the run directory `compare` resumes (sweep.plan's layout)
    shutil.copytree(trained, rd)
    marker = tmp_path / "pwned"
    plant_crafted(rd, marker)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "econdsl.cli", "compare", COURNOT, "--out", str(out), "--iterations",
                        "3", "--no-report"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 run(s) failed" in r.stderr
    assert "not a readable econdsl checkpoint" in (out / "logs" / "cournot__seed0.log").read_text()
    assert not marker.exists()


DAMAGE = {
    "empty": lambda b: b"",
    "truncated": lambda b: b[: len(b) // 2],
    "random bytes": lambda b: os.urandom(4096),
    "a list": None,
    "foreign format": None,
    "nan weights": None,
    "wrong iteration type": None,
    "optimiser state of the wrong type": None,  # found by bench/fuzz_reliability.py
    # found by bench/fuzz_reliability.py: a header field holding a tensor made `!=` elementwise, and the
    # truth value of the result raised RuntimeError ("Boolean value of Tensor with no values is ambiguous")
    "format_version is an empty tensor": None,
    "format_version is a tensor": None,
    "format is a tensor": None,
    "econdsl version is a tensor": None,
    "model hash is a tensor": None,
}
HEADER = {"format_version is an empty tensor": ("format_version", torch.zeros(0)),
          "format_version is a tensor": ("format_version", torch.ones(3)),
          "format is a tensor": ("format", torch.zeros(2)), "econdsl version is a tensor": ("econdsl", torch.zeros(2)),
          "model hash is a tensor": ("model_hash", torch.zeros(2))}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_checkpoint_is_one_clear_error(run, case):
    ckpt = run / "checkpoint.pt"
    if DAMAGE[case] is not None:
        ckpt.write_bytes(DAMAGE[case](ckpt.read_bytes()))
    else:
        data = torch.load(ckpt, weights_only=True)
        if case == "a list":
            data = [1, 2, 3]
        elif case == "foreign format":
            data = {"format": "someone-else", "state": data["state"]}
        elif case == "nan weights":
            w = [t for k, t in data["state"]["policies"]["Firm"].items() if k.endswith("weight")][0]
            w.fill_(float("nan"))
        elif case == "wrong iteration type":
            data["state"]["iteration"] = "2"
        elif case in HEADER:
            data[HEADER[case][0]] = HEADER[case][1]
        else:
            data["state"]["optimizers"]["Firm"]["state"] = 7
        torch.save(data, ckpt)
    out = clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--quiet"), 1)
    assert "checkpoint" in out and str(ckpt) in out
    out = clean_exit(invoke("best-response", str(run), "--iterations", "1", "--eval-iterations", "1"), 1)
    assert str(ckpt) in out


@pytest.mark.parametrize("value", ["x", [1], {"types": "x"}, {"types": {"Firm": "x"}},
                                   {"types": {"Firm": {"action_nvec": "x"}}}])
def test_a_damaged_architecture_in_config_json_is_one_clear_error(run, value):
    """Found by bench/fuzz_reliability.py: `"architecture": "x"` raised AttributeError on --resume."""
    import json

    cfg = run / "config.json"
    info = json.loads(cfg.read_text(encoding="utf-8"))
    info["architecture"] = value
    cfg.write_text(json.dumps(info), encoding="utf-8")
    for args in (["train", COURNOT, "--out", str(run), "--resume", "--quiet"],
                 ["best-response", str(run), "--iterations", "1", "--eval-iterations", "1"],
                 ["plot", str(run), "--out", str(run / "fig")]):
        out = clean_exit(invoke(*args), 1)
        assert str(cfg) in out and "architecture" in out, out


def test_checkpoint_of_another_model_or_econdsl_version_is_refused(run):
    text = (run / "model.econ").read_text(encoding="utf-8")
    (run / "model.econ").write_text(text.replace("const c::money/goods = 10", "const c::money/goods = 11"),
                                    encoding="utf-8")
    out = clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--quiet"), 1)
    assert "trained on a different model" in out
    (run / "model.econ").write_text(text, encoding="utf-8")
    data = torch.load(run / "checkpoint.pt", weights_only=True)
    torch.save(dict(data, econdsl="0.0.0-other"), run / "checkpoint.pt")
    out = clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--quiet"), 1)
    assert "written by econdsl 0.0.0-other" in out


# ------------------------------------------------------------------ 2. non-finite updates


def test_a_diverging_update_stops_the_run_without_a_checkpoint(tmp_path):
    out = clean_exit(invoke("train", COURNOT, "--out", str(tmp_path / "r"), "--iterations", "3", "--set", "lr=1e30",
                            *FAST), 1)
    assert "PPO update of agent type `Firm`" in out and "non-finite" in out
    assert any(q in out for q in ("loss", "gradient norm", "weights of layer"))
    assert not (tmp_path / "r" / "checkpoint.pt").exists() and "done:" not in out


def test_the_last_good_checkpoint_is_kept(tmp_path):
    s = session.prepare(COURNOT, str(tmp_path / "r"), flags={"iterations": 2, "envs": 4},
                        sets={"threads": "1", "checkpoint_every": "1"})
    session.train(s)
    good = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    s = session.prepare(COURNOT, str(tmp_path / "r"), flags={"iterations": 4}, resume=True)
    s.trainer.cfg.set("lr", 1e30)  # the trainer sets each optimiser's lr from the config every iteration
    with pytest.raises(NonFiniteError, match=r"agent type `Firm` at iteration 2"):
        session.train(s)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == good
    assert session.load_run(tmp_path / "r").iteration == 2


def test_returns_that_overflow_are_named_before_any_step():
    from econdsl.trainer.policy import TypePolicy

    pol = TypePolicy(1, [3], (8,), "none", 10.0, [], "relu", True)
    opt = torch.optim.Adam(pol.parameters())
    n = 6
    returns = torch.full((n,), 3e38) * 2  # rewards near 3e38 summed: inf in float32
    batch = ppo.Batch(torch.zeros(n, 1), torch.zeros(n, 1, dtype=torch.long), torch.zeros(n), torch.zeros(n),
                      returns, returns)
    before = [p.detach().clone() for p in pol.parameters()]
    settings = ppo.PPOSettings(0.2, 0.2, 1.0, "huber", 0.0, 1, 1, 1.0, True)
    with pytest.raises(ppo.NonFiniteUpdate) as err:
        ppo.update(pol, opt, batch, None, settings)
    assert err.value.quantity == "returns" and "reward_scale" in err.value.hint
    assert all(torch.equal(a, b) for a, b in zip(before, pol.parameters(), strict=True))


def test_the_equation_diagnosis_looks_at_every_step_of_the_episode(tmp_path):
    out = clean_exit(invoke("train", OVERFLOW, "--out", str(tmp_path / "r"), "--iterations", "1", "--envs", "2",
                            "--quiet"), 1)
    assert "step 8" in out and "the first equation with a non-finite value is `X` at step 8" in out


# ------------------------------------------------------------------ 3. the user's files, atomic writes


def test_a_users_partial_directory_is_never_removed(tmp_path):
    mine = tmp_path / "out.partial"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious", encoding="utf-8")
    clean_exit(invoke("train", COURNOT, "--out", str(tmp_path / "out"), "--iterations", "1", *FAST), 0)
    assert (mine / "thesis.tex").read_text(encoding="utf-8") == "precious"
    # a directory in econdsl's own assembly name that econdsl did not make is refused, not removed
    odd = tmp_path / ".other.econdsl-partial"
    odd.mkdir()
    (odd / "notes.txt").write_text("mine", encoding="utf-8")
    out = clean_exit(invoke("train", COURNOT, "--out", str(tmp_path / "other"), "--iterations", "1", *FAST), 1)
    assert "was not made by econdsl" in out and (odd / "notes.txt").exists()


def test_the_run_directory_is_assembled_out_of_sight(tmp_path):
    clean_exit(invoke("train", COURNOT, "--out", str(tmp_path / "r"), "--iterations", "1", *FAST), 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(fileio.TMP_SUFFIX)]


@pytest.mark.parametrize("line", ["garbage,,\n", "\n", "7,1", "1e400\n", "x" * 50 + "\n"])
def test_damaged_last_metrics_line_is_dropped_on_resume_and_plot(run, tmp_path, line):
    good = (run / "metrics.csv").read_text(encoding="utf-8")
    with open(run / "metrics.csv", "a", encoding="utf-8") as f:
        f.write(line)
    clean_exit(invoke("plot", str(run), "--out", str(tmp_path / "fig")), 0)
    clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--quiet"), 0)
    assert (run / "metrics.csv").read_text(encoding="utf-8") == good


def test_a_cut_last_row_is_not_kept_as_a_short_row(run):
    rows = (run / "metrics.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (run / "metrics.csv").write_text("".join(rows[:-1]) + rows[-1][:20], encoding="utf-8")
    clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--iterations", "3", "--quiet"), 0)
    lines = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert len({line.count(",") for line in lines}) == 1  # every row complete: the cut one was dropped
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "2"]


def _fail_with(monkeypatch, err: int, name: str = ""):
    """Every fsync of a file whose path contains ``name`` fails with ``err`` (a full disk shows there)."""
    real = fileio.os.fsync

    def fsync(fd):
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(err, os.strerror(err))
        return real(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)


def test_disk_full_while_saving_keeps_the_previous_checkpoint(run, monkeypatch):
    before = (run / "checkpoint.pt").read_bytes()
    _fail_with(monkeypatch, errno.ENOSPC, "checkpoint.pt")
    out = clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--iterations", "4", "--quiet"), 1)
    assert "no space left on the device" in out and "checkpoint.pt" in out
    assert (run / "checkpoint.pt").read_bytes() == before
    assert not [p for p in run.iterdir() if p.name.endswith(fileio.TMP_SUFFIX) or p.suffix == ".tmp"]


def test_disk_full_while_creating_the_run_directory(tmp_path, monkeypatch):
    _fail_with(monkeypatch, errno.ENOSPC)
    out = clean_exit(invoke("train", COURNOT, "--out", str(tmp_path / "r"), "--iterations", "1", *FAST), 1)
    assert "cannot write" in out and "no space left" in out
    assert list(tmp_path.iterdir()) == []


def test_resume_in_a_read_only_directory(run, monkeypatch):
    if os.geteuid() == 0:  # root writes anywhere: simulate the read-only file system instead
        monkeypatch.setattr(session, "_writable", lambda path: False)
    else:
        run.chmod(0o555)
    try:
        out = clean_exit(invoke("train", COURNOT, "--out", str(run), "--resume", "--quiet"), 1)
    finally:
        run.chmod(0o755)
    assert "not writable" in out


def test_write_atomic_leaves_the_old_file_on_any_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    fileio.write_atomic(target, "old")
    _fail_with(monkeypatch, errno.ENOSPC)
    with pytest.raises(RunError, match="no space left"):
        fileio.write_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_diverging_best_response_is_an_error_naming_the_type(run):
    out = clean_exit(invoke("best-response", str(run), "--iterations", "2", "--eval-iterations", "1", "--lr", "1e30",
                            "--envs", "4"), 1)
    assert "best response of `Firm`" in out and "non-finite" in out


def test_metrics_readers_tolerate_rows_longer_than_the_header_and_stray_bytes(tmp_path):
    from econdsl.analysis.runs import read_metrics

    p = tmp_path / "metrics.csv"
    p.write_bytes(b"iteration,a\n0,1,2,3\n1,x\n\xff\x00zz\n")  # found by bench/fuzz_reliability.py
    cols = read_metrics(p)
    assert set(cols) == {"iteration", "a"} and cols["a"][0] == 1.0 and len(cols["a"]) == 3


def test_an_environment_that_cannot_be_built_is_a_usage_error(tmp_path, monkeypatch):
    class InterpreterError(Exception):  # Triton's error type is no RuntimeError (found by the fuzzer)
        pass

    import econdsl.runtime.model as model

    def env(self, *a, **k):
        raise InterpreterError("Cannot call @triton.jit'd outside of the scope of a kernel")

    monkeypatch.setattr(model.Model, "env", env)
    out = clean_exit(invoke("train", COURNOT, "--out", str(tmp_path / "r"), "--iterations", "1", *FAST), 2)
    assert "cannot build the torch environment on cpu" in out
