"""The vectorised environment: ``n_envs`` replicas of a model stepped together by a compiled program.

Episode mode (the one documented mode): all replicas run in lockstep. Every ``step`` advances ``t``
by one in every replica; when ``t`` reaches the model's ``horizon`` the step returns ``done`` = True
for every replica, the replicas are reset at once, and the returned ``obs`` is the *first*
observation of the new episode (``rewards`` are those of the last step of the old one). So ``step``
can be called forever without calling ``reset``. With ``final_obs=True``, ``info["final_obs"]`` holds
the observation of the states the old episode ended in.

Per-replica parameter draws (``param x ~ Normal(…)``) come from a ``torch.Generator`` seeded with
``seed``: they are drawn once, when the environment is made, in float64 on the CPU, then handed to
the backend, so every backend sees the same draws. Resets restore the initial states; parameters
keep their draws.

Draws inside the step (``ε[j] ~ Normal(0, σ)``) are a pure function of (seed, replica, step counter,
draw site, member) (``compiler/philox.py``): ``counter`` counts the steps taken since the environment
was made (resets do not rewind it), so every step draws afresh and a run is reproduced by the same seed
and resumed by restoring ``counter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from ..compiler.backends import CompiledProgram, StepResult, compile_program, split_observations
from ..compiler.ir import real_key
from ..compiler.philox import rng_words
from .allocator import tune_allocator

Tensor = torch.Tensor


class StepInputs(NamedTuple):
    """What one step of the environment reads besides the actions (:meth:`Env.begin_step`)."""

    bufs: dict[str, Tensor]  # every state and parameter before the step
    t: Tensor  # [n_envs] the step within the episode
    consts: dict[str, Tensor]  # the runtime constants
    rng: Tensor  # [n_envs, 4] int64 the step's random words (compiler/philox.py)
    ending: bool  # the step ends the episode


class Env:
    """A batch of replicas of a model (see the module docstring for the episode mode).

    Public attributes: ``agent_types`` (ordered names), ``n_agents[type]`` (1 for singletons),
    ``action_nvec[type]`` (choices of each action column of the discrete heads: heads in declaration
    order, a per-member head expands to one column per member), ``action_bounds[type]`` ((lo, hi) of
    each real action column of the continuous heads, the same order; empty without continuous heads),
    ``real_key[type]`` (the actions key of a type's real tensor), ``stages`` (the agent types of each
    stage of a period; one stage without stages: a type of a later stage observes with
    :meth:`observe_stage`), ``obs_dim[type]``, ``obs_labels[type]`` (one label per
    observation column), ``obs_shared[type]`` (the columns that are the same for every member: the
    global state), ``runtime_consts`` (names of the constants :meth:`set_const` may change),
    ``n_envs``, ``horizon``, ``device``, ``dtype``, ``program`` (the IR), ``compiled`` (the backend).
    """

    def __init__(self, model, n_envs: int, backend: str = "torch", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, seed: int = 0, accounting: bool = False,
                 final_obs: bool = False, quantities: bool = False, replicas: tuple[int, int] | None = None,
                 split_obs: bool = False, **backend_opts: Any):
        # replicas = (first, total): these n_envs are replicas first..first+n_envs-1 of a run of ``total``
        # (one process's share, econdsl.scale.distributed); each draws exactly what it draws in the whole run
        if n_envs < 1:
            raise ValueError("n_envs must be at least 1")
        first, total = replicas if replicas is not None else (0, n_envs)
        if not 0 <= first <= total - n_envs:
            raise ValueError(f"replicas {first}..{first + n_envs - 1} are not within a run of {total}")
        self.first_replica, self.total_replicas = first, total
        self.model = model
        # quantities=True: every step also computes the named quantities, for callers that read
        # Env.state after every step (the trainer's economy series); otherwise Env.state recomputes them
        self.quantities = quantities
        # split_obs=True: reset and step return each type's observations as (shared [E, n_shared], own
        # [E, n, n_own]) (obs_shared), the global state once per replica (the lean trainer)
        self.split_obs = split_obs
        self.program = model.lean_program(accounting, quantities)
        p = self.program
        self.n_envs = int(n_envs)
        self.device = torch.device(device)
        if self.device.type == "cpu":
            tune_allocator()
        self.dtype = dtype
        self.seed = seed
        self.horizon = p.horizon
        self.final_obs = final_obs
        self.compiled: CompiledProgram = compile_program(p, backend, self.device, dtype, **backend_opts)
        self.backend = backend
        self._backend_opts = {k: v for k, v in backend_opts.items() if k != "compile"}
        self._full: CompiledProgram | None = None  # computes named quantities on demand (Env.state)
        self._pending: tuple | None = None  # (StepInputs, actions) of the last step, for Env.state

        self.agent_types: list[str] = list(p.agents)
        self.n_agents: dict[str, int] = {a: p.n_agents(a) for a in p.agents}
        self.action_nvec: dict[str, list[int]] = {}
        for a in p.agents:
            cols: list[int] = []
            for h in (h for h in p.heads if h.agent == a and not h.continuous):
                cols += [h.n] * h.n_columns
            self.action_nvec[a] = cols
        self.action_bounds: dict[str, list[tuple[float, float]]] = {a: p.real_bounds(a) for a in p.agents}
        self.real_key: dict[str, str] = {a: real_key(a) for a in p.agents}
        self.stages: list[list[str]] = p.stage_agents()  # agent types of each stage of a period, in order
        self._lo_hi = {a: torch.tensor(self.action_bounds[a], dtype=dtype, device=self.device).T
                       for a in p.real_agents()}
        self.obs_dim: dict[str, int] = {a: p.obs_dim(a) for a in p.agents}
        self.obs_shared: dict[str, list[int]] = {a: p.obs_shared_columns(a) for a in p.agents}
        self.obs_labels: dict[str, list[str]] = {
            a: [lab for o in p.obs_outputs(a) for lab in o.labels] for a in p.agents}
        self.runtime_consts: list[str] = list(p.runtime_consts)
        self._masks: dict[str, Tensor] = {}

        self._consts = {n: torch.tensor(float(v), dtype=dtype, device=self.device)
                        for n, v in p.runtime_consts.items()}
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        self._uniforms = {name: torch.rand((total, *p.size(dims)), generator=gen, dtype=torch.float64)
                          [first:first + n_envs] for name, dims in p.uniforms.items()}
        self._ts = [torch.full((self.n_envs,), float(k), dtype=dtype, device=self.device)
                    for k in range(self.horizon + 1)]
        self.counter = 0  # steps taken since creation: the step counter of the draws inside the step
        self._initialise()
        self.reset()

    # ------------------------------------------------------------ set-up and reset
    def _initialise(self) -> None:
        init = self.compiled.init(self.n_envs, self._uniforms, self._consts)
        self._params = {b.name: init[b.name] for b in self.program.params()}
        self._initial = {b.name: init[b.name] for b in self.program.states()}
        self._first_obs: dict[str, Tensor] | None = None
        self._first_split: dict[str, tuple[Tensor, Tensor]] | None = None

    def _initial_bufs(self) -> dict[str, Tensor]:
        bufs = dict(self._params)
        bufs.update({n: v.clone() for n, v in self._initial.items()})
        return bufs

    def reset(self) -> dict[str, Tensor]:
        """Reset every replica to t = 0; returns ``obs[type]`` [n_envs, n_agents, obs_dim]."""
        self._bufs = self._initial_bufs()
        self._t = 0
        self._quantities: dict[str, Tensor] = {}
        self._pending = None
        if self._first_obs is None:
            self._set_first_obs(self.compiled.observe(self._bufs, self._ts[0], self._consts))
        return self._unknown_later_stages(self._first())

    def _set_first_obs(self, obs: dict[str, Tensor]) -> None:
        """The first observation of an episode, and with ``split_obs`` its parts, made now: the episode's
        reset inside a rollout then only copies (the split indexes columns by Python lists, which on a GPU
        would copy the lists to the device)."""
        self._first_obs = obs
        self._first_split = split_observations(self.program, obs) if self.split_obs else None

    def _first(self) -> dict[str, Tensor]:
        """A copy of the first observation of an episode (split with ``split_obs``)."""
        if self._first_split is not None:
            return {a: (s.clone(), o.clone()) for a, (s, o) in self._first_split.items()}
        return {a: o.clone() for a, o in self._first_obs.items()}

    # ------------------------------------------------------------ stepping
    def _check_actions(self, actions: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = {}
        for a in self.agent_types:
            if a not in actions:
                raise KeyError(f"no actions for agent type {a!r}")
            x = actions[a]
            if not isinstance(x, Tensor):
                x = torch.as_tensor(x)
            want = (self.n_envs, self.n_agents[a], len(self.action_nvec[a]))
            if tuple(x.shape) != want:
                raise ValueError(f"actions[{a!r}] has shape {tuple(x.shape)}, expected {want}")
            if x.dtype.is_floating_point or x.dtype == torch.bool:
                raise TypeError(f"actions[{a!r}] must be an integer tensor, not {x.dtype}")
            if x.device != self.device:
                x = x.to(self.device)
            out[a] = x
        for a in self._lo_hi:
            key = self.real_key[a]
            if key not in actions:
                raise KeyError(f"no real actions {key!r} for the continuous heads of {a!r}")
            x = torch.as_tensor(actions[key])
            want = (self.n_envs, self.n_agents[a], len(self.action_bounds[a]))
            if tuple(x.shape) != want:
                raise ValueError(f"actions[{key!r}] has shape {tuple(x.shape)}, expected {want}")
            if not x.dtype.is_floating_point:
                raise TypeError(f"actions[{key!r}] must be a float tensor, not {x.dtype}")
            out[key] = self._clip_real(a, x)
        return out

    def _clip_real(self, agent: str, x: Tensor) -> Tensor:
        """Real actions of ``agent``'s continuous heads, on this device and dtype, clipped into their bounds."""
        lo, hi = self._lo_hi[agent]
        return torch.minimum(torch.maximum(x.to(self.device, self.dtype), lo), hi)

    def step(self, actions: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor, dict]:
        """Advance every replica by one step.

        ``actions[type]``: integer tensor [n_envs, n_agents, n_columns] (int64 or a smaller int dtype);
        for a type with continuous heads also ``actions[real_key[type]]``: float tensor [n_envs, n_agents,
        n_real_columns] of values, clipped into ``action_bounds[type]``.
        Returns ``(obs, rewards, done, info)``: ``obs[type]`` [n_envs, n_agents, obs_dim] (with ``split_obs``:
        ``(shared [n_envs, n_shared], own [n_envs, n_agents, obs_dim - n_shared])``), ``rewards[type]``
        [n_envs, n_agents], ``done`` bool [n_envs], ``info`` a dict with ``t`` (the step just taken),
        ``externals`` (with ``accounting=True``) and ``final_obs`` (with ``final_obs=True`` at episode end).

        The step is :meth:`begin_step`, :meth:`run_step` and :meth:`finish_step` in turn; the rollout calls
        them itself so that it can compile or capture the middle one (with the policies' sampling).
        """
        inputs = self.begin_step()
        res, obs = self.run_step(inputs, actions)
        return self.finish_step(inputs, actions, res, obs)

    def begin_step(self) -> StepInputs:
        """The inputs of the next step (the current states and parameters, ``t``, the runtime constants, the
        step's random words) and whether it ends the episode; advances the step counter."""
        inputs = StepInputs(self._bufs, self._ts[self._t], dict(self._consts),
                            rng_words(self.seed, self.counter, self.n_envs, self.device, self.first_replica),
                            self._t + 1 >= self.horizon)
        self.counter += 1
        return inputs

    def run_step(self, inputs: StepInputs, actions: Mapping[str, Tensor]
                 ) -> tuple[StepResult, dict[str, Tensor] | None]:
        """The compiled step of ``actions`` from ``inputs`` (:meth:`begin_step`): its result and the next
        observations (None when it ends the episode: they are the next episode's first). A function of its
        arguments only: nothing of the environment changes (a rollout may compile it or capture it in a CUDA
        graph), and it reads nothing back to the host."""
        acts = self._check_actions(actions)
        args = (inputs.bufs, acts, inputs.t, inputs.consts, inputs.rng)
        if inputs.ending:
            return self.compiled.step(*args), None
        if self.split_obs:
            return self.compiled.step_observe_split(*args)
        return self.compiled.step_observe(*args)

    def finish_step(self, inputs: StepInputs, actions: Mapping[str, Tensor], res: StepResult,
                    obs: dict[str, Tensor] | None) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor, dict]:
        """Take the step :meth:`run_step` computed (next states, episode reset); returns what :meth:`step`
        returns."""
        info: dict[str, Any] = {"t": self._t}
        if inputs.ending:
            if self.final_obs:
                nxt = dict(inputs.bufs)
                nxt.update(res.states)
                info["final_obs"] = self.compiled.observe(nxt, self._ts[self._t + 1], inputs.consts)
            self._bufs = self._initial_bufs()
            self._t = 0
            obs = self._first()
        else:
            self._bufs = {**self._params, **res.states}
            self._t += 1
        self._pending = None if self.quantities else (inputs, actions)
        self._quantities = res.quantities
        if res.externals:
            info["externals"] = res.externals
        done = torch.full((self.n_envs,), inputs.ending, dtype=torch.bool, device=self.device)
        return self._unknown_later_stages(obs), res.rewards, done, info

    def _unknown_later_stages(self, obs: dict[str, Tensor]) -> dict[str, Tensor]:
        """With stages, the observations of agent types after the first stage depend on this period's earlier
        actions, which nobody has chosen yet: NaN until :meth:`observe_stage` computes them."""
        for agents in self.stages[1:]:
            for a in agents:
                x = obs[a]
                obs[a] = tuple(torch.full_like(v, float("nan")) for v in x) if isinstance(x, tuple) else \
                    torch.full_like(x, float("nan"))
        return obs

    def observe_stage(self, actions: Mapping[str, Tensor], stage: int,
                      at: StepInputs | None = None) -> dict[str, Tensor]:
        """The observations of the agent types acting in ``stage`` (an index into ``stages``) at the current
        step, given ``actions`` of the earlier stages' agent types (as for :meth:`step`); ``at``: at the step
        of these inputs (:meth:`begin_step`), a function of its arguments as :meth:`run_step` is."""
        acts = {k: torch.as_tensor(v).to(self.device) for k, v in actions.items()}
        for a in self._lo_hi:  # clipped into the bounds, as the step will use them
            if self.real_key[a] in acts:
                acts[self.real_key[a]] = self._clip_real(a, acts[self.real_key[a]])
        if at is None:
            obs = self.compiled.observe(self._bufs, self._ts[self._t], self._consts, acts)
        else:
            obs = self.compiled.observe(at.bufs, at.t, at.consts, acts)
        return {a: obs[a] for a in self.stages[stage]}

    # ------------------------------------------------------------ reading and steering
    @property
    def t(self) -> int:
        """The current step within the episode (the same in every replica)."""
        return self._t

    @property
    def state(self) -> dict[str, Tensor]:
        """Every state (current value), parameter and named step quantity (of the last step) by ``.econ`` name.

        Tensors are [n_envs, *sizes of the name's populations]. After a step that ended an episode, states
        are those of the new episode and quantities those of the last step of the old one.
        """
        out = dict(self._params)
        out.update({b.name: self._bufs[b.name] for b in self.program.states()})
        if self._pending is not None:
            self.prepare_state()
            inputs, actions = self._pending
            self._quantities = self._full.step(inputs.bufs, self._check_actions(actions), inputs.t, inputs.consts,
                                               inputs.rng).quantities
            self._pending = None
        out.update(self._quantities)
        return out

    def prepare_state(self) -> None:
        """Make now what :attr:`state` needs to compute the step quantities of an environment made without
        them (the full program), so that reading it inside a rollout sets nothing up (a rollout does not
        copy host data to the device)."""
        if self._full is None and not self.quantities:
            self._full = compile_program(self.model.program, self.backend, self.device, self.dtype,
                                         **self._backend_opts)

    def set_const(self, name: str, value: float) -> None:
        """Change a runtime constant (a constant the curriculum anneals, e.g. ``κ``) for all replicas."""
        if name not in self._consts:
            raise KeyError(f"{name!r} is not a runtime constant; runtime constants: {self.runtime_consts}")
        self._consts[name] = torch.tensor(float(value), dtype=self.dtype, device=self.device)
        # initial states and first observations may depend on it
        init = self.compiled.init(self.n_envs, self._uniforms, self._consts)
        self._initial = {b.name: init[b.name] for b in self.program.states()}
        self._set_first_obs(self.compiled.observe(self._initial_bufs(), self._ts[0], self._consts))

    def get_const(self, name: str) -> float:
        return float(self._consts[name])

    def action_mask(self, agent: str) -> Tensor:
        """The curriculum mask of an agent type: bool [n_columns, max(nvec)] (True = allowed).

        Held for the trainer; the environment does not enforce it. Defaults to every valid choice.
        """
        if agent not in self._masks:
            nvec = self.action_nvec[agent]
            width = max(nvec) if nvec else 0
            self._masks[agent] = torch.arange(width)[None, :] < torch.tensor(nvec)[:, None]
        return self._masks[agent]

    def set_action_mask(self, agent: str, mask: Tensor) -> None:
        nvec = self.action_nvec[agent]
        want = (len(nvec), max(nvec) if nvec else 0)
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if tuple(mask.shape) != want:
            raise ValueError(f"mask for {agent!r} has shape {tuple(mask.shape)}, expected {want}")
        self._masks[agent] = mask.clone()

    def random_actions(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Uniformly random valid actions (int64; and uniform values in the bounds of continuous heads),
        e.g. for tests and benchmarks."""
        out = {}
        for a in self.agent_types:
            nvec = torch.tensor(self.action_nvec[a], dtype=torch.float64)
            u = torch.rand((self.n_envs, self.n_agents[a], len(nvec)), generator=generator, dtype=torch.float64)
            out[a] = (u * nvec).long().to(self.device)
        for a in self._lo_hi:
            lo, hi = torch.tensor(self.action_bounds[a], dtype=torch.float64).T
            u = torch.rand((self.n_envs, self.n_agents[a], len(lo)), generator=generator, dtype=torch.float64)
            out[self.real_key[a]] = (lo + u * (hi - lo)).to(self.device, self.dtype)
        return out

    def __repr__(self) -> str:
        return (f"Env({self.program.model!r}, n_envs={self.n_envs}, backend={self.backend!r}, "
                f"device={str(self.device)!r}, dtype={self.dtype})")
