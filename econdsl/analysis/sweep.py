"""Grids of training runs: plan the points, train them in parallel processes, resume after a kill.

A *point* is one (model file, overrides, seed) triple; it becomes one run directory trained by
``econdsl train`` in its own process. The sweep directory holds:

- ``sweep.json``: the plan (every point, its file, overrides and run directory), written first;
- ``runs/<variant>/seed<k>/``: the trainer's run directories;
- ``status/<point>.json``: written when a point's training process exits successfully; a point with a
  status file is finished and is never trained again;
- ``logs/<point>.log``: each training process's output.

Resuming: a point without a status file whose run directory holds a checkpoint is continued with the
trainer's ``--resume``; one whose run directory holds no checkpoint yet is started again from scratch.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from ..trainer.fileio import RunError, remove_temporaries, write_atomic
from ..trainer.progress import clock
from . import runs

T = TypeVar("T")
R = TypeVar("R")


class SweepError(ValueError):
    """A sweep that cannot be planned or run; the message says why."""


class EngineError(RuntimeError):
    """An engine lost work for a reason of its own, not of the run's code (a Ray worker or node that died
    after every retry, an object lost with its node): ``lost`` names each item it could not finish and why."""

    def __init__(self, message: str, lost: Sequence[tuple[object, str]] = ()) -> None:
        super().__init__(message)
        self.lost = list(lost)


@dataclass(frozen=True)
class Point:
    """One training run of a sweep."""

    id: str  # unique, filesystem-safe: "<variant>__seed<k>"
    variant: str  # the model stem plus its overrides, e.g. "rbc_open__q_x=50"
    file: str
    overrides: tuple[tuple[str, str], ...]
    seed: int
    run_dir: str  # relative to the sweep directory

    @property
    def label(self) -> str:
        """A human name of the variant: the model plus its overrides."""
        stem = Path(self.file).stem
        if not self.overrides:
            return stem
        return stem + " " + " ".join(f"{k}={v}" for k, v in self.overrides)


@dataclass
class Plan:
    """Every point of a sweep and the options every run shares."""

    points: list[Point]
    preset: str | None = None
    train_args: list[str] = field(default_factory=list)  # extra `econdsl train` flags, e.g. --iterations 50

    def to_json(self) -> str:
        return json.dumps({"preset": self.preset, "train_args": self.train_args,
                           "points": [asdict(p) for p in self.points]}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        d = json.loads(text)
        pts = [Point(p["id"], p["variant"], p["file"], tuple(tuple(x) for x in p["overrides"]), p["seed"],
                     p["run_dir"]) for p in d["points"]]
        return cls(pts, d.get("preset"), list(d.get("train_args", [])))

    def variants(self) -> list[str]:
        out: list[str] = []
        for p in self.points:
            if p.variant not in out:
                out.append(p.variant)
        return out


_UNSAFE = re.compile(r"[^\w.=+-]", re.UNICODE)


def _safe(s: str) -> str:
    return _UNSAFE.sub("_", s)


def parse_sets(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["lr=1e-3,3e-3", "q_x=50"]`` → ``[("lr", ["1e-3", "3e-3"]), ("q_x", ["50"])]``."""
    out: list[tuple[str, list[str]]] = []
    seen = set()
    for item in items:
        if "=" not in item:
            raise SweepError(f"--set `{item}`: expected name=value[,value...]")
        name, _, values = item.partition("=")
        name = name.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not name or not vals:
            raise SweepError(f"--set `{item}`: expected name=value[,value...]")
        if name in seen:
            raise SweepError(f"--set `{name}` is given twice; list its values once, separated by commas")
        seen.add(name)
        out.append((name, vals))
    return out


def parse_ablations(items: Sequence[str]) -> list[tuple[tuple[str, str], ...]]:
    """``["obs_norm=running", "epochs=1 minibatches=4"]`` → one tuple of (name, value) pairs per variant:
    the settings that one ablation changes together (space-separated, one value each)."""
    out: list[tuple[tuple[str, str], ...]] = []
    for item in items:
        pairs = []
        for word in item.split():
            name, sep, value = word.partition("=")
            if not sep or not name.strip() or not value.strip() or "," in value:
                raise SweepError(f"--ablate `{item}`: expected name=value[ name=value ...], one value each")
            pairs.append((name.strip(), value.strip()))
        if not pairs:
            raise SweepError("--ablate needs at least one name=value")
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise SweepError(f"--ablate `{item}` sets a name twice")
        out.append(tuple(pairs))
    return out


def plan(files: Sequence[str | Path], sets: Sequence[tuple[str, list[str]]], seeds: int,
         seed_base: int = 0, preset: str | None = None, train_args: Sequence[str] = (),
         ablations: Sequence[tuple[tuple[str, str], ...]] = ()) -> Plan:
    """The Cartesian grid files × values of every --set × seeds, in a stable order.

    With ``ablations`` every grid point is also run with each ablation's settings changed (one ablation at
    a time, not their product), after the unchanged point: a one-at-a-time ablation of a baseline.
    """
    if seeds < 1:
        raise SweepError("--seeds must be ≥ 1")
    if not files:
        raise SweepError("no model file given")
    stems = [Path(f).stem for f in files]
    # A --set with one value is the same for every point: it is a training flag, not a grid dimension,
    # so it does not lengthen the run names (and a directory reused with another value is refused).
    train_args = list(train_args)
    for n, vals in sets:
        if len(vals) == 1:
            train_args += ["--set", f"{n}={vals[0]}"]
    sets = [(n, vals) for n, vals in sets if len(vals) > 1]
    names = [n for n, _ in sets]
    for abl in ablations:
        clash = [n for n, _ in abl if n in names]
        if clash:
            raise SweepError(f"`{clash[0]}` is both a --set grid dimension and changed by --ablate")
    # `train` lets its flags win over --set, so a grid or an ablation of a name that a flag fixes would run
    # every point with the flag's value under another label
    fixed = {a[2:] for a in train_args[::2] if a.startswith("--")}
    for n in [*names, *(k for abl in ablations for k, _ in abl)]:
        if n in fixed:
            raise SweepError(f"`{n}` is fixed for every run by --{n} and varied by --set/--ablate: give only one")
    points: list[Point] = []
    for f, stem in zip(files, stems, strict=True):
        # Two files with the same stem (a/m.econ, b/m.econ) get their position as a prefix.
        base = stem if stems.count(stem) == 1 else f"{list(files).index(f)}-{stem}"
        for combo in itertools.product(*[v for _, v in sets]):
            for extra in [(), *ablations]:
                overrides = tuple(zip(names, combo, strict=True)) + tuple(extra)
                variant = "__".join([_safe(base)] + [_safe(f"{k}={v}") for k, v in overrides])
                for k in range(seeds):
                    seed = seed_base + k
                    pid = f"{variant}__seed{seed}"
                    points.append(Point(pid, variant, str(f), overrides, seed, f"runs/{variant}/seed{seed}"))
    return Plan(points, preset, train_args)


def validate(plan_: Plan) -> None:
    """Build the training config of every point as ``econdsl train`` would, before anything runs: an unknown
    --set name, a value out of range or a missing preset is a :class:`SweepError` (a usage error), not a
    sweep whose every run fails. A model with errors raises the front end's ``EconError``."""
    from ..language import check_model
    from ..trainer.config import ConfigError, build_layers
    from ..trainer.curriculum import CurriculumError

    shared: dict[str, str] = {}
    flags: dict[str, object] = {}
    args = list(plan_.train_args)
    for flag, value in zip(args[::2], args[1::2], strict=False):
        if flag == "--set":
            name, _, v = value.partition("=")
            shared[name.strip()] = v.strip()
        elif flag in ("--iterations", "--envs"):
            flags[flag[2:]] = value
    checked: dict[str, object] = {}
    for p in plan_.points:
        if p.file not in checked:
            checked[p.file] = check_model(p.file)
        try:
            build_layers(checked[p.file], plan_.preset, dict(shared, **dict(p.overrides)),
                         dict(flags, seed=p.seed))
        except (ConfigError, CurriculumError) as e:
            raise SweepError(f"{p.id}: {e}") from None


def train_command(point: Point, plan_: Plan, run_dir: Path, resume: bool) -> list[str]:
    """The ``econdsl train`` command line of one point."""
    cmd = [sys.executable, "-m", "econdsl.cli", "train", point.file, "--seed", str(point.seed),
           "--out", str(run_dir)]
    if plan_.preset:
        cmd += ["--preset", plan_.preset]
    # The shared flags first, without the --set names this point overrides: an ablation changes a setting
    # that a one-valued --set fixes for the others (`--set N_a=60 --ablate N_a=40`), and `train` keeps the
    # last --set of a name, so the point's own values must be the only ones (validate() builds the same).
    mine = {k for k, _ in point.overrides}
    args = list(plan_.train_args)
    for flag, value in zip(args[::2], args[1::2], strict=False):
        if not (flag == "--set" and value.partition("=")[0].strip() in mine):
            cmd += [flag, value]
    # The thread budget per job reaches the run only through OMP_NUM_THREADS (see Sweep._start), so a
    # `threads` setting of the model's preset or of --set still wins.
    for k, v in point.overrides:
        cmd += ["--set", f"{k}={v}"]
    if resume:
        cmd.append("--resume")
    return cmd


@dataclass
class Outcome:
    point: Point
    status: str  # skipped | done | failed | interrupted
    seconds: float = 0.0
    returncode: int | None = None


def status_path(out: Path, p: Point) -> Path:
    """The file that marks point ``p`` of the sweep in ``out`` as finished."""
    return out / "status" / f"{p.id}.json"


class Engine(Protocol):
    """Where a sweep's training runs execute. :class:`Sweep` owns everything else (the plan, which points are
    finished, resuming, status files, progress, the report), so that every engine behaves the same:
    :class:`LocalEngine` (processes on this machine) and ``econdsl.scale.ray_engine.RayEngine`` (Ray tasks)."""

    slots: int  # runs that can execute at once (the ETA divides by it)

    def has_room(self) -> bool:
        """Whether :meth:`start` may be called now (an engine that queues runs itself always has room)."""

    def start(self, point: Point, plan_: Plan, run_dir: Path, log: Path, resume: bool) -> None:
        """Start training ``point`` into ``run_dir`` (continuing its checkpoint when ``resume``), its output
        appended to ``log``."""

    def finished(self, timeout: float) -> list[tuple[Point, int | None]]:
        """The runs that ended since the last call, with their exit status (None: it could not run);
        waits up to ``timeout`` seconds when none has."""

    def running(self) -> dict[str, float]:
        """Point id -> when it started executing (``time.time()``), of every run executing now (a run the
        engine has accepted but not started yet is not in it)."""

    def busy(self) -> bool:
        """Whether any started run has not been returned by :meth:`finished` yet."""

    def stop(self) -> list[tuple[Point, int | None]]:
        """Stop every run (they keep their last checkpoint); return them."""

    def map(self, fn: Callable[[str, T], R], items: Sequence[T], run_dir: str | Path) -> Iterator[tuple[T, R]]:
        """``fn(run_dir, item)`` for every item (analyses of one finished run, e.g. best-response seeds), in
        the order of ``items``; an exception of ``fn`` propagates. Items the engine itself could not finish
        (a lost worker) raise :class:`EngineError` once the others have been yielded."""


class LocalEngine:
    """``econdsl train`` processes on this machine, ``jobs`` at a time, each with ``cpus / jobs`` threads."""

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise SweepError("--jobs must be ≥ 1")
        self.slots = jobs
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self._children: dict[int, tuple[subprocess.Popen, Point, object]] = {}
        self._since: dict[str, float] = {}

    def has_room(self) -> bool:
        return len(self._children) < self.slots

    def start(self, point: Point, plan_: Plan, run_dir: Path, log: Path, resume: bool) -> None:
        cmd = train_command(point, plan_, run_dir, resume)
        f = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in finished()/stop()
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        self._children[proc.pid] = (proc, point, f)
        self._since[point.id] = time.time()

    def finished(self, timeout: float) -> list[tuple[Point, int | None]]:
        deadline = time.time() + timeout
        while True:
            out: list[tuple[Point, int | None]] = []
            for pid, (proc, p, f) in list(self._children.items()):
                rc = proc.poll()
                if rc is not None:
                    del self._children[pid]
                    self._since.pop(p.id, None)
                    f.close()  # type: ignore[attr-defined]
                    out.append((p, rc))
            if out or time.time() >= deadline:
                return out
            time.sleep(min(0.2, max(deadline - time.time(), 0.0)))

    def running(self) -> dict[str, float]:
        return dict(self._since)

    def busy(self) -> bool:
        return bool(self._children)

    def stop(self) -> list[tuple[Point, int | None]]:
        """Ask every child to stop (SIGINT: the trainer checkpoints), then wait for them."""
        for proc, _p, _f in self._children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.time() + 30
        out: list[tuple[Point, int | None]] = []
        for proc, p, f in self._children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            f.close()  # type: ignore[attr-defined]
            out.append((p, proc.returncode))
        self._children.clear()
        self._since.clear()
        return out

    def map(self, fn: Callable[[str, T], R], items: Sequence[T], run_dir: str | Path) -> Iterator[tuple[T, R]]:
        """One after the other, in this process (sharing what ``fn`` caches)."""
        for item in items:
            yield item, fn(str(run_dir), item)


class Sweep:
    """Runs a plan in a sweep directory on an :class:`Engine` (by default ``jobs`` local processes)."""

    def __init__(self, out: str | Path, plan_: Plan, jobs: int = 1,
                 echo: Callable[[str], None] | None = None, engine: Engine | None = None) -> None:
        self.engine: Engine = engine if engine is not None else LocalEngine(jobs)
        self.out = Path(out)
        self.plan = plan_
        self.echo = echo or (lambda s: print(s, flush=True))
        self._started: dict[str, float] = {}  # point id -> when it was handed to the engine, until it ends
        self._since: dict[str, float] = {}  # point id -> when it started executing, as the engine last said
        self._finished: list[float] = []  # seconds of the runs this invocation finished (the ETA's pace)
        self._done_before = 0  # runs finished by an earlier invocation
        self._failed = 0
        self._shown_running = 0  # the running count of the last progress line

    @property
    def jobs(self) -> int:
        return self.engine.slots

    # ------------------------------------------------------------ state on disk
    def status_path(self, p: Point) -> Path:
        return status_path(self.out, p)

    def is_done(self, p: Point) -> bool:
        return self.status_path(p).exists()

    def run_dir(self, p: Point) -> Path:
        return self.out / p.run_dir

    def prepare(self) -> None:
        """Create the sweep directory; refuse to mix two different plans in one directory."""
        self.out.mkdir(parents=True, exist_ok=True)
        manifest = self.out / "sweep.json"
        whole = self.plan
        if manifest.exists():
            old = Plan.from_json(manifest.read_text(encoding="utf-8"))
            clash = {p.id for p in old.points} & {p.id for p in self.plan.points}
            if (old.preset, old.train_args) != (self.plan.preset, self.plan.train_args) and clash:
                raise SweepError(f"{self.out} already holds a sweep with other training options "
                                 f"(preset {old.preset}, {' '.join(old.train_args) or 'no extra flags'}); "
                                 "use another --out")
            # Keep earlier points in the manifest so that the report covers the whole directory.
            known = {p.id for p in self.plan.points}
            merged = self.plan.points + [p for p in old.points if p.id not in known]
            whole = Plan(merged, self.plan.preset, self.plan.train_args)
        write_atomic(manifest, whole.to_json())
        (self.out / "status").mkdir(exist_ok=True)
        for d in (self.out, self.out / "status"):  # what a sweep killed mid-write left
            remove_temporaries(d)
        (self.out / "logs").mkdir(exist_ok=True)

    # ------------------------------------------------------------ running
    def run(self) -> list[Outcome]:
        """Train every unfinished point; return what happened to each. Ctrl-C stops the runs cleanly."""
        self.prepare()
        todo = [p for p in self.plan.points if not self.is_done(p)]
        outcomes = [Outcome(p, "skipped") for p in self.plan.points if self.is_done(p)]
        for o in outcomes:
            self.echo(f"skip  {o.point.id} (finished earlier)")
        self._done_before = len(outcomes)
        queue = list(todo)
        old_term = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            while queue or self.engine.busy():
                while queue and self.engine.has_room():
                    self._start(queue.pop(0))
                outcomes += [self._record(p, rc) for p, rc in self.engine.finished(0.5)]
                if len(self.engine.running()) != self._shown_running:  # a run started where the engine placed it
                    self.echo(f"      [{self.tally()}]")
        except (KeyboardInterrupt, RunError):  # Ctrl-C, or a sweep file that cannot be written (disk full)
            for p, rc in self.engine.stop():
                outcomes.append(Outcome(p, "interrupted", time.time() - self._started.pop(p.id, time.time()), rc))
            raise
        finally:
            signal.signal(signal.SIGTERM, old_term)
        return outcomes

    def _start(self, p: Point) -> None:
        rd = self.run_dir(p)
        resume = runs.has_checkpoint(rd)
        if rd.exists() and not resume:
            # Started but killed before its first checkpoint: nothing to keep. Only a run directory econdsl made
            # (it has a config.json) or an empty one is removed, never files of the user's.
            if not (rd / "config.json").is_file() and any(rd.iterdir()):
                raise SweepError(f"`{rd}` holds files that are not an econdsl run; move them away or choose "
                                 f"another --out")
            shutil.rmtree(rd)
        rd.parent.mkdir(parents=True, exist_ok=True)
        self._started[p.id] = time.time()
        self.engine.start(p, self.plan, rd, self.out / "logs" / f"{p.id}.log", resume)
        self.echo(f"{'resume' if resume else 'start'} {p.id}  [{self.tally()}]")

    def tally(self) -> str:
        """``3/8 done, 2 running, 1 failed, eta 0:04:10``: the ETA assumes the remaining runs take as long as
        the ones finished so far, ``jobs`` at a time (no ETA before the first run finishes)."""
        total = len(self.plan.points)
        done = self._done_before + len(self._finished) - self._failed
        running = self.engine.running()
        self._since.update(running)
        self._shown_running = len(running)
        text = f"{done}/{total} done, {self._shown_running} running"
        if self._failed:
            text += f", {self._failed} failed"
        if self._finished:
            per_run = sum(self._finished) / len(self._finished)
            now = time.time()
            elapsed = [now - t for t in running.values()]
            queued = total - self._done_before - len(self._finished) - len(running)
            left = sum(max(per_run - e, 0.0) for e in elapsed) + queued * per_run
            text += f", eta {clock(left / max(self.jobs, 1))}"
        return text

    def _record(self, p: Point, rc: int | None) -> Outcome:
        """Mark an ended run: a status file if it finished its training, else a failure (reported, not raised)."""
        t0 = self._started.pop(p.id, time.time())
        dt = time.time() - self._since.pop(p.id, t0)  # from when it started executing, if the engine said
        self._finished.append(dt)
        if rc == 0 and runs.is_finished(self.run_dir(p)):
            write_atomic(self.status_path(p), json.dumps({"id": p.id, "seconds": round(dt, 2),
                                                          "finished": time.time()}))
            self.echo(f"done  {p.id} ({dt:.0f} s)  [{self.tally()}]")
            return Outcome(p, "done", dt, rc)
        self._failed += 1
        why = "exit " + str(rc) if rc is not None else "could not run"
        self.echo(f"FAIL  {p.id} ({why}; see {self.out / 'logs' / (p.id + '.log')})  [{self.tally()}]")
        return Outcome(p, "failed", dt, rc)


def _raise_interrupt(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def load_plan(out: str | Path) -> Plan:
    manifest = Path(out) / "sweep.json"
    if not manifest.exists():
        raise SweepError(f"{out} is not a sweep directory (no sweep.json)")
    return Plan.from_json(manifest.read_text(encoding="utf-8"))
