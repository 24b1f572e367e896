"""The backend interface: every backend turns an IR :class:`~econdsl.compiler.ir.Program` into a
:class:`CompiledProgram` with the same three entry points, over dicts of per-replica tensors.

A backend is a module with ``compile_program(program, device, dtype, **opts) -> CompiledProgram``,
registered by name in :data:`BACKENDS` (module path, imported lazily) or with
:func:`register_backend`. Built in: ``"reference"`` (float64 interpreter, the oracle), ``"torch"``
(generated PyTorch module) and ``"triton"`` (module ``econdsl.compiler.backends.triton_backend``).

Tensor conventions (``E`` = number of replicas; the IR contract is in ``ir.py``):

- ``bufs``: ``{buffer name: tensor [E, *sizes of Buffer.dims]}`` in the program's float dtype, every
  state and parameter of ``Program.buffers``;
- ``actions``: ``{agent type: integer tensor [E, n_agents, n_columns]}`` (``n_agents`` = 1 for a
  singleton; any integer dtype, int8 … int64); column layout is given by ``Program.heads``; and for
  each agent type with continuous heads (``Program.real_agents()``), ``{ir.real_key(type): float tensor
  [E, n_agents, n_real_columns]}``, the actions' values (any float dtype; used in the program's dtype);
- ``t``: tensor ``[E]`` in the program's float dtype, the step within the episode;
- ``consts``: ``{runtime constant name: 0-dim tensor}`` in the float dtype, for every name of
  ``Program.runtime_consts``;
- ``uniforms``: ``{stream name: float64 tensor [E, *sizes]}`` uniform(0,1) draws for ``init``, made by
  the runtime from its seeded generator so that every backend sees the same draws;
- ``rng``: int64 tensor ``[E, 4]``, the random words of one step for draws inside the step (IR op
  ``random``): per replica ``(k0, k1, counter, replica)``, uint32 values: the seed's low and high words,
  the replica's step counter and its index (``philox.rng_words``). The runtime advances the counter
  every step so that draws are fresh, reproducible and resumable. ``None`` means
  ``rng_words(seed=0, counter=0)``.

Results:

- ``init(n_envs, uniforms, consts)`` → ``{name: tensor}`` for every parameter and state (initial values);
- ``step(bufs, actions, t, consts, rng=None)`` → :class:`StepResult`: ``states`` (every state's next value, also
  the unchanged ones), ``rewards`` (``{agent: [E, n_agents]}``; singletons ``[E, 1]``), ``quantities``
  (``{name: [E, *sizes]}`` for every named step quantity; dtype per the IR: float / bool / int64) and
  ``externals`` (``{name: [E]}``);
- ``observe(bufs, t, consts, actions=None)`` → ``{agent: [E, n_agents, obs_dim]}`` in the float dtype;
  ``actions`` (the period's actions so far, as for ``step``; missing types read as zeros) matter only for a
  program with stages, whose later-stage agent types observe earlier stages' actions;
- ``step_observe(bufs, actions, t, consts, rng=None)`` → ``(StepResult, obs)`` where ``obs`` observes the *next*
  states at ``t + 1``. The default composes ``step`` and ``observe``; backends may fuse. With stages the
  next period's later stages are not known yet: their rows are computed from zero actions.
- ``observe_split`` / ``step_observe_split``: the same observations with each agent type's columns split
  as ``(shared, own)``: ``shared`` ``[E, n_shared]`` the columns ``Program.obs_shared_columns`` names (the
  same for every member: written once per replica), ``own`` ``[E, n_agents, obs_dim - n_shared]`` the
  others, each in column order. The default slices the whole rows; backends may write the parts directly.

Functions never modify their input tensors. Device and dtype are fixed at compile time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

from ..ir import Program, real_key

Tensor = torch.Tensor


class StepResult(NamedTuple):
    states: dict[str, Tensor]
    rewards: dict[str, Tensor]
    quantities: dict[str, Tensor]
    externals: dict[str, Tensor]


class CompiledProgram:
    """A program compiled for one device and dtype. Subclasses implement init, step and observe."""

    backend: str = "?"

    def __init__(self, program: Program, device: torch.device | str, dtype: torch.dtype):
        self.program = program
        self.device = torch.device(device)
        self.dtype = dtype

    def init(self, n_envs: int, uniforms: Mapping[str, Tensor], consts: Mapping[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def step(self, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
             consts: Mapping[str, Tensor], rng: Tensor | None = None) -> StepResult:
        raise NotImplementedError

    def observe(self, bufs: Mapping[str, Tensor], t: Tensor, consts: Mapping[str, Tensor],
                actions: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        raise NotImplementedError

    def step_observe(self, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
                     consts: Mapping[str, Tensor], rng: Tensor | None = None) -> tuple[StepResult, dict[str, Tensor]]:
        res = self.step(bufs, actions, t, consts, rng)
        nxt = dict(bufs)
        nxt.update(res.states)
        return res, self.observe(nxt, t + 1, consts)

    def observe_split(self, bufs: Mapping[str, Tensor], t: Tensor, consts: Mapping[str, Tensor],
                      actions: Mapping[str, Tensor] | None = None) -> dict[str, tuple[Tensor, Tensor]]:
        return split_observations(self.program, self.observe(bufs, t, consts, actions))

    def step_observe_split(self, bufs: Mapping[str, Tensor], actions: Mapping[str, Tensor], t: Tensor,
                           consts: Mapping[str, Tensor], rng: Tensor | None = None
                           ) -> tuple[StepResult, dict[str, tuple[Tensor, Tensor]]]:
        res, obs = self.step_observe(bufs, actions, t, consts, rng)
        return res, split_observations(self.program, obs)

    def period_actions(self, actions: Mapping[str, Tensor] | None, n_envs: int) -> dict[str, Tensor]:
        """``actions`` of a staged program's period so far, with zeros for every agent type not given (the
        observation rows that would read them belong to agent types that have not acted yet)."""
        p, out = self.program, dict(actions or {})
        for a in p.agents:
            out.setdefault(a, torch.zeros(n_envs, p.n_agents(a), p.n_columns(a), dtype=torch.long,
                                          device=self.device))
        for a in p.real_agents():
            out.setdefault(real_key(a), torch.zeros(n_envs, p.n_agents(a), p.n_real_columns(a), dtype=self.dtype,
                                                    device=self.device))
        return out

    def sources(self) -> dict[str, str]:
        """Generated source files (file name -> text), for ``econdsl compile -o DIR``; {} if none."""
        return {}


def split_observations(program: Program, obs: Mapping[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    """Whole observation rows ``{agent: [E, n, obs_dim]}`` → ``{agent: (shared [E, n_shared], own [E, n, n_own])}``
    (see ``observe_split``): the shared columns read from each replica's first member."""
    out = {}
    for a, x in obs.items():
        shared = program.obs_shared_columns(a)
        own = [k for k in range(x.shape[-1]) if k not in set(shared)]
        out[a] = (x[:, 0, shared], x[:, :, own])
    return out


# name -> module path (relative to this package) with a `compile_program` function
BACKENDS: dict[str, str] = {
    "reference": ".reference",
    "torch": ".torch_printer",
    "triton": ".triton_backend",
}
_FACTORIES: dict[str, Callable[..., CompiledProgram]] = {}


def register_backend(name: str, factory: Callable[..., CompiledProgram]) -> None:
    """Register ``factory(program, device, dtype, **opts) -> CompiledProgram`` under ``name``."""
    _FACTORIES[name] = factory


def available_backends() -> list[str]:
    return sorted(set(BACKENDS) | set(_FACTORIES))


def get_backend(name: str) -> Callable[..., CompiledProgram]:
    if name in _FACTORIES:
        return _FACTORIES[name]
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(available_backends())}")
    mod = importlib.import_module(BACKENDS[name], __name__)
    return mod.compile_program


def compile_program(program: Program, backend: str = "torch", device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, **opts: Any) -> CompiledProgram:
    """Compile ``program`` with the named backend."""
    return get_backend(backend)(program, device, dtype, **opts)

