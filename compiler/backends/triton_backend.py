"""The ``triton`` backend: launch glue for the kernels printed by ``triton_printer.py``.

``compile_program(program, device, dtype, quantities=True, num_warps=None)`` prints the program for the
dtype, stores the source in the artifact cache (``compiler/cache.py``: key = hash of IR, dtype, versions
and source), imports it as a module from that file (Triton reads kernel source through the file; the
file is built from the IR only) and returns a :class:`TritonProgram`. Triton itself caches the compiled
GPU binaries per kernel signature.

Each entry point is one kernel launch over a grid of ``E`` programs (one per replica). Outputs of a
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
import os
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch

from .. import cache
from ..ir import Program, real_key
from ..philox import rng_words
from . import CompiledProgram, StepResult
from .triton_printer import KernelPlan, ModuleSource, print_program

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


def _num_warps(prog: Program) -> int:
    tile = 1
    for p, n in prog.populations.items():
        if p not in prog.singletons:
            tile *= 1 << max(n - 1, 0).bit_length()
    # sm_90 compile of rbc_open's lean step (tile 128 x 16, triton_aot.py): 4 warps need 206 registers per
    # thread (2 programs = 8 warps per SM), 8 warps need 97 (2 programs = 16 warps per SM), 16 warps 64
    return 1 if tile <= 128 else 2 if tile <= 512 else 4 if tile <= 1024 else 8


class TritonProgram(CompiledProgram):
    backend = "triton"

    def __init__(self, program: Program, device: torch.device | str, dtype: torch.dtype,
                 quantities: bool = True, num_warps: int | None = None):
        super().__init__(program, device, dtype)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"triton backend: dtype must be float32 or float64, not {dtype}")
        if self.device.type != "cuda" and not interpreting():
            raise RuntimeError("the triton backend needs a CUDA device, or TRITON_INTERPRET=1 set before "
                               "importing triton to run on CPU through the Triton interpreter")
        import triton.language as tl

        self.printed: ModuleSource = print_program(program, str(dtype).removeprefix("torch."))
        self.key = cache.key(program, dtype=str(dtype), backend="triton", interpret=str(interpreting()),
                             extra=hashlib.sha256(self.printed.source.encode()).hexdigest())
        self.module = load_module(self.printed.source, self.key)
        self.tl_dtype = tl.float32 if dtype == torch.float32 else tl.float64
        self.write_q = quantities
        self.num_warps = num_warps or _num_warps(program)
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

    def _launch(self, name: str, n_envs: int, args: list[Any], **meta: Any) -> None:
        kernel = getattr(self.module, name)
        kernel[(n_envs,)](*args, n_envs, DT=self.tl_dtype, num_warps=self.num_warps, **meta)

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
