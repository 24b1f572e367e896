"""The Ray engine's parts that need no Ray cluster (fast): how run directories travel and land, what a task
leaves behind when it ends early, resources no node has. The engine on a real cluster: test_sweep_ray.py."""

from __future__ import annotations

import json
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


def _mapping_engine(monkeypatch, outcome) -> ray_engine.RayEngine:
    """A RayEngine whose map tasks "return" ``outcome(item)`` (a value, or a :class:`_Failed`)."""
    engine = object.__new__(ray_engine.RayEngine)
    engine.map_task = SimpleNamespace(remote=lambda fn, tree, item: outcome(item))
    monkeypatch.setattr(ray, "put", lambda x: x)
    monkeypatch.setattr(ray, "get", _get)
    monkeypatch.setattr(ray, "cancel", lambda *_, **__: None)
    return engine


def test_map_names_the_tasks_ray_lost_after_yielding_the_others(tmp_path: Path, monkeypatch) -> None:
    """A worker that crashed after every retry (WorkerCrashedError, or one wrapped in a RayTaskError as a nested
    task sees it) or an object lost with its node is the engine's failure, not the task's: the other items'
    results still come, then one EngineError says which items were lost and why."""
    from econdsl.analysis.sweep import EngineError

    crash = ray.exceptions.WorkerCrashedError()
    wrapped = ray.exceptions.RayTaskError("run_in_copy", "Traceback ...\nray.exceptions.ObjectLostError: gone",
                                          ray.exceptions.ObjectLostError("ab" * 14, "owner", "call site"))
    failures = {1: crash, 2: wrapped}
    engine = _mapping_engine(monkeypatch, lambda i: _Failed(failures[i]) if i in failures else 10 * i)
    got = []
    with pytest.raises(EngineError, match=r"could not finish 2 of 4 tasks on the run") as info:
        for item, result in engine.map(lambda *_: None, [0, 1, 2, 3], tmp_path):
            got.append((item, result))
    assert got == [(0, 0), (3, 30)]
    assert [item for item, _ in info.value.lost] == [1, 2]
    assert info.value.lost[0][1].startswith("WorkerCrashedError: The worker died unexpectedly")
    assert info.value.lost[1][1].startswith("ObjectLostError: Failed to retrieve object")


def test_map_raises_an_exception_of_the_task_as_itself(tmp_path: Path, monkeypatch) -> None:
    own = ray.exceptions.RayTaskError("run_in_copy", "Traceback ...", ZeroDivisionError("the task's own"))
    engine = _mapping_engine(monkeypatch, lambda i: _Failed(own) if i == 1 else i)
    with pytest.raises(ZeroDivisionError, match="the task's own"):
        list(engine.map(lambda *_: None, [0, 1, 2], tmp_path))


def test_best_response_reports_a_lost_ray_task_and_keeps_the_other_results(tmp_path: Path, monkeypatch) -> None:
    """`econdsl best-response --engine ray` with a task lost after every retry: exit 1 with a message naming
    the run, the type and seed and the cause (no traceback), and the other seeds' results written."""
    from click.testing import CliRunner

    from econdsl.analysis import best_response as br
    from econdsl.analysis.sweep import EngineError
    from econdsl.cli import main
    from econdsl.commands import best_response as command

    trainer = SimpleNamespace(types=["Consumer"], env=SimpleNamespace(n_agents={"Consumer": 4}),
                              cfg=SimpleNamespace(envs=2, seed=0))
    monkeypatch.setattr(br, "load_trainer", lambda run: trainer)
    written = {}

    def write_results(out, results, settings, run_dir):
        written["results"] = results
        out.mkdir(parents=True, exist_ok=True)
        return {k: out / f"epsilon.{k}" for k in ("json", "csv", "markdown", "plot")}

    monkeypatch.setattr(br, "write_results", write_results)

    seed0 = SimpleNamespace(kind="type", before=1.0, after=1.5, eps_abs=0.5, ci95=(0.4, 0.6))

    class LosesSeed1:
        def map(self, fn, items, run_dir):
            yield items[0], [seed0]
            raise EngineError("lost", [(items[1], "WorkerCrashedError: The worker died unexpectedly")])

    monkeypatch.setattr(command, "engine_of", lambda *_: LosesSeed1())
    run = tmp_path / "run"
    run.mkdir()
    r = CliRunner().invoke(main, ["best-response", str(run), "--seeds", "2", "--json", "--engine", "ray"])
    assert r.exit_code == 1, r.output
    assert not isinstance(r.exception, EngineError)
    assert f"best response on `{run}`: the Ray engine lost `Consumer` seed 1: WorkerCrashedError: The worker " \
           "died unexpectedly; the 1 other unit(s) are written to" in r.output
    assert written["results"] == [seed0]


def test_an_address_other_than_the_cluster_ray_is_connected_to_is_refused(monkeypatch) -> None:
    """Ray already initialised in this process: another --address cannot be honoured (it would take a
    ray.shutdown() of the session the process holds) and must not be ignored either."""
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(gcs_address="10.0.0.1:6379"))
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "Resources": {"CPU": 2.0}}])
    with pytest.raises(RuntimeError, match=r"--address 10.0.0.2:6379: this process is already connected to the "
                                           r"Ray cluster at 10.0.0.1:6379"):
        ray_engine.RayEngine(address="10.0.0.2:6379")
    with pytest.raises(RuntimeError, match="asks for 4 CPUs"):  # its own address: accepted (then too few CPUs)
        ray_engine.RayEngine(address="10.0.0.1:6379", cpus_per_run=4)


_FAKE_TRAIN = """
import json, sys
from pathlib import Path
model, rd = sys.argv[1], Path(sys.argv[2])  # what `econdsl train MODEL --out RD` writes about MODEL
rd.mkdir(parents=True, exist_ok=True)
(rd / "config.json").write_text(json.dumps({"model_path": model, "config": {}, "columns": ["iteration"]},
                                                 ensure_ascii=False, indent=2))
(rd / "model.econ").write_text(f"# Resolved from {json.dumps(model)} by econdsl train.\\nmodel x\\n")
(rd / "model.json").write_text(json.dumps({"node": "Model", "span": f"{model}:1:1"}))
"""


def test_a_ray_run_names_the_drivers_model_file_and_its_report_has_the_models_titles(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    """The task trains a scratch copy of the model; the run directory on the driver must name the driver's
    file (config.json, model.econ, model.json), as a local run does: the report reads the model's comments,
    its titles, from the file config.json names, and the scratch copy is deleted with the task."""
    from econdsl.language import check_model
    from econdsl.trainer.labels import model_labels
    from econdsl.trainer.report import model_view
    from econdsl.trainer.run import RunDir

    model = Path(__file__).resolve().parent / "models" / "labour_leisure.econ"
    monkeypatch.setattr(ray_engine, "train_command",
                        lambda point, plan_, rd, resume: [sys.executable, "-c", _FAKE_TRAIN, point.file, str(rd)])
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(get_node_id=lambda: "f" * 56))
    monkeypatch.setattr(ray, "get", _get)
    monkeypatch.setattr(ray_engine.tempfile, "tempdir", str(tmp_path))
    point = Point("m__seed0", "m", str(model), (), 0, "runs/m/seed0")
    store = ray_engine.RunStore()
    rd = tmp_path / "run"
    store.register(point.id, str(rd), str(tmp_path / "log"))
    sources = dict(check_model(str(model)).sources)
    assert ray_engine.train_point(_Actor(store), point, Plan([point], None, ()), sources, 1) == 0
    info = RunDir(rd).info()
    assert info["model_path"] == str(model)
    assert (rd / "model.econ").read_text().startswith(f"# Resolved from {json.dumps(str(model))} by econdsl train.")
    assert json.loads((rd / "model.json").read_text())["span"] == f"{model}:1:1"
    expected = model_labels(model)
    assert any(label.description for label in expected.values())
    assert model_view(RunDir(rd), info).labels == expected
