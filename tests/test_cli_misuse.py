"""Misuse of the command line and hostile model files (issue 10): a clear message and exit 2 for usage, 1 for
failed work (docs/cli.md), never a traceback; every limit named in its message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.cli import main
from econdsl.language import check_file

ROOT = Path(__file__).resolve().parents[1]
COURNOT = str(ROOT / "models" / "cournot.econ")
BASE = (ROOT / "models" / "cournot.econ").read_text(encoding="utf-8")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def exits(res, code: int) -> str:
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    return res.output


def variant(tmp_path: Path, old: str, new: str, name: str = "m.econ") -> str:
    assert old in BASE
    p = tmp_path / name
    p.write_text(BASE.replace(old, new, 1), encoding="utf-8")
    return str(p)


# ------------------------------------------------------------------ training flags and settings (exit 2)


@pytest.mark.parametrize("args, words", [
    (["--seed", "99999999999999999999"], "--seed"),
    (["--set", "hidden=[99999999999]"], "hidden"),
    (["--set", "clip=-1"], "`clip` must be > 0"),
    (["--set", "threads=-1"], "`threads` must be ≥ 0"),
    (["--set", "envs=1e9"], "`envs` must be ≥ 1 and ≤ 1,000,000"),
    (["--set", "lr=inf"], "`lr` must be a finite number"),
    (["--set", "seed=1e30"], "`seed`"),
    (["--set", "obs_norm=digits", "--set", "digits=nonsense"], "`digits` names `nonsense`"),
    (["--set", "steps=1000000", "--envs", "1000000"], "agent-steps"),
])
def test_bad_training_values_are_usage_errors(tmp_path, args, words):
    out = exits(invoke("train", COURNOT, "--out", str(tmp_path / "r"), "--iterations", "1", *args), 2)
    assert words in out
    assert not (tmp_path / "r").exists()


def test_a_missing_file_is_a_usage_error(tmp_path):
    for cmd in (["train"], ["check"], ["compile"], ["sweep", "--set", "lr=1,2"], ["compare"]):
        out = exits(invoke(*cmd, str(tmp_path / "nope.econ")), 2)
        assert "does not exist" in out


@pytest.mark.parametrize("args, words", [
    (["--jobs", "0"], "--jobs"),
    (["--envs", "0"], "--envs"),
    (["--iterations", "0"], "--iterations"),
    (["--seeds", "0"], "--seeds"),
    (["--set", "nonsense=3"], "`nonsense` is neither a training setting"),
    (["--set", "clip=-1"], "`clip` must be > 0"),
    (["--preset", "nope"], "no preset `nope`"),
])
def test_compare_and_sweep_refuse_bad_flags_before_running(tmp_path, args, words):
    out = exits(invoke("compare", COURNOT, "--out", str(tmp_path / "c"), *args), 2)
    assert words in out
    out = exits(invoke("sweep", COURNOT, "--set", "lr=0.001,0.002", "--out", str(tmp_path / "s"), *args), 2)
    assert words in out
    assert not (tmp_path / "c").exists() and not (tmp_path / "s").exists()  # nothing run, no report


# ------------------------------------------------------------------ model files: located errors, limits


@pytest.mark.parametrize("old, new, code, words", [
    ("horizon 1 ", "horizon Inf ", "E505", "inf is not a positive whole number"),
    ("horizon 1 ", "horizon 1e7 ", "E109", "limit of 1,000,000 steps"),
    ("0:2:60", "0:1e-308:60", "E109", "limit of 100,000 choices"),
    ("0:2:60", "0:0.000001:60", "E109", "60,000,001 values"),
    ("Firm[2]", "Firm[1e23]", "E109", "limit of 1,000,000"),
    ("Firm[2]", "Firm[1e8]", "E109", "100,000,000 members"),
    ("    envs = 64", "    envs = Inf", "E1002", "`envs` needs a whole number"),
    ("    hidden = [32, 32]", "    hidden = [Inf, 32]", "E1002", "`hidden` needs a list of whole numbers"),
    ("    clip = 0.2", "    clip = -1", "E1010", "`clip` must be > 0"),
    ("    envs = 64", "    envs = 64\n    threads = -1", "E1010", "`threads` must be ≥ 0"),
])
def test_model_values_out_of_range_are_located(tmp_path, old, new, code, words):
    path = variant(tmp_path, old, new)
    diags = check_file(path).diagnostics
    found = [d for d in diags.errors if d.code == code and words in d.message]
    assert found, diags.render()
    assert found[0].span.file == path and found[0].span.line > 1
    assert "E100" not in {d.code for d in diags.items}


def test_an_infinite_exponent_of_a_unit_is_a_located_units_error(tmp_path):
    path = variant(tmp_path, "const c::money/goods = 10", "const c::money/goods = 10\nconst v = c^(-Inf)")
    diags = check_file(path).diagnostics.items
    assert "E100" not in {d.code for d in diags}
    found = [d for d in diags if d.code == "E110"]  # it was listed as "not checked" and the model was clean
    assert len(found) == 1 and "`money/goods` raised to the power -inf" in found[0].message, diags
    assert (found[0].span.line, found[0].span.col) == (19, 11), found[0].span  # `c^(-Inf)`


def test_invalid_utf8_is_located_in_the_file(tmp_path):
    p = tmp_path / "bad.econ"
    p.write_bytes(BASE.encode().replace(b"# Cournot", b"# \xff\xfeCournot", 1))
    out = exits(invoke("check", str(p)), 1)
    assert f"{p}:1:3: error[E104]" in out and "not valid UTF-8" in out and "<builtin>" not in out


def test_unbounded_files_are_not_read(tmp_path):
    out = exits(invoke("check", "/dev/zero"), 1)
    assert "not a regular file" in out
    big = tmp_path / "big.econ"
    big.write_text("# " + "x" * (5 << 20), encoding="utf-8")
    assert "limit of 4 MiB" in exits(invoke("check", str(big)), 1)
    imp = tmp_path / "imp.econ"
    imp.write_text('import "/dev/zero"\n' + BASE, encoding="utf-8")
    out = exits(invoke("check", str(imp)), 1)
    assert f"{imp}:1:1: error[E104]" in out and "not a regular file" in out


def test_a_lone_carriage_return_does_not_end_a_comment(tmp_path):
    path = variant(tmp_path, "const c::money/goods = 10", "const c::money/goods = 10  # cost\r const d = 1")
    res = check_file(path)
    assert "d" not in res.resolved.consts and not res.diagnostics.has_errors()
    crlf = tmp_path / "crlf.econ"
    crlf.write_bytes(BASE.replace("\n", "\r\n").encode())
    assert not check_file(crlf).diagnostics.has_errors()


def test_a_long_model_name_is_an_error_not_a_traceback_in_compile(tmp_path):
    path = variant(tmp_path, "model cournot", "model " + "m" * 300)
    out = exits(invoke("compile", path, "-o", str(tmp_path / "gen")), 1)
    assert "file name is too long" in out


# ------------------------------------------------------------------ the run's own files


def test_the_source_path_cannot_break_the_runs_model_file(tmp_path):
    odd = tmp_path / "a\nmodel evil\rb"
    odd.mkdir()
    src = odd / "cournot.econ"
    src.write_text(BASE, encoding="utf-8")
    run = tmp_path / "run"
    exits(invoke("train", str(src), "--out", str(run), "--iterations", "1", "--envs", "2", "--quiet",
                 "--set", "threads=1"), 0)
    first = (run / "model.econ").read_text(encoding="utf-8").split("\n")[0]
    assert first == f"# Resolved from {json.dumps(str(src))} by econdsl train."
    assert not check_file(run / "model.econ").diagnostics.has_errors()
    out = exits(invoke("train", str(src), "--out", str(run), "--resume", "--iterations", "2", "--quiet"), 0)
    assert "(1 since the resume)" not in out  # env-steps since the resume: 2 envs × 1 step
    assert "(2 since the resume)" in out


def test_a_huge_constant_compiles_or_fails_cleanly(tmp_path):
    path = variant(tmp_path, "const c::money/goods = 10", "const c::money/goods = 10\nconst huge = 1e39")
    exits(invoke("compile", path, "--dtype", "float32"), 0)
    path = variant(tmp_path, "    Q = sum(q[i] for i in Firm)", "    Q = sum(q[i] for i in Firm)\n    H = 1e39 * Q",
                   "used.econ")
    exits(invoke("compile", path, "--dtype", "float32"), 0)


def test_a_constant_beyond_float32_in_ifelse_trains(tmp_path):
    """float32 torch raised `value cannot be converted to type float without overflow` from torch.where(c, 1e39,
    1.0) at the first step: a constant beyond float32 is now inf in a float32 program, as in Triton."""
    path = variant(tmp_path, "    Q = sum(q[i] for i in Firm)",
                   "    Q = sum(q[i] for i in Firm)\n    H = ifelse(Q > 30, 1e39, 1)")
    exits(invoke("train", path, "--out", str(tmp_path / "r"), "--iterations", "1", "--envs", "2", "--quiet",
                 "--set", "threads=1"), 0)


def test_compare_never_removes_files_that_are_not_an_econdsl_run(tmp_path):
    mine = tmp_path / "c" / "runs" / "cournot" / "seed0"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    out = exits(invoke("compare", COURNOT, "--out", str(tmp_path / "c"), "--iterations", "1", "--no-report"), 2)
    assert "not an econdsl run" in out and (mine / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_nproc_beyond_the_machines_cpus_is_a_usage_error_before_any_process_starts(tmp_path, monkeypatch):
    """`train --nproc 65537` asked torchrun for 65537 training processes (found by the reliability fuzzer)."""
    import os
    import subprocess

    def never(*a, **k):
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "call", never)
    out = exits(invoke("train", COURNOT, "--out", str(tmp_path / "r"), "--nproc", "65537"), 2)
    assert "--nproc" in out and f"at most {os.cpu_count()}" in out, out
    assert not (tmp_path / "r").exists()
