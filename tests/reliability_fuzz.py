"""Mutation fuzzing beyond the model text (issue 10): ``train`` settings, command-line flags and damaged run
directories. Every case runs one ``econdsl`` command in-process and must end through click with exit 0, 1
or 2 and no Python exception; 1 and 2 must say something.

Used by ``tests/language/test_mutations.py`` (a few seeded cases in CI) and by ``bench/fuzz_reliability.py``
(≥ 10,000 cases outside CI). Training itself is replaced by a stub (the trainer's own tests cover it): the
cases exercise everything up to it: flag parsing, settings, model checking, run directories, checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import torch
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "cournot.econ"
MODEL_TEXT = MODEL.read_text(encoding="utf-8")
KINDS = ("setting", "flags", "rundir")

NUMBERS = ["0", "-1", "1", "2", "0.5", "-0.0", "1e-308", "1e308", "1e309", "-1e309", "99999999999999999999",
           "4294967296", "65537", "nan", "inf", "-inf", "Inf", "1.5", "3e38", "1e30", "007", "0x10", "1_000"]
WORDS = ["", " ", "abc", "true", "false", "gae", "digits", "relu", "cuda", "triton", "[1, 2]", "[Inf, 32]",
         "[99999999999]", "[]", "[0]", "\"y, B\"", "c", "q", "Firm", "é", "\x00", "a\nb", "'", "\"", "#", "=", ","]


def _value(rng: random.Random) -> str:
    return rng.choice(NUMBERS + WORDS)


def _setting_names() -> list[str]:
    from econdsl.trainer.config import SETTINGS

    return sorted(SETTINGS)


@dataclass
class Outcome:
    kind: str
    args: list[str]
    exit_code: int | None
    error: str | None = None  # a Python exception that escaped: the defect this fuzzer looks for
    notes: list[str] = field(default_factory=list)


class _Stop(Exception):
    """Raised by the stubs where the expensive part (training, best responses) would start."""


def _stub_training() -> contextlib.ExitStack:
    """Replace training, sweeps and best-response training by stubs for the duration of a case."""
    import econdsl.analysis.best_response as br
    import econdsl.commands.compare as compare
    import econdsl.commands.sweep as sweep
    import econdsl.scale as scale
    from econdsl.analysis.sweep import LocalEngine
    from econdsl.scale import distributed
    from econdsl.trainer import session

    def fake_train(s, on_iteration=None):
        return {"wall_time_s": 0.0, "env_steps": s.trainer.env_steps, "session_env_steps": 0,
                "reward": {a: 0.0 for a in s.trainer.types}}

    def stop(*a, **k):
        raise SystemExit(0)

    from econdsl.trainer import report

    stack = contextlib.ExitStack()
    # Rendering PNGs is most of `plot`'s time and reads nothing from the run: figures are drawn, not saved.
    for obj, name, new in ((session, "train", fake_train), (compare, "finish", lambda *a, **k: None),
                           (sweep, "finish", lambda *a, **k: None), (br, "setup_from_trainer", stop),
                           (report, "_save", lambda fig, path: None),
                           # `train --nproc N` would start N real training processes, `--engine ray` a Ray
                           # instance: the flags are checked, then nothing starts
                           (distributed, "torchrun_command", stop),
                           (scale, "make_engine", lambda engine, jobs=1, *a, **k: LocalEngine(jobs))):
        old = getattr(obj, name)
        setattr(obj, name, new)
        stack.callback(setattr, obj, name, old)
    return stack


class Fuzzer:
    """Generates and runs cases in a private temporary directory (the current directory during a case)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="econdsl-fuzz-"))
        self.settings = _setting_names()
        self.run = self.tmp / "trained"
        self._train_once()

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _train_once(self) -> None:
        from econdsl.trainer import session

        s = session.prepare(str(MODEL), str(self.run), flags={"iterations": 2, "envs": 2},
                            sets={"threads": "1", "checkpoint_every": "1", "eval_envs": "1"})
        session.train(s)

    # ------------------------------------------------------------------ running one case

    def invoke(self, kind: str, args: list[str]) -> Outcome:
        from econdsl.cli import main

        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            with _stub_training():
                res = CliRunner().invoke(main, args, catch_exceptions=True)
        finally:
            os.chdir(cwd)
        out = Outcome(kind, args, res.exit_code)
        exc = res.exception
        if exc is not None and not isinstance(exc, SystemExit | click.exceptions.Exit):
            out.error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]
        elif res.exit_code not in (0, 1, 2, 130):
            out.error = f"exit status {res.exit_code}"
        elif res.exit_code in (1, 2) and not res.output.strip():
            out.error = f"exit {res.exit_code} without a message"
        elif "Traceback (most recent call last)" in res.output:
            out.error = "a traceback in the output:\n" + res.output[-3000:]
        return out

    def case(self, kind: str) -> Outcome:
        try:
            return getattr(self, f"_{kind}")()
        finally:  # run directories of this case; o1, o2 … stay, so later cases meet existing outputs
            for d in ("r", "runs"):
                shutil.rmtree(self.tmp / d, ignore_errors=True)

    def cases(self, n: int) -> Iterator[Outcome]:
        for k in range(n):
            yield self.case(KINDS[k % len(KINDS)])

    # ------------------------------------------------------------------ train settings in the model text

    def _setting(self) -> Outcome:
        rng = self.rng
        lines = []
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(self.settings + ["N_a", "c", "nonsense", "lr[Firm]", "lr[Bank]", "epochs[Firm]"])
            lines.append(f"    {name} = {_value(rng)}")
        text = MODEL_TEXT.replace("    iterations = 300\n", "\n".join(lines) + "\n", 1)
        path = self.tmp / f"set{rng.randrange(10**9)}.econ"
        path.write_text(text, encoding="utf-8")
        if rng.random() < 0.7:
            out = self.invoke("setting", ["check", str(path)])
        else:  # the same values through --set, on the unchanged model
            args = ["train", str(MODEL), "--out", str(self.tmp / "r" / str(rng.randrange(10**9))), "--quiet"]
            for line in lines:
                args += ["--set", line.strip().replace(" = ", "=", 1)]
            out = self.invoke("setting", args)
        path.unlink(missing_ok=True)
        return out

    # ------------------------------------------------------------------ command-line flags

    def _flags(self) -> Outcome:
        from econdsl.cli import main

        rng = self.rng
        name = rng.choice(sorted(c for c in main.list_commands(click.Context(main)) if c not in ("lsp", "fmt")))
        cmd = main.get_command(click.Context(main), name)
        args = [name]
        needs_run = any(isinstance(p, click.Argument) and p.name == "run" for p in cmd.params)
        positional = {"FILE": str(MODEL), "FILES": str(MODEL), "A": str(MODEL), "B": str(MODEL),
                      "RUN": str(self._copy_run()) if needs_run else "", "CODE": rng.choice(["E104", "E999", ""])}
        for p in cmd.params:
            if isinstance(p, click.Argument):
                key = (p.name or "").upper()
                choice = rng.random()
                value = positional.get(key, str(MODEL)) if choice < 0.8 else rng.choice(
                    ["/dev/zero", str(self.tmp / "missing.econ"), str(self.tmp), str(self.run / "metrics.csv"), ""])
                args.append(value)
        options = [p for p in cmd.params if isinstance(p, click.Option) and "--help" not in p.opts]
        for p in rng.sample(options, k=min(len(options), rng.randint(0, 4))):
            flag = rng.choice(p.opts)
            if p.is_flag:
                args.append(flag)
            elif p.name in ("sets",):
                setting = rng.choice(self.settings + ["c", "N_a", "zz", "lr[Firm]"])
                args += [flag, f"{setting}={_value(rng)}" + (f",{_value(rng)}" if rng.random() < 0.3 else "")]
            elif p.name in ("out", "out_dir"):
                args += [flag, str(self.tmp / rng.choice(["o1", "o2", "o2.partial", "trained", "x/y", "\n"]))]
            else:
                args += [flag, _value(rng)]
        if name in ("train",) and "--out" not in args:
            args += ["--out", str(self.tmp / "r" / str(rng.randrange(10**9)))]
        return self.invoke("flags", args)

    # ------------------------------------------------------------------ damaged run directories

    def _copy_run(self) -> Path:
        dst = self.tmp / "runs" / str(self.rng.randrange(10**9))
        shutil.copytree(self.run, dst)
        return dst

    def _rundir(self) -> Outcome:
        rng = self.rng
        run = self._copy_run()
        target = rng.choice(["config.json", "metrics.csv", "checkpoint.pt", "model.econ", "eval.json", "eval.npz"])
        damage = self._damage(run / target)
        cmd = rng.choices([["train", str(MODEL), "--out", str(run), "--resume", "--quiet"],
                           ["best-response", str(run), "--iterations", "1", "--eval-iterations", "1"],
                           ["plot", str(run), "--out", str(run / "fig")]], weights=[4, 4, 1])[0]  # plot is slow
        out = self.invoke("rundir", cmd)
        out.notes.append(f"{target}: {damage}")
        shutil.rmtree(run, ignore_errors=True)
        return out

    def _damage(self, path: Path) -> str:
        rng = self.rng
        data = path.read_bytes()
        how = rng.choice(["truncate", "flip", "empty", "random", "append", "structured"])
        if how == "truncate":
            path.write_bytes(data[: rng.randrange(len(data) + 1)])
        elif how == "flip" and data:
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            path.write_bytes(bytes(b))
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "random":
            path.write_bytes(os.urandom(rng.randint(1, 4096)))
        elif how == "append":
            path.write_bytes(data + rng.choice([b"\n", b"garbage,,\n", b"1e400\n", b"\xff\xfe", b",".join(
                _value(rng).encode() for _ in range(rng.randint(1, 40)))]))
        else:
            how = self._structured(path)
        return how

    def _structured(self, path: Path) -> str:
        """Well-formed files with wrong contents: JSON values of the wrong type, tensors replaced, rows cut."""
        rng = self.rng
        if path.suffix == ".json":
            d = json.loads(path.read_text(encoding="utf-8"))
            keys = _paths(d)
            key = rng.choice(keys)
            _set(d, key, rng.choice([None, -1, 1e308, "x", [], {}, True, [1, "a"], {"a": 1}, 2**70]))
            path.write_text(json.dumps(d), encoding="utf-8")
            return f"json {'/'.join(map(str, key))}"
        if path.suffix == ".pt":
            d = torch.load(path, weights_only=True)
            keys = _paths(d)
            key = rng.choice(keys)
            _set(d, key, rng.choice([None, -1, "x", [], {}, torch.zeros(3), torch.full((2,), float("nan")),
                                     torch.zeros(0, dtype=torch.uint8), 2**70, 1.5]))
            torch.save(d, path)
            return f"checkpoint {'/'.join(map(str, key))}"
        if path.suffix == ".econ":
            toks = path.read_text(encoding="utf-8").split(" ")
            k = rng.randrange(len(toks))
            toks[k] = rng.choice(NUMBERS + ["", "end", "model", "#", "\r", "Inf"])
            path.write_text(" ".join(toks), encoding="utf-8")
            return "model token"
        if path.suffix == ".csv":
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            k = rng.randrange(len(lines))
            lines[k] = rng.choice(["", "\n", lines[k][: len(lines[k]) // 2], ",".join(
                _value(rng) for _ in range(lines[k].count(",") + 1)) + "\n"])
            path.write_text("".join(lines), encoding="utf-8")
            return f"metrics line {k}"
        path.write_bytes(path.read_bytes()[::-1])
        return "reversed"


def _paths(d, prefix=()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    return out or [()]


def _set(d, key: tuple, value) -> None:
    if not key:
        return
    for k in key[:-1]:
        d = d[k]
    d[key[-1]] = value

