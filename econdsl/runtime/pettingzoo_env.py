"""PettingZoo environments over one replica of a model, with Gymnasium spaces.

``parallel_env(path)`` is a ``ParallelEnv`` (every agent acts at once) for models without stages;
``aec_env(path)`` is an ``AECEnv`` (agents act one at a time) for any model, and the one for models with
stages: agents act stage by stage, in the order of the ``stage`` lines, and an agent of a later stage
observes the actions its stage may see (the leader's quantity, the government's announced tax).

Agents are named ``"<Type>_<k>"`` (``"Consumer_0"`` … ``"Firm_9"``), a singleton type by its name
(``"Government"``). Observation spaces are ``Box(-inf, inf, (obs_dim,), float32)``; action spaces are
``MultiDiscrete(action_nvec[type])`` (one entry per action column) for a type with discrete heads only,
``Box(lo, hi, (n_real_columns,), float32)`` (the intervals of ``action_bounds[type]``) for a type with
continuous heads only, and ``Dict({"discrete": MultiDiscrete, "continuous": Box})`` for a type with both.
An episode ends after ``horizon`` periods with ``truncations`` True for every agent (a time limit; there are
no terminal states), after which ``agents`` is empty until ``reset``.

    from econdsl.runtime.pettingzoo_env import aec_env, parallel_env
    env = parallel_env("models/rbc_open.econ")
    env = aec_env("models/stackelberg.econ")
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from .env import Env
from .model import Model, load


class _Replica:
    """One replica of a model (``Env`` with one environment) and its agents' names, spaces and actions:
    what the parallel and the AEC adapters share."""

    def __init__(self, model: Model, backend: str, seed: int, env_opts: dict[str, Any]):
        self.model, self.backend, self.env_opts, self.seed = model, backend, env_opts, seed
        self.env = self._make(seed)
        e = self.env
        # (agent name, type, member), stage by stage (one stage without stages: the types' order)
        self.names: list[tuple[str, str, int]] = []
        for stage in e.stages:
            for a in stage:
                if a in model.program.singletons:
                    self.names.append((a, a, 0))
                else:
                    self.names += [(f"{a}_{k}", a, k) for k in range(e.n_agents[a])]
        self.type_of = {n: (a, k) for n, a, k in self.names}
        self.obs_spaces = {a: spaces.Box(-np.inf, np.inf, (e.obs_dim[a],), np.float32) for a in e.agent_types}
        self.act_spaces = {a: _action_space(e.action_nvec[a], e.action_bounds[a]) for a in e.agent_types}

    def _make(self, seed: int) -> Env:
        return self.model.env(1, backend=self.backend, seed=seed, final_obs=True, **self.env_opts)

    def reseed(self, seed: int | None) -> None:
        if seed is not None and seed != self.seed:
            self.seed = seed
            self.env = self._make(seed)

    def split(self, obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """Per-agent float32 rows of the observations of the types in ``obs``."""
        arrays = {a: o[0].detach().cpu().numpy().astype(np.float32) for a, o in obs.items()}
        return {n: arrays[a][k] for n, a, k in self.names if a in arrays}

    def empty_actions(self) -> dict[str, torch.Tensor]:
        """A period's actions before anyone acts: choice 0 in every discrete column, the lower bound of every
        continuous one (what a missing action means)."""
        e = self.env
        batch = {a: torch.zeros(1, e.n_agents[a], len(e.action_nvec[a]), dtype=torch.long) for a in e.agent_types}
        for a in e.agent_types:
            if e.action_bounds[a]:
                lo = torch.tensor([lo for lo, _ in e.action_bounds[a]], dtype=torch.float64)
                batch[e.real_key[a]] = lo.expand(1, e.n_agents[a], len(lo)).clone()
        return batch

    def put(self, batch: dict[str, torch.Tensor], name: str, act: Any) -> None:
        """Write agent ``name``'s action (a space sample: array, or dict of the two kinds) into ``batch``."""
        e = self.env
        a, k = self.type_of[name]
        discrete, continuous = (act["discrete"], act["continuous"]) if isinstance(act, dict) else \
            (act, None) if e.action_nvec[a] else (None, act)
        if discrete is not None:
            batch[a][0, k] = torch.as_tensor(np.asarray(discrete, dtype=np.int64).reshape(-1))
        if continuous is not None:
            batch[e.real_key[a]][0, k] = torch.as_tensor(np.asarray(continuous, dtype=np.float64).reshape(-1))


class _OneReplica:
    """What both PettingZoo adapters share: one ``_Replica`` ``_r`` and its spaces."""

    _r: _Replica

    @property
    def _env(self) -> Env:
        return self._r.env

    def observation_space(self, agent: str) -> spaces.Space:
        return self._r.obs_spaces[self._r.type_of[agent][0]]

    def action_space(self, agent: str) -> spaces.Space:
        return self._r.act_spaces[self._r.type_of[agent][0]]

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None

    def state(self) -> np.ndarray:
        """The replica's states and parameters, flattened in ``Program.buffers`` order."""
        return _state(self._r)


class EconParallelEnv(_OneReplica, ParallelEnv):
    metadata = {"name": "econdsl", "render_modes": [], "is_parallelizable": True}

    def __init__(self, model: Model, backend: str = "torch", seed: int = 0, **env_opts: Any):
        if model.program.stages:  # a parallel API would hand later stages NaN observations (Env.observe_stage)
            raise ValueError(f"model `{model.name}` has stages; its agents act one stage after another: use "
                             "aec_env (a pettingzoo.AECEnv) instead of parallel_env")
        self.model = model
        self._r = _Replica(model, backend, seed, env_opts)
        self.metadata = {**EconParallelEnv.metadata, "name": f"econdsl_{model.name}"}
        self.possible_agents = [n for n, _, _ in self._r.names]
        self.agents: list[str] = []

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._r.reseed(seed)
        obs = self._env.reset()
        self.agents = list(self.possible_agents)
        return self._r.split(obs), {n: {} for n in self.agents}

    def step(self, actions: dict[str, Any]):
        batch = self._r.empty_actions()
        for name in self.agents:
            if actions.get(name) is not None:  # a missing action: choice 0, continuous lower bounds
                self._r.put(batch, name, actions[name])
        obs, rew, done, info = self._env.step(batch)
        ended = bool(done[0])
        if ended:
            obs = info["final_obs"]
        observations = self._r.split(obs)
        rewards = {n: float(rew[a][0, k]) for n, a, k in self._r.names}
        terminations = {n: False for n in self.agents}
        truncations = {n: ended for n in self.agents}
        infos = {n: {} for n in self.agents}
        agents = list(self.agents)
        if ended:
            self.agents = []
        return ({n: observations[n] for n in agents}, {n: rewards[n] for n in agents}, terminations,
                truncations, infos)


class EconAECEnv(_OneReplica, AECEnv):
    """Agents act one at a time, stage by stage (``possible_agents`` is in that order; without stages every
    agent is in one stage). When an agent's stage begins, the observations of every agent of that stage are
    computed from the actions taken earlier in the period (``Env.observe_stage``); agents of the same stage do
    not see each other's actions. After the last agent of the last stage acts, the period's step runs and
    every agent receives its reward. ``observe(agent)`` is the observation the agent acts on in the current
    period once its stage has begun, before that the one of its last turn (NaN before its first turn of an
    episode: it is not known yet). At the end of an episode, agents of the first stage observe the final
    states; agents of later stages keep the observation of their last turn (what they would observe next
    depends on actions nobody takes)."""

    metadata = {"name": "econdsl", "render_modes": [], "is_parallelizable": False}

    def __init__(self, model: Model, backend: str = "torch", seed: int = 0, **env_opts: Any):
        super().__init__()
        self.model = model
        self._r = _Replica(model, backend, seed, env_opts)
        self.metadata = {**EconAECEnv.metadata, "name": f"econdsl_{model.name}"}
        self.possible_agents = [n for n, _, _ in self._r.names]
        stage_of = {a: k for k, types in enumerate(self._env.stages) for a in types}
        self._stage_of = {n: stage_of[a] for n, a, _ in self._r.names}
        self.agents: list[str] = []

    def observe(self, agent: str) -> np.ndarray:
        return self._obs[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._r.reseed(seed)
        self._obs = self._r.split(self._env.reset())  # later stages: NaN until their stage begins
        self._batch = self._r.empty_actions()
        self.agents = list(self.possible_agents)
        self.rewards = {n: 0.0 for n in self.agents}
        self._cumulative_rewards = {n: 0.0 for n in self.agents}
        self.terminations = {n: False for n in self.agents}
        self.truncations = {n: False for n in self.agents}
        self.infos: dict[str, dict] = {n: {} for n in self.agents}
        self._turn = 0  # index into possible_agents of the agent to act
        self.agent_selection = self.possible_agents[0]

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        if action is not None:  # None: choice 0, continuous lower bounds (as a missing parallel action)
            self._r.put(self._batch, agent, action)
        self._turn += 1
        if self._turn < len(self.possible_agents):
            self._clear_rewards()
            nxt = self.possible_agents[self._turn]
            if self._stage_of[nxt] != self._stage_of[agent]:  # a new stage: its agents observe what came before
                self._obs.update(self._r.split(self._env.observe_stage(self._batch, self._stage_of[nxt])))
        else:
            self._end_period()
        self.agent_selection = self.possible_agents[self._turn]
        self._accumulate_rewards()

    def _end_period(self) -> None:
        obs, rew, done, info = self._env.step(self._batch)
        ended = bool(done[0])
        first = set(self._env.stages[0])
        self._obs.update({n: o for n, o in self._r.split(info["final_obs"] if ended else obs).items()
                          if self._r.type_of[n][0] in first})
        self.rewards = {n: float(rew[a][0, k]) for n, a, k in self._r.names}
        if ended:
            self.truncations = {n: True for n in self.agents}
        self._batch = self._r.empty_actions()
        self._turn = 0


def _state(r: _Replica) -> np.ndarray:
    s = r.env.state
    return np.concatenate([s[b.name][0].reshape(-1).double().cpu().numpy() for b in r.model.program.buffers])


def _action_space(nvec: list[int], bounds: list[tuple[float, float]]) -> spaces.Space:
    discrete = spaces.MultiDiscrete(np.array(nvec, dtype=np.int64))
    if not bounds:
        return discrete
    lo, hi = (np.array(v, dtype=np.float32) for v in zip(*bounds, strict=True))
    continuous = spaces.Box(lo, hi, (len(bounds),), np.float32)
    return spaces.Dict({"discrete": discrete, "continuous": continuous}) if nvec else continuous


def parallel_env(path: str, overrides: dict | None = None, **kwargs: Any) -> EconParallelEnv:
    """Load a model and wrap one replica of it as a PettingZoo ``ParallelEnv``."""
    return EconParallelEnv(load(path, overrides), **kwargs)


def aec_env(path: str, overrides: dict | None = None, **kwargs: Any) -> EconAECEnv:
    """Load a model and wrap one replica of it as a PettingZoo ``AECEnv`` (agents act stage by stage)."""
    return EconAECEnv(load(path, overrides), **kwargs)
