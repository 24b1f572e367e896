"""The Ray engine of ``econdsl sweep`` / ``compare``: every run is one Ray task with its declared resources.

Ray schedules the tasks (nothing here queues or places runs) and retries a task whose worker died. The sweep
directory stays on the driver's machine whether the workers share its filesystem or not:

- a :class:`RunStore` actor, pinned to the driver's node, is the only thing that reads or writes it;
- a task asks the store for the run directory as it stands (its last checkpoint, or nothing), trains in a
  scratch directory of its own machine with ``econdsl train`` (the same command as the local engine), and
  sends the run directory back to the store each time the trainer writes a checkpoint, and at the end;
- a task retried after its worker was killed therefore resumes from the last checkpoint that reached the
  driver, on whichever node Ray picks.

The model sources (the file and everything it imports) travel with the task, so workers need econdsl
installed but not the driver's files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import ray

from ..analysis import runs
from ..analysis.sweep import EngineError, Plan, Point, train_command
from ..trainer import files as run_files
from ..trainer.fileio import TMP_SUFFIX

PUSH_LOG_EVERY_S = 5.0  # a run's log reaches the driver at least this often (and with every checkpoint)
SCRATCH_PREFIX = "econdsl-ray-"
# Files that vouch for others: a checkpoint for the metrics rows before it (resume keeps only those), the
# evaluation summary for the whole run (``runs.is_finished``). They are written after everything else.
_MARKERS = (run_files.CHECKPOINT, run_files.EVAL_SUMMARY)


def _read_tree(root: Path, names_only: bool = False) -> dict[str, bytes]:
    """Every regular file under ``root`` by relative path (with empty contents if ``names_only``); the
    checkpoint first, so that the metrics read after it hold at least the rows it covers (the trainer makes
    them durable before it writes a checkpoint). Symbolic links are left out: a run directory from elsewhere
    must not send the files they point to (``~/.ssh/...``) to the cluster."""
    paths = sorted((p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                    and not p.name.endswith((TMP_SUFFIX, ".tmp"))),
                   key=lambda p: p.name != run_files.CHECKPOINT)
    out: dict[str, bytes] = {}
    for p in paths:
        try:
            out[str(p.relative_to(root))] = b"" if names_only else p.read_bytes()
        except FileNotFoundError:  # a temporary the trainer renamed meanwhile
            continue
    return out


def _write_tree(root: Path, tree: dict[str, bytes]) -> None:
    """Write ``tree`` under ``root``, each file atomically (a reader sees the old file or the new one), the
    checkpoint and the evaluation summary last: a writer killed midway (the driver's Ctrl-C during a push)
    never leaves a checkpoint newer than the metrics rows it vouches for."""
    for rel in sorted(tree, key=lambda r: _MARKERS.index(r) + 1 if r in _MARKERS else 0):
        data = tree[rel]
        path = root / rel
        if root.resolve() not in path.resolve().parents:
            raise ValueError(f"refusing to write outside the run directory: {rel}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + TMP_SUFFIX)
        tmp.write_bytes(data)
        os.replace(tmp, path)


class RunStore:
    """The sweep directory's keeper on the driver's node: hands out run directories, takes them back."""

    def __init__(self) -> None:
        self.dirs: dict[str, tuple[str, str]] = {}  # point id -> (run directory, log file) on the driver
        self.attempts: dict[str, int] = {}
        self.workers: dict[str, tuple[str, int, float]] = {}  # point id -> (node, worker pid, since) of an attempt

    def register(self, point_id: str, run_dir: str, log: str) -> None:
        self.dirs[point_id] = (run_dir, log)

    def begin(self, point_id: str, node: str, worker_pid: int) -> dict[str, bytes]:
        """An attempt starts: log it, and return the run directory to continue (empty: start afresh)."""
        rd, log = (Path(x) for x in self.dirs[point_id])
        k = self.attempts[point_id] = self.attempts.get(point_id, 0) + 1
        self.workers[point_id] = (node, worker_pid, time.time())  # this machine's clock: the driver's
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"# attempt {k} on Ray node {node[:12]}, worker pid {worker_pid}\n")
        if runs.has_checkpoint(rd):
            return _read_tree(rd)
        if rd.exists():  # an attempt that died before its first checkpoint: nothing to keep
            shutil.rmtree(rd)
        return {}

    def push(self, point_id: str, tree: dict[str, bytes], log: bytes) -> None:
        rd, log_path = (Path(x) for x in self.dirs[point_id])
        _write_tree(rd, tree)
        if log:
            with open(log_path, "ab") as f:
                f.write(log)

    def end(self, point_id: str) -> None:
        self.workers.pop(point_id, None)

    def running(self) -> dict[str, tuple[str, int, float]]:
        """Point id -> (node, worker pid, start time) of every attempt under way."""
        return dict(self.workers)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The training process dies with the Ray worker that started it (Linux), so that a killed worker
    leaves no orphan writing into its scratch directory."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _scratch(node: str) -> tempfile.TemporaryDirectory:
    """A task's scratch directory, named after its Ray node and worker process. A worker killed with SIGKILL
    (a lost worker, a cancelled task, a driver gone) leaves its scratch behind; the next task on the same node
    removes the scratch directories of its node's dead workers first, so that retries do not fill the disk."""
    node = node[:12]
    for d in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{node}-*"):
        pid = d.name[len(SCRATCH_PREFIX) + len(node) + 1:].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{node}-{os.getpid()}-")


class _Outbox:
    """What of a scratch run directory and its log the driver has not seen yet."""

    def __init__(self, run_dir: Path, log: Path) -> None:
        self.run_dir, self.log = run_dir, log
        self.sent: dict[str, tuple[int, int]] = {}
        self.log_offset = 0
        self.last = time.time()

    def checkpoint_changed(self) -> bool:
        p = self.run_dir / run_files.CHECKPOINT
        try:
            st = p.stat()
        except FileNotFoundError:
            return False
        return self.sent.get(run_files.CHECKPOINT) != (st.st_mtime_ns, st.st_size)

    def due(self) -> bool:
        return self.checkpoint_changed() or time.time() - self.last > PUSH_LOG_EVERY_S

    def take(self, with_files: bool) -> tuple[dict[str, bytes], bytes]:
        tree: dict[str, bytes] = {}
        if with_files:
            for rel in _read_tree(self.run_dir, names_only=True):
                path = self.run_dir / rel
                try:  # the stamp before the bytes: a file replaced in between is sent again next time
                    st = path.stat()
                    stamp = (st.st_mtime_ns, st.st_size)
                    if self.sent.get(rel) != stamp:
                        tree[rel] = path.read_bytes()
                        self.sent[rel] = stamp
                except FileNotFoundError:
                    continue
        with open(self.log, "rb") as f:
            f.seek(self.log_offset)
            log = f.read()
        self.log_offset += len(log)
        self.last = time.time()
        return tree, log


# The files of a run directory that name the model file it was trained from (the path, and every span).
_NAME_THE_MODEL = (run_files.CONFIG, "model.econ", "model.json")


def _as_on_driver(tree: dict[str, bytes], scratch_src: Path) -> dict[str, bytes]:
    """``tree`` with the worker's copies of the model sources (``SCRATCH/src/ABS/PATH``) named as the
    driver's files (``/ABS/PATH``): config.json must name a model file the driver has, not a copy deleted
    with the task, since the report reads the model's comments (its figures' titles) from that file."""
    prefix = str(scratch_src)
    spellings = {prefix.encode(), json.dumps(prefix)[1:-1].encode()}  # raw (ensure_ascii=False) and escaped
    out = dict(tree)
    for rel in set(_NAME_THE_MODEL) & set(out):
        for spelling in spellings:
            out[rel] = out[rel].replace(spelling, b"")
    return out


_RAY_CALLS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="econdsl-store")


def _fetch(ref):
    """``ray.get(ref)`` from a helper thread: a task's main thread blocked in ``ray.get`` lends the task's
    CPUs to the scheduler (Ray's rule for nested tasks), which would start another run next to this one's
    training process; blocking calls from other threads keep them."""
    return _RAY_CALLS.submit(ray.get, ref).result()


def train_point(store, point: Point, plan_: Plan, sources: dict[str, str], threads: int) -> int:
    """The body of one run's Ray task: train ``point`` here, keep the driver's copy of its run directory
    current; return ``econdsl train``'s exit status."""
    node = ray.get_runtime_context().get_node_id()
    tree = _fetch(store.begin.remote(point.id, node, os.getpid()))
    with _scratch(node) as scratch:
        root = Path(scratch)
        src = root / "src"
        for path, text in sources.items():  # the model and its imports, at the same relative places
            dst = src / Path(path).resolve().relative_to("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
        rd = root / "run"
        if tree:
            _write_tree(rd, tree)
        resume = runs.has_checkpoint(rd)
        local = replace(point, file=str(src / Path(point.file).resolve().relative_to("/")))
        cmd = train_command(local, plan_, rd, resume)
        log = root / "log"
        with open(log, "w", encoding="utf-8") as f:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                    preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        try:
            outbox = _Outbox(rd, log)
            sent = None  # the last push, under way in the helper thread (at most one at a time)
            while proc.poll() is None:
                time.sleep(0.5)
                if outbox.due() and (sent is None or sent.done()):
                    if sent is not None:
                        sent.result()  # a push that failed (the driver is gone) ends the task
                    files, text = outbox.take(with_files=outbox.checkpoint_changed())
                    sent = _RAY_CALLS.submit(ray.get, store.push.remote(point.id, _as_on_driver(files, src), text))
            files, text = outbox.take(with_files=True)
            _fetch(store.push.remote(point.id, _as_on_driver(files, src), text))
        finally:  # a task that ends early (its pushes fail) leaves no training behind, using CPUs Ray gave away
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _fetch(store.end.remote(point.id))
    return proc.returncode


def run_in_copy(fn, tree: dict[str, bytes], item):
    """The body of one :meth:`RayEngine.map` task: ``fn(copy of the run directory, item)``."""
    with _scratch(ray.get_runtime_context().get_node_id()) as scratch:
        rd = Path(scratch) / "run"
        _write_tree(rd, tree)
        return fn(str(rd), item)


def _why(e: BaseException) -> str:
    """Why Ray lost a task, in one line: the wrapped Ray error's name and its message's first line (a
    ``RayTaskError``'s own text is the remote traceback)."""
    cause = getattr(e, "cause", None)
    if isinstance(e, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        e = cause
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if isinstance(e, ray.exceptions.RayTaskError):  # no cause that reached here: its traceback's last line
        return lines[-1] if lines else type(e).__name__
    first = lines[0] if lines else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def _unplaceable(nodes: list[dict], cpus: float, gpus: float) -> str | None:
    """Why no node of the cluster can run a task of ``cpus`` CPUs and ``gpus`` GPUs, or None. Ray would
    queue such a task forever without a word (a task runs on one node, so the cluster's totals do not say)."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in alive):
        return None
    most_cpus = max((r.get("CPU", 0) for r in alive), default=0)
    most_gpus = max((r.get("GPU", 0) for r in alive), default=0)
    return (f"a run asks for {cpus:g} CPUs and {gpus:g} GPUs (--cpus-per-run, --gpus-per-run) on one node, and no "
            f"node of the Ray cluster has them (at most {most_cpus:g} CPUs and {most_gpus:g} GPUs on a node)")


class RayEngine:
    """Runs as Ray tasks of ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs on the cluster at ``address``
    (a local Ray instance sized to this machine when None; the cluster this process is connected to if it
    has started Ray, where another ``address`` is an error). A task whose worker dies is retried up to
    ``retries`` times, each time from the run's last checkpoint."""

    def __init__(self, address: str | None = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                 retries: int = 3, echo=None) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if ray.is_initialized():
            # Honouring another address would take ray.shutdown(): the end of every actor and object of the
            # session this process already holds. The cluster it is connected to is the only one it can use.
            if address is not None and address != (here := ray.get_runtime_context().gcs_address):
                raise RuntimeError(f"--address {address}: this process is already connected to the Ray cluster at "
                                   f"{here}, and a process uses one cluster; pass --address {here} or none, or "
                                   f"run from a process that has not started Ray")
        elif address is None:  # "local": a new instance, never a cluster that happens to run here
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     logging_level="warning")
        else:
            ray.init(address=address, log_to_driver=False, logging_level="warning")
        self.cpus, self.gpus = float(cpus_per_run), float(gpus_per_run)
        problem = _unplaceable(ray.nodes(), self.cpus, self.gpus)
        if problem:
            raise RuntimeError(problem)
        capacity = ray.cluster_resources()
        per_cpu = int(capacity.get("CPU", 1) // self.cpus) if self.cpus > 0 else 10**6
        per_gpu = int(capacity.get("GPU", 0) // self.gpus) if self.gpus > 0 else 10**6
        self.slots = max(1, min(per_cpu, per_gpu))
        here = ray.get_runtime_context().get_node_id()
        self.store = ray.remote(RunStore).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()
        self.task = ray.remote(train_point).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=retries,
                                                    retry_exceptions=False)
        self.map_task = ray.remote(run_in_copy).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=retries,
                                                        retry_exceptions=False)
        self.threads = max(1, int(self.cpus))
        self._pending: dict[ray.ObjectRef, Point] = {}
        self._sources: dict[str, dict[str, str]] = {}
        self._running: dict[str, float] = {}
        self._polled = 0.0

    def _sources_of(self, file: str) -> dict[str, str]:
        if file not in self._sources:
            from ..language import check_model

            self._sources[file] = dict(check_model(file).sources)
        return self._sources[file]

    def has_room(self) -> bool:
        return True  # Ray queues the tasks until the cluster has their resources

    def start(self, point: Point, plan_: Plan, run_dir: Path, log: Path, resume: bool) -> None:  # noqa: ARG002
        ray.get(self.store.register.remote(point.id, str(run_dir.resolve()), str(log.resolve())))
        ref = self.task.remote(self.store, point, plan_, self._sources_of(point.file), self.threads)
        self._pending[ref] = point

    def finished(self, timeout: float) -> list[tuple[Point, int | None]]:
        if not self._pending:
            return []
        done, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=timeout)
        out: list[tuple[Point, int | None]] = []
        if done:
            self._polled = 0.0  # the running runs changed: ask the store next time
        for ref in done:
            point = self._pending.pop(ref)
            try:
                out.append((point, ray.get(ref)))
            except (ray.exceptions.RayError, OSError) as e:  # retries exhausted, node lost, …
                out.append((point, None))
                ray.get([self.store.push.remote(point.id, {}, f"# the Ray task failed: {e}\n".encode()),
                         self.store.end.remote(point.id)])  # its last attempt is no longer running
        return out

    def running(self) -> dict[str, float]:
        if time.time() - self._polled > 1.0:
            attempts = ray.get(self.store.running.remote())
            self._running = {pid: since for pid, (_node, _worker, since) in attempts.items()}
            self._polled = time.time()
        return dict(self._running)

    def busy(self) -> bool:
        return bool(self._pending)

    def map(self, fn, items, run_dir):
        """One Ray task per item, each with a copy of the run directory (sent once to the object store);
        results in the order of ``items``; the first exception of ``fn`` is raised as itself. A task Ray
        itself lost (its worker or node died after every retry) does not stop the others: their results
        are yielded, then :class:`EngineError` names the lost items and why."""
        tree = ray.put(_read_tree(Path(run_dir)))
        refs = [self.map_task.remote(fn, tree, item) for item in items]
        lost: list[tuple[object, str]] = []
        try:
            for item, ref in zip(items, refs, strict=True):
                try:
                    yield item, ray.get(ref)
                except ray.exceptions.RayError as e:
                    cause = getattr(e, "cause", None)
                    if isinstance(e, ray.exceptions.RayTaskError) and isinstance(cause, BaseException) \
                            and not isinstance(cause, ray.exceptions.RayError):
                        raise cause from None  # fn's own exception, as the local engine raises it
                    lost.append((item, _why(e)))
        finally:  # a failed (or interrupted) map leaves no task running
            for ref in refs:
                try:
                    ray.cancel(ref, force=True)
                except (ray.exceptions.RayError, ValueError):
                    pass
        if lost:
            raise EngineError(f"Ray could not finish {len(lost)} of {len(refs)} tasks on the run `{run_dir}`: "
                              + "; ".join(f"{item!r}: {why}" for item, why in lost), lost)

    def stop(self) -> list[tuple[Point, int | None]]:
        """Cancel every task; each run keeps the last checkpoint that reached the driver."""
        for ref in self._pending:
            ray.cancel(ref, force=True)
        out = [(p, None) for p in self._pending.values()]
        self._pending.clear()
        return out
