"""The ``triton`` backend: launch glue for the kernels printed by ``triton_printer.py``.

``compile_program(program, device, dtype, quantities=True, num_warps=None)`` prints the program for the
dtype, stores the source in the artifact cache (``compiler/cache.py``: key = hash of IR, dtype, versions
and source), imports it as a module from that file (Triton reads kernel source through the file; the
file is built from the IR only) and returns a :class:`TritonProgram`. Triton itself caches the compiled
GPU binaries per kernel signature.

Each entry point is one kernel launch over a grid of ``ceil(E / R)`` programs (``R`` replicas each). Options
that shape the kernels (issue 16; ``triton_printer.py`` describes the design):

- ``tile``: ``"auto"`` (default: loop over blocks of :func:`~.triton_printer.tile_axis` when the whole padded
  tile exceeds ``TILE_ABOVE`` lanes, e.g. 10,000 consumers), ``True`` or ``False``;
- ``block`` (the tiled population's block ``BT``), ``replicas`` (``R``, powers of two) and ``num_warps``:
  explicit values, else the config table :func:`table_config` (keyed on the model's padded sizes and ``E``),
  or on a GPU (``autotune="auto"``: CUDA and not the interpreter) ``triton.autotune`` over the table's choice
  and its neighbours (:func:`autotune_configs`), keyed on ``E``. The config each kernel ran with is recorded in
  ``TritonProgram.launch_configs[(kernel, E)]`` (``source``: "table" or "autotune").

Outputs of a
launch live in at most three flat buffers (float, bool, int64), so a step allocates three tensors
whatever the model; the returned tensors are views of them. States without a transition are returned
as the input tensor itself (never written). ``quantities=False`` skips the named step quantities
(``StepResult.quantities`` is then empty), the fast path when ``Env.state`` is not read every step.

Runs on CUDA, or on CPU tensors under the Triton interpreter (``TRITON_INTERPRET=1`` set before the
first import of Triton code; ``tests/conftest.py`` does it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from .. import cache
from ..ir import Program, real_key
from ..philox import rng_words
from . import CompiledProgram, StepResult
from .triton_printer import KernelPlan, ModulePrinter, ModuleSource, print_program, tile_axis

Tensor = torch.Tensor
_MODULES: dict[str, ModuleType] = {}


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in {"", "0"}


def load_module(source: str, key: str) -> ModuleType:
    """Write ``source`` (printed from the IR) to the artifact cache under ``key`` and import it once."""
    path = cache.artifact_path(key, "triton_module.py")
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        cache.write_atomic(path, source)
    if key in _MODULES:  # already imported in this process: Triton keeps its compiled kernels
        return _MODULES[key]
    name = f"econdsl_triton_{key[:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # triton.jit reads the kernel source through the module's file
    spec.loader.exec_module(mod)  # our generated file, built from the IR only
    _MODULES[key] = mod
    return mod


# The explicit config table (used where autotune cannot run: the interpreter, or autotune=False).
SMALL_TILE = 256  # lanes (replicas x padded members) a program of a small model aims at
BLOCK_TILE = 1024  # lanes of one block of a tiled population (x the other axes' padded sizes)
TILE_ABOVE = 4096  # padded tile size above which a tileable population is looped over (tile="auto")
MAX_REPLICAS = 64
MIN_PROGRAMS = 2048  # keep at least this many programs (an H100/H200 holds ~2-4 thousand at once)


@dataclass(frozen=True)
class LaunchConfig:
    """How a kernel is launched: ``replicas`` per program (constexpr ``R``), the tiled population's block
    (constexpr ``BT``, None when the module is not tiled) and ``num_warps``; ``source``: "table" or "autotune"."""

    replicas: int
    block: int | None
    num_warps: int
    source: str = "table"

    def meta(self) -> dict[str, int]:
        return {"R": self.replicas, **({"BT": self.block} if self.block else {})}


def _pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _pow2_floor(n: float) -> int:
    return 1 if n < 2 else 1 << (int(n).bit_length() - 1)


def _padded(prog: Program, skip: str | None = None) -> int:
    """The padded product of the kernels' axis sizes (the register tile without replicas), ``skip`` left out."""
    printer = ModulePrinter(prog)
    return math.prod(_pow2(printer.sizes[a]) for a in printer.axes if a != skip)


def _warps(lanes: int) -> int:
    # sm_90 compile of rbc_open's lean step (tile 128 x 16, triton_aot.py): 4 warps need 206 registers per
    # thread (2 programs = 8 warps per SM), 8 warps need 97 (2 programs = 16 warps per SM), 16 warps 64
    return 1 if lanes <= 128 else 2 if lanes <= 512 else 4 if lanes <= 1024 else 8


def wants_tiling(prog: Program) -> bool:
    """``tile="auto"``: loop over a population when the whole padded tile is larger than ``TILE_ABOVE``."""
    return tile_axis(prog) is not None and _padded(prog) > TILE_ABOVE


def table_config(prog: Program, tiled: str | None, n_envs: int, block: int | None = None,
                 replicas: int | None = None, num_warps: int | None = None,
                 interpreted: bool = False) -> LaunchConfig:
    """The config table, keyed on the model's sizes and the replica count (explicit values win).

    ``interpreted`` (the Triton interpreter: numpy arrays, no registers, a cost per statement executed): one
    block spans the tiled population and programs hold as many replicas as the lane budget allows, which
    gives the same numbers (replicas are independent, and a block of the whole population reduces in the
    same order) at a fraction of the interpreter's time (search_matching: 0.9 s against 7.4 s per step)."""
    if tiled:
        rest = _padded(prog, skip=tiled)
        whole = _pow2(prog.axis_size(tiled))
        bt = block or (whole if interpreted else max(1, min(_pow2_floor(BLOCK_TILE / rest), whole)))
        r = replicas or 1
        lanes = bt * rest * r
    else:
        bt = None
        tile = _padded(prog)
        fill = min(_pow2_floor(SMALL_TILE / tile), MAX_REPLICAS)
        r = replicas or max(1, fill if interpreted else min(fill, _pow2_floor(n_envs / MIN_PROGRAMS)))
        lanes = tile * r
    return LaunchConfig(r, bt, num_warps or _warps(lanes))


def autotune_configs(prog: Program, tiled: str | None, n_envs: int) -> list[LaunchConfig]:
    """The candidates autotune times on a GPU: the table's choice, half and double its warps, double its
    replicas (or half and double its block) with double the warps; those that would give a thread more
    than 8 or fewer than 1 of the tile's lanes are left out (they spill or idle: rbc_open's 2 replicas at
    8 warps need 214 registers, triton_aot.py), so each kernel compiles at most five variants."""
    base = table_config(prog, tiled, n_envs)
    rest = _padded(prog, skip=tiled) if tiled else _padded(prog)
    nw = base.num_warps
    if tiled:
        top = _pow2(prog.axis_size(tiled))
        bt = base.block or 1
        shapes = [(1, bt, nw), (1, bt, nw * 2), (1, bt, nw // 2), (1, max(1, bt // 2), nw),
                  (1, min(top, bt * 2), nw * 2)]
    else:
        r = base.replicas
        shapes = [(r, None, nw), (r, None, nw * 2), (r, None, nw // 2), (min(MAX_REPLICAS, r * 2), None, nw * 2)]
    out: list[LaunchConfig] = []
    for r, bt, w in shapes:
        per_thread = r * (bt or 1) * rest / (32 * max(w, 1))
        c = LaunchConfig(r, bt, w, "autotune")
        if 1 <= w <= 16 and (1 <= per_thread <= 8 or (r, bt, w) == shapes[0]) and c not in out:
            out.append(c)
    return out


class TritonProgram(CompiledProgram):
    backend = "triton"

    def __init__(self, program: Program, device: torch.device | str, dtype: torch.dtype,
                 quantities: bool = True, num_warps: int | None = None, tile: bool | str = "auto",
                 block: int | None = None, replicas: int | None = None, autotune: bool | str = "auto"):
        super().__init__(program, device, dtype)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"triton backend: dtype must be float32 or float64, not {dtype}")
        if self.device.type != "cuda" and not interpreting():
            raise RuntimeError("the triton backend needs a CUDA device, or TRITON_INTERPRET=1 set before "
                               "importing triton to run on CPU through the Triton interpreter")
        import triton.language as tl

        for what, v in (("block", block), ("replicas", replicas)):
            if v is not None and (v < 1 or v & (v - 1)):
                raise ValueError(f"triton backend: {what} must be a power of two (a Triton tensor size), not {v}")
        if tile not in (True, False, "auto"):
            raise ValueError(f"triton backend: tile must be True, False or 'auto', not {tile!r}")
        tiled = wants_tiling(program) if tile == "auto" else bool(tile)
        self.printed: ModuleSource = print_program(program, str(dtype).removeprefix("torch."), tiled)
        self.key = cache.key(program, dtype=str(dtype), backend="triton", interpret=str(interpreting()),
                             extra=hashlib.sha256(self.printed.source.encode()).hexdigest())
        self.module = load_module(self.printed.source, self.key)
        self.tl_dtype = tl.float32 if dtype == torch.float32 else tl.float64
        self.write_q = quantities
        # explicit launch parameters (None: the config table, or autotune on a GPU); the choices made, per
        # kernel and replica count, are recorded in ``launch_configs``
        self._fixed = {"block": block, "replicas": replicas, "num_warps": num_warps}
        self.autotune = (self.device.type == "cuda" and not interpreting()) if autotune == "auto" else bool(autotune)
        self.launch_configs: dict[tuple[str, int], LaunchConfig] = {}
        self._tuners: dict[tuple[str, int], Any] = {}
        self.num_warps = num_warps or table_config(program, self.printed.tiled, 4096).num_warps
        self.tables = torch.tensor(self.printed.tables or [0.0], dtype=dtype, device=self.device)
        self._states = [b.name for b in program.states()]
        self._obs_shapes = {a: (program.n_agents(a), program.obs_dim(a)) for a in program.agents}
        self._dummy = {"f": torch.zeros(1, dtype=dtype, device=self.device),
                       "b": torch.zeros(1, dtype=torch.int8, device=self.device),
                       "i": torch.zeros(1, dtype=torch.int64, device=self.device)}
        self._spec_cache: dict[tuple[str, bool], list] = {}

    # ------------------------------------------------------------------ launch helpers
    def _inputs(self, plan: KernelPlan, bufs: Mapping[str, Tensor], t: Tensor | None,
                consts: Mapping[str, Tensor], uniforms: Mapping[str, Tensor] | None = None,
                rng: Tensor | None = None) -> list[Any]:
        args: list[Any] = []
        for src, name in plan.inputs:
            if src == "rng":  # the step's random words [E, 4] (k0, k1, counter, replica), read in the kernel
                n_envs = t.shape[0] if t is not None else 1
                words = rng if rng is not None else rng_words(0, 0, n_envs)
                args.append(words.to(device=self.device, dtype=torch.int64).contiguous())
                continue
            if src in ("state", "param"):
                x = bufs[name]
                args.append(x.to(device=self.device, dtype=self.dtype).contiguous())
            elif src == "time":
                assert t is not None
                args.append(t.to(device=self.device, dtype=self.dtype).contiguous())
            elif src == "runtime_const":
                args.append(torch.as_tensor(consts[name], dtype=self.dtype, device=self.device).reshape(()))
            elif src == "uniform":
                assert uniforms is not None
                args.append(uniforms[name].to(device=self.device, dtype=torch.float64).contiguous())
            else:
                raise ValueError(f"triton backend: unknown input source {src!r}")
        return args

    def _flat(self, plan: KernelPlan, n_envs: int, with_q: bool) -> tuple[dict[str, Tensor], list[Tensor]]:
        """The flat output buffers of one launch (a shared 1-element dummy for an unused dtype class)."""
        sizes = plan.flat_sizes if with_q else plan.flat_sizes_noq
        flats = {}
        for cls, dt in (("f", self.dtype), ("b", torch.int8), ("i", torch.int64)):
            n = sizes.get(cls, 0) * n_envs
            flats[cls] = torch.empty(n, dtype=dt, device=self.device) if n else self._dummy[cls]
        return flats, ([flats["f"], flats["b"], flats["i"]] if plan.slots else [])

    def _views(self, plan: KernelPlan, flats: dict[str, Tensor], n_envs: int,
               with_q: bool) -> dict[str, dict[str, Tensor]]:
        """``{slot kind: {name: [E, *shape] view}}``; one ``as_strided`` per output."""
        out: dict[str, dict[str, Tensor]] = {"state": {}, "param": {}, "reward": {}, "quantity": {}, "external": {}}
        bases = {"f": flats["f"], "b": flats["b"].view(torch.bool), "i": flats["i"]}
        for kind, name, cls, offset, shape, strides in self._specs(plan, with_q):
            out[kind][name] = bases[cls].as_strided((n_envs, *shape), strides, offset * n_envs)
        return out

    def _specs(self, plan: KernelPlan, with_q: bool) -> list[tuple]:
        key = (plan.name, with_q)
        if key not in self._spec_cache:
            specs = []
            for s in plan.slots:
                if s.kind == "quantity" and not with_q:
                    continue
                shape = s.shape if s.shape or s.kind != "reward" else (1,)  # singleton rewards are [E, 1]
                strides = [1] * len(shape)
                for k in range(len(shape) - 2, -1, -1):
                    strides[k] = strides[k + 1] * shape[k + 1]
                specs.append((s.kind, s.name, s.cls, s.offset, shape, (s.numel, *strides)))
            self._spec_cache[key] = specs
        return self._spec_cache[key]

    def _obs(self, plan: KernelPlan, n_envs: int) -> tuple[dict[str, Tensor], list[Tensor]]:
        obs = {a: torch.empty(n_envs, *shape, dtype=self.dtype, device=self.device)
               for a, shape in self._obs_shapes.items()}
        return obs, [obs[a] for a in plan.obs]

    def _obs_split(self, plan: KernelPlan, n_envs: int) -> tuple[dict[str, tuple[Tensor, Tensor]], list[Tensor]]:
        """Split observation tensors (see ``CompiledProgram.observe_split``) and the kernel's arguments."""
        obs = {}
        for a, (n, d) in self._obs_shapes.items():
            k = len(self.program.obs_shared_columns(a))
            obs[a] = (torch.empty(n_envs, k, dtype=self.dtype, device=self.device),
                      torch.empty(n_envs, n, d - k, dtype=self.dtype, device=self.device))
        return obs, [x for a in plan.obs for x in obs[a]]

    def config(self, name: str, n_envs: int) -> LaunchConfig:
        """The launch config of kernel ``name`` at ``n_envs`` replicas (the table's until autotune has run)."""
        key = (name, n_envs)
        if key not in self.launch_configs:
            self.launch_configs[key] = table_config(self.program, self.printed.tiled, n_envs, **self._fixed,
                                                    interpreted=interpreting())
        return self.launch_configs[key]

    def _launch(self, name: str, n_envs: int, args: list[Any], **meta: Any) -> None:
        kernel = getattr(self.module, name)
        if self.autotune and not any(self._fixed.values()):
            self._launch_tuned(name, kernel, n_envs, args, meta)
            return
        cfg = self.config(name, n_envs)
        grid = (-(-n_envs // cfg.replicas),)
        kernel[grid](*args, n_envs, DT=self.tl_dtype, num_warps=cfg.num_warps, **cfg.meta(), **meta)

    def _launch_tuned(self, name: str, kernel: Any, n_envs: int, args: list[Any], meta: dict[str, Any]) -> None:
        """``triton.autotune`` over :func:`autotune_configs`, keyed on the replica count; the kernels only
        write fresh output buffers, so timing them repeatedly changes nothing. The choice is recorded."""
        import triton

        key = (name, n_envs)
        tuner = self._tuners.get(key)
        if tuner is None:
            cands = autotune_configs(self.program, self.printed.tiled, n_envs)
            configs = [triton.Config(c.meta(), num_warps=c.num_warps) for c in cands]
            tuner = self._tuners[key] = triton.autotune(configs=configs, key=["E"])(kernel)
        tuner[lambda m: (triton.cdiv(n_envs, m["R"]),)](*args, n_envs, DT=self.tl_dtype, **meta)
        best = tuner.best_config
        self.launch_configs[key] = LaunchConfig(best.kwargs["R"], best.kwargs.get("BT"), best.num_warps, "autotune")

    def _actions(self, plan: KernelPlan, actions: Mapping[str, Tensor]) -> list[Tensor]:
        out = []
        reals = {real_key(a) for a in self.program.real_agents()}
        for a in plan.actions:
            x = actions[a]
            if a in reals:  # a continuous head's values, used in the program's dtype
                out.append(x.to(self.device, self.dtype).contiguous())
                continue
            if x.dtype.is_floating_point or x.dtype == torch.bool:
                raise TypeError(f"actions[{a!r}] must be an integer tensor, not {x.dtype}")
            out.append(x.to(self.device).contiguous())
        return out

    def _step_result(self, views: dict[str, dict[str, Tensor]], bufs: Mapping[str, Tensor]) -> StepResult:
        states = {n: views["state"].get(n, bufs[n]) for n in self._states}
        return StepResult(states, views["reward"], views["quantity"], views["external"])

    # ------------------------------------------------------------------ the interface
    def init(self, n_envs: int, uniforms: Mapping[str, Tensor], consts: Mapping[str, Tensor]) -> dict[str, Tensor]:
        plan = self.printed.kernels["k_init"]
        args = self._inputs(plan, {}, None, consts, uniforms)
        flats, fargs = self._flat(plan, n_envs, True)
        self._launch("k_init", n_envs, [*args, *self._tables(), *fargs])
        views = self._views(plan, flats, n_envs, True)
        return {**views["param"], **views["state"]}

    def _tables(self) -> list[Tensor]:
        return [self.tables] if self.printed.tables else []

    def _step_args(self, plan: KernelPlan, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
                   consts: Mapping[str, Tensor], rng: Tensor | None) -> list[Any]:
        return [*self._inputs(plan, bufs, t, consts, rng=rng), *self._actions(plan, actions), *self._tables()]

    def step(self, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
             consts: Mapping[str, Tensor], rng: Tensor | None = None) -> StepResult:
        plan = self.printed.kernels["k_step"]
        n_envs = t.shape[0]
        args = self._step_args(plan, bufs, actions, t, consts, rng)
        flats, fargs = self._flat(plan, n_envs, self.write_q)
        self._launch("k_step", n_envs, [*args, *fargs], WRITE_Q=self.write_q)
        return self._step_result(self._views(plan, flats, n_envs, self.write_q), bufs)

    def observe(self, bufs: Mapping[str, Tensor], t: Tensor, consts: Mapping[str, Tensor],
                actions: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        return self._observe_with("k_observe", self._obs, bufs, t, consts, actions)

    def step_observe(self, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
                     consts: Mapping[str, Tensor], rng: Tensor | None = None) -> tuple[StepResult, dict[str, Tensor]]:
        if self.program.stages:  # the next period's stages: observe from zero actions (backends/__init__.py)
            return super().step_observe(bufs, actions, t, consts, rng)
        return self._step_observe_with("k_step_observe", self._obs, bufs, actions, t, consts, rng)

    def observe_split(self, bufs: Mapping[str, Tensor], t: Tensor, consts: Mapping[str, Tensor],
                      actions: Mapping[str, Tensor] | None = None) -> dict[str, tuple[Tensor, Tensor]]:
        return self._observe_with("k_observe_split", self._obs_split, bufs, t, consts, actions)

    def _observe_with(self, kernel: str, outputs, bufs: Mapping[str, Tensor], t: Tensor,
                      consts: Mapping[str, Tensor], actions: Mapping[str, Tensor] | None):
        """Launch an observe kernel (whole rows or split) whose output buffers ``outputs(plan, n_envs)`` makes."""
        plan = self.printed.kernels[kernel]
        n_envs = t.shape[0]
        args = self._inputs(plan, bufs, t, consts)
        if plan.actions:  # a staged program: later stages observe the period's earlier actions
            args += self._actions(plan, self.period_actions(actions, n_envs))
        obs, oargs = outputs(plan, n_envs)
        flats, fargs = self._flat(plan, n_envs, True)
        self._launch(kernel, n_envs, [*args, *self._tables(), *fargs, *oargs])
        return obs

    def step_observe_split(self, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
                           consts: Mapping[str, Tensor], rng: Tensor | None = None
                           ) -> tuple[StepResult, dict[str, tuple[Tensor, Tensor]]]:
        if self.program.stages:  # the next period's stages: observe from zero actions (backends/__init__.py)
            res = self.step(bufs, actions, t, consts, rng)
            return res, self.observe_split({**bufs, **res.states}, t + 1, consts)
        return self._step_observe_with("k_step_observe_split", self._obs_split, bufs, actions, t, consts, rng)

    def _step_observe_with(self, kernel: str, outputs, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor],
                           t: Tensor, consts: Mapping[str, Tensor], rng: Tensor | None):
        """Launch a fused step-and-observe kernel (whole rows or split observations)."""
        plan = self.printed.kernels[kernel]
        n_envs = t.shape[0]
        args = self._step_args(plan, bufs, actions, t, consts, rng)
        flats, fargs = self._flat(plan, n_envs, self.write_q)
        obs, oargs = outputs(plan, n_envs)
        self._launch(kernel, n_envs, [*args, *fargs, *oargs], WRITE_Q=self.write_q)
        return self._step_result(self._views(plan, flats, n_envs, self.write_q), bufs), obs

    def sources(self) -> dict[str, str]:
        return {f"{cache.file_stem(self.program.model)}_triton.py": self.printed.source}


def compile_program(program: Program, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                    **opts: Any) -> TritonProgram:
    """Compile ``program`` to Triton kernels (see the module docstring for ``opts``)."""
    return TritonProgram(program, device, dtype, **opts)
