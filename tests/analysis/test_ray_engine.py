"""The Ray engine's parts that need no Ray cluster (fast): how run directories travel and land, what a task
leaves behind when it ends early, resources no node has. The engine on a real cluster: test_sweep_ray.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("ray")

import ray  # noqa: E402

from econdsl.analysis.sweep import Plan, Point  # noqa: E402
from econdsl.scale import ray_engine  # noqa: E402
from econdsl.trainer import files  # noqa: E402


class _Failed:
    """An object ref whose ``ray.get`` raises."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _get(ref):
    if isinstance(ref, list):
        return [_get(r) for r in ref]
    if isinstance(ref, _Failed):
        raise ref.exc
    return ref


class _Actor:
    """``actor.method.remote(*args)`` runs the method here and returns its result as the "ref"."""

    def __init__(self, obj, fail: dict[str, BaseException] | None = None):
        self.obj, self.fail = obj, fail or {}

    def __getattr__(self, name):
        def remote(*args):
            if name in self.fail:
                return _Failed(self.fail[name])
            return getattr(self.obj, name)(*args)
        return SimpleNamespace(remote=remote)


def _point(tmp_path: Path) -> Point:
    return Point("m__seed0", "m", str(tmp_path / "m.econ"), (), 0, "runs/m/seed0")


def test_a_push_cut_midway_never_leaves_a_checkpoint_newer_than_its_metrics(tmp_path: Path, monkeypatch) -> None:
    """The store writes the files of a push one by one; the driver killed after any of them (Ctrl-C during a
    push) must leave metrics that cover the checkpoint (resume keeps only the rows before it) and no
    evaluation summary (a finished run) without the rest."""
    names = [files.CHECKPOINT, files.METRICS, files.EVAL_ARRAYS, files.EVAL_SUMMARY, "tb/events"]
    real = os.replace
    for cut in range(len(names) + 1):
        rd = tmp_path / f"cut{cut}"
        ray_engine._write_tree(rd, {n: b"old" for n in names})
        done = []

        def replace(src, dst, done=done, cut=cut):
            if len(done) == cut:
                raise KeyboardInterrupt
            done.append(Path(dst).name)
            real(src, dst)

        monkeypatch.setattr(ray_engine.os, "replace", replace)
        # the order the worker sends them in: the checkpoint first (read first, see _read_tree)
        try:
            ray_engine._write_tree(rd, {n: b"new" for n in names})
        except KeyboardInterrupt:
            pass
        monkeypatch.setattr(ray_engine.os, "replace", real)
        new = {n for n in names if (rd / n).read_bytes() == b"new"}
        if files.CHECKPOINT in new:
            assert files.METRICS in new, (cut, done)
        if files.EVAL_SUMMARY in new:
            assert new == set(names), (cut, done)


def test_symbolic_links_of_a_run_directory_are_not_sent(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("key")
    rd = tmp_path / "run"
    (rd / "sub").mkdir(parents=True)
    (rd / files.METRICS).write_text("iteration\n")
    (rd / "sub" / "x").write_text("x")
    (rd / "notes.txt").symlink_to(secret / "id_rsa")
    (rd / "linked").symlink_to(secret, target_is_directory=True)
    assert ray_engine._read_tree(rd) == {files.METRICS: b"iteration\n", "sub/x": b"x"}


def test_writing_outside_the_run_directory_is_refused(tmp_path: Path) -> None:
    for rel in ("../escape", "/tmp/escape", "sub/../../escape"):
        with pytest.raises(ValueError, match="outside the run directory"):
            ray_engine._write_tree(tmp_path / "run", {rel: b"x"})
    assert not (tmp_path / "escape").exists()


def test_resources_no_node_has_are_refused_not_queued_forever(monkeypatch) -> None:
    """Two nodes: 2 CPUs, and 1 CPU with 1 GPU. The cluster has 3 CPUs and a GPU, but no node holds a run of
    2 CPUs and 1 GPU: Ray would queue it forever and the sweep would wait without a word."""
    nodes = [{"Alive": True, "Resources": {"CPU": 2.0}}, {"Alive": True, "Resources": {"CPU": 1.0, "GPU": 1.0}},
             {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 3.0, "GPU": 1.0})
    with pytest.raises(RuntimeError, match=r"asks for 2 CPUs and 1 GPUs .*at most 2 CPUs and 1 GPUs on a node"):
        ray_engine.RayEngine(cpus_per_run=2, gpus_per_run=1)
    assert ray_engine._unplaceable(nodes, 1, 1) is None
    assert ray_engine._unplaceable(nodes, 2, 0) is None
    assert "at most 2 CPUs" in ray_engine._unplaceable(nodes, 4, 0)


def test_a_failed_task_is_no_longer_counted_running(tmp_path: Path, monkeypatch) -> None:
    """Retries exhausted: the task never called `end`; the sweep's progress must not count it running."""
    store = ray_engine.RunStore()
    point = _point(tmp_path)
    store.register(point.id, str(tmp_path / "run"), str(tmp_path / "log"))
    store.begin(point.id, "node", 123)
    engine = object.__new__(ray_engine.RayEngine)
    engine.store = _Actor(store)
    ref = _Failed(ray.exceptions.RayError("the worker died"))
    engine._pending = {ref: point}
    engine._polled = 0.0
    monkeypatch.setattr(ray, "wait", lambda refs, **_: (list(refs), []))
    monkeypatch.setattr(ray, "get", _get)
    assert engine.finished(0.1) == [(point, None)]
    assert engine.running() == {}
    assert "# the Ray task failed: the worker died" in (tmp_path / "log").read_text()


def test_a_task_whose_push_fails_leaves_no_training_behind(tmp_path: Path, monkeypatch) -> None:
    """The driver is gone (its store actor died): the task ends, and so must the training process it started,
    which would otherwise go on using the CPUs Ray has handed to another task."""
    started: list[subprocess.Popen] = []

    class Popen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(ray_engine.subprocess, "Popen", Popen)
    monkeypatch.setattr(ray_engine, "train_command",
                        lambda *_: [sys.executable, "-c", "import time; time.sleep(120)"])
    monkeypatch.setattr(ray_engine, "PUSH_LOG_EVERY_S", 0.0)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(get_node_id=lambda: "f" * 56))
    monkeypatch.setattr(ray, "get", _get)
    monkeypatch.setattr(ray_engine.tempfile, "tempdir", str(tmp_path))
    point = _point(tmp_path)
    store = ray_engine.RunStore()
    store.register(point.id, str(tmp_path / "run"), str(tmp_path / "log"))
    try:
        with pytest.raises(ray.exceptions.RayError, match="the store is gone"):
            ray_engine.train_point(_Actor(store, fail={"push": ray.exceptions.RayError("the store is gone")}),
                                   point, Plan([point], None, ()), {}, 1)
        assert started and started[0].poll() is not None, "the training process outlived its task"
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert not list(tmp_path.glob(f"{ray_engine.SCRATCH_PREFIX}*")), "scratch left behind"


def test_scratch_directories_of_killed_workers_are_removed(tmp_path: Path, monkeypatch) -> None:
    """A worker killed with SIGKILL cannot remove its scratch (a copy of the run); the node's next task does."""
    monkeypatch.setattr(ray_engine.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    node, other = "a" * 56, "b" * 56
    orphan = tmp_path / f"{ray_engine.SCRATCH_PREFIX}{node[:12]}-{dead.pid}-x1"
    live = tmp_path / f"{ray_engine.SCRATCH_PREFIX}{node[:12]}-{os.getpid()}-x2"
    elsewhere = tmp_path / f"{ray_engine.SCRATCH_PREFIX}{other[:12]}-{dead.pid}-x3"  # another node's: not ours to judge
    for d in (orphan, live, elsewhere):
        (d / "run").mkdir(parents=True)
        (d / "run" / files.CHECKPOINT).write_bytes(b"x" * 100)
    with ray_engine._scratch(node) as scratch:
        assert Path(scratch).parent == tmp_path and Path(scratch).exists()
        assert not orphan.exists() and live.exists() and elsewhere.exists()
    assert not Path(scratch).exists()
