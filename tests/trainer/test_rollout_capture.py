"""The rollout step (issue 16): no host synchronisation inside a rollout, buffers made once per run, and the
step of sampling + environment compiled (``torch.compile``) or captured in CUDA graphs with the numbers of
the eager step (the random numbers are drawn outside it, by the run's generator in the same order)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils._pytree import tree_leaves, tree_unflatten

import econdsl
from econdsl.trainer import rollout
from econdsl.trainer.config import ConfigError, build_layers
from econdsl.trainer.trainer import Trainer

MODELS = Path(__file__).resolve().parents[2] / "models"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@contextlib.contextmanager
def no_host_reads():
    """Raise on every way a rollout could read a device tensor on the host or copy host data to the device
    (each synchronises a GPU's stream): ``.item()``, ``.tolist()``, ``.cpu()``, ``.numpy()``, ``bool`` /
    ``float`` / ``int`` / index of a tensor, ``nonzero`` and boolean-mask indexing (a data-dependent size),
    indexing by a Python list and ``torch.tensor`` / ``torch.as_tensor`` of host data (host → device copies).
    On the CPU nothing synchronises, so these stand for what would on a GPU."""
    T = torch.Tensor
    saved: list[tuple[object, str, object]] = []

    def patch(owner, name, fn):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, fn)

    def refuse(name):
        def f(*args, **kwargs):
            raise AssertionError(f"host synchronisation inside the rollout: {name}")
        return f

    def index_ok(idx) -> bool:
        items = idx if isinstance(idx, tuple) else (idx,)
        return not any(isinstance(i, list) or (isinstance(i, T) and i.dtype == torch.bool) for i in items)

    get, put = T.__getitem__, T.__setitem__

    def getitem(self, idx):
        if not index_ok(idx):
            raise AssertionError(f"host synchronisation inside the rollout: indexing by {type(idx).__name__}")
        return get(self, idx)

    def setitem(self, idx, value):
        if not index_ok(idx):
            raise AssertionError(f"host synchronisation inside the rollout: indexing by {type(idx).__name__}")
        return put(self, idx, value)

    def from_host(orig, name):
        def f(data, *args, **kwargs):
            if not isinstance(data, T):
                raise AssertionError(f"host data copied to the device inside the rollout: torch.{name}")
            return orig(data, *args, **kwargs)
        return f

    for name in ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__float__", "__int__", "__index__"):
        patch(T, name, refuse(f"Tensor.{name}"))
    patch(T, "__getitem__", getitem)
    patch(T, "__setitem__", setitem)
    for name in ("nonzero", "masked_select", "unique"):
        patch(torch, name, refuse(f"torch.{name}"))
    patch(torch, "tensor", from_host(torch.tensor, "tensor"))
    patch(torch, "as_tensor", from_host(torch.as_tensor, "as_tensor"))
    try:
        yield
    finally:
        for owner, name, orig in reversed(saved):
            setattr(owner, name, orig)


def _trainer(model: str, flags: dict, preset: str | None = "quick", dtype=torch.float32) -> Trainer:
    m = econdsl.load(MODELS / f"{model}.econ")
    layers = build_layers(m.resolved, preset, {"envs": 2, "steps": 0, **flags})
    return Trainer(m, layers.config, layers.curriculum_consts, dtype=dtype)


def _guarded(monkeypatch) -> list[int]:
    """Run every collect of the process under :func:`no_host_reads`; returns the list of calls made."""
    calls: list[int] = []
    inner = rollout.collect

    def guarded(*args, **kwargs):
        with no_host_reads():
            out = inner(*args, **kwargs)
        calls.append(1)
        return out

    monkeypatch.setattr("econdsl.trainer.trainer.collect", guarded)
    return calls


def test_the_guard_catches_host_reads():
    x = torch.arange(4.0)
    with no_host_reads():
        for read in (lambda: x.sum().item(), lambda: bool(x[0] > 1), lambda: float(x[1]), lambda: x[[0, 2]],
                     lambda: x[x > 1], lambda: torch.tensor([1.0, 2.0]), lambda: x.cpu(), lambda: x.tolist()):
            with pytest.raises(AssertionError, match="host"):
                read()
        x[torch.tensor(1) if False else 1:]  # slices and tensor indices are fine
    assert x[[0, 2]].tolist() == [0.0, 2.0]  # restored


@pytest.mark.parametrize("model,flags,preset", [
    ("rbc_open", {"lean": "on", "analytics_every": 2}, "quick"),  # series on iteration 0, not on 1
    ("rbc_open", {"lean": "off"}, "quick"),
    ("stackelberg", {"lean": "on", "iterations": 2}, None),  # stages: later stages observe in the step
    ("labour_leisure_continuous", {"lean": "on", "iterations": 2}, None),  # continuous heads
])
def test_no_host_synchronisation_inside_a_rollout(monkeypatch, model, flags, preset):
    calls = _guarded(monkeypatch)
    tr = _trainer(model, flags, preset)
    for _ in range(2):
        tr.iterate()
    assert len(calls) == 2


def test_rollout_buffers_are_made_once_per_run():
    """Every buffer the rollout fills keeps its storage from iteration to iteration (no allocation of a
    buffer per iteration), and the rollout step is made once. The first iteration's tensors stay referenced,
    so that a buffer made again cannot land at a freed buffer's address; checked after every iteration."""
    tr = _trainer("rbc_open", {"lean": "on"})

    def buffers() -> dict[str, torch.Tensor]:
        buf = tr._buf
        out = {"dones": buf.dones, "series": buf.series}
        for a, b in buf.types.items():
            for name in ("actions", "logp", "values", "rewards", "last_value", "shared", "own", "reals"):
                x = getattr(b, name)
                if x is not None:
                    out[f"{a}.{name}"] = x
        return out

    def pointers(tensors: dict[str, torch.Tensor]) -> dict[str, int]:
        return {k: x.data_ptr() for k, x in tensors.items()}

    tr.iterate()
    before, buf, step = buffers(), tr._buf, tr._buf.steppers["off"][2]
    for _ in range(2):
        tr.iterate()
        assert tr._buf is buf and tr._buf.steppers["off"][2] is step
        assert pointers(buffers()) == pointers(before)


def test_capture_setting():
    m = econdsl.load(MODELS / "cournot.econ")
    for device, want in (("cpu", "off"), ("cuda", "graph")):
        assert build_layers(m.resolved, None, {"device": device}).config.capture_mode() == want
    assert build_layers(m.resolved, None, {"capture": "compile"}).config.capture_mode() == "compile"
    with pytest.raises(ConfigError, match="capture"):
        build_layers(m.resolved, None, {"capture": "cudagraph"}).config.validate()
    with pytest.raises(ConfigError, match="needs `device = \"cuda\"`"):
        _trainer("cournot", {"capture": "graph", "iterations": 1}, None)


def _metrics(model: str, flags: dict, n: int, preset: str | None = None, dtype=torch.float64) -> list[dict]:
    tr = _trainer(model, flags, preset, dtype)
    return [{k: v for k, v in tr.iterate().items() if not k.startswith("time/")} for _ in range(n)]


def _same(a: list[dict], b: list[dict], rel: float) -> None:
    for e, (x, y) in enumerate(zip(a, b, strict=True)):
        assert set(x) == set(y), e
        for k, v in x.items():
            assert y[k] == pytest.approx(v, rel=rel, abs=rel), (e, k)


@pytest.mark.slow
@pytest.mark.parametrize("model,flags,n", [
    ("nk_calvo", {"lean": "on"}, 1),  # 20 steps: the step inside an episode and at its end, draws inside the step
    ("stackelberg", {"lean": "off"}, 2),  # stages (the follower observes in the step); normaliser statistics
])
def test_compiled_step_gives_the_eager_metrics(model, flags, n):
    """``capture = "compile"`` (torch.compile of sampling + environment, inductor on the CPU) against the eager
    step: every metric of every iteration, float64 (inductor's fused arithmetic may round differently, so not
    bit for bit; an action flipped by a last-bit difference would show as a large difference). Compiling
    takes 10-15 s of CPU per case here (4 graphs for nk_calvo's 2 iterations took 67 s, so 1 iteration)."""
    flags = {**flags, "iterations": n}
    _same(_metrics(model, {**flags, "capture": "off"}, n), _metrics(model, {**flags, "capture": "compile"}, n),
          1e-9)


class ReplayedOnTheCPU(rollout.GraphStep):
    """CUDA graphs' semantics without a GPU: the "capture" keeps the arguments' copies and the first outputs;
    a "replay" runs the step on the copies and writes its results into those same outputs (as a graph
    writes into its memory pool), so what a caller keeps from one step is overwritten by the next."""

    needs_cuda = False

    def _capture(self, leaves: list, spec) -> tuple:
        static = [x.clone() if isinstance(x, torch.Tensor) else x for x in leaves]
        args = tree_unflatten(static, spec)
        out = self.fn(*args)

        def replay():
            for old, new in zip(tree_leaves(out), tree_leaves(self.fn(*args)), strict=True):
                if isinstance(old, torch.Tensor) and old.data_ptr() != new.data_ptr():
                    old.copy_(new)

        return SimpleNamespace(replay=replay), static, out


@pytest.mark.parametrize("flags", [{"lean": "on", "analytics_every": 2}, {"lean": "off"}])
def test_graph_semantics_give_the_eager_metrics(monkeypatch, flags):
    """The rollout with its step replayed as CUDA graphs would be (arguments copied into fixed tensors,
    outputs overwritten by the next step), emulated on the CPU: every metric of every iteration is the
    eager rollout's, bit for bit (the same operations on the same numbers), economy series included (the
    lean run collects them on iterations 0 and 2, eagerly: Env.state reads the step's inputs after it)."""
    monkeypatch.setattr(rollout, "GraphStep", ReplayedOnTheCPU)
    eager = _metrics("rbc_open", {**flags, "capture": "off"}, 3, "quick", torch.float32)
    tr = _trainer("rbc_open", {**flags, "capture": "off"}, "quick")
    tr.capture = "graph"  # the trainer refuses graph without CUDA; the emulation needs none
    replayed = [{k: v for k, v in tr.iterate().items() if not k.startswith("time/")} for _ in range(3)]
    assert isinstance(tr._buf.steppers["graph"][2], ReplayedOnTheCPU)
    assert eager == replayed


# ---------------------------------------------------------------- CUDA (skipped without a GPU)

@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("lean", ["on", "off"])
def test_cuda_graph_step_gives_the_eager_metrics(lean):
    """The rollout step captured in CUDA graphs and replayed gives every metric of the eager step (float64,
    rbc_open quick, 6 iterations: the normaliser's first statistics change the captured graph)."""
    flags = {"lean": lean, "device": "cuda", "iterations": 6}
    _same(_metrics("rbc_open", {**flags, "capture": "off"}, 6, "quick"),
          _metrics("rbc_open", {**flags, "capture": "graph"}, 6, "quick"), 1e-9)


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("capture", ["off", "graph", "compile"])
def test_no_host_synchronisation_inside_a_cuda_rollout(monkeypatch, capture):
    """torch's sync debug mode raises on any synchronising call inside the rollout (after a first iteration,
    which compiles and captures)."""
    tr = _trainer("rbc_open", {"lean": "on", "device": "cuda", "capture": capture, "analytics_every": 100})
    tr.iterate()
    tr.iterate()
    inner = rollout.collect

    def strict(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return inner(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr("econdsl.trainer.trainer.collect", strict)
    tr.iterate()


@pytest.mark.cuda
@CUDA
def test_cuda_graph_step_with_the_triton_environment():
    """Triton's kernels inside the captured step: the run's metrics match the eager step's (float32: the
    same kernels in the same order, so the same numbers)."""
    flags = {"lean": "on", "device": "cuda", "backend": "triton", "iterations": 3}
    _same(_metrics("rbc_open", {**flags, "capture": "off"}, 3, "quick", torch.float32),
          _metrics("rbc_open", {**flags, "capture": "graph"}, 3, "quick", torch.float32), 1e-6)
