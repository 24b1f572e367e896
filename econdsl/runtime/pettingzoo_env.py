"""A PettingZoo ``ParallelEnv`` over one replica of a model, with Gymnasium spaces.

Agents are named ``"<Type>_<k>"`` (``"Consumer_0"`` … ``"Firm_9"``), a singleton type by its name
(``"Government"``). Observation spaces are ``Box(-inf, inf, (obs_dim,), float32)``; action spaces are
``MultiDiscrete(action_nvec[type])`` (one entry per action column) for a type with discrete heads only,
``Box(lo, hi, (n_real_columns,), float32)`` (the intervals of ``action_bounds[type]``) for a type with
continuous heads only, and ``Dict({"discrete": MultiDiscrete, "continuous": Box})`` for a type with both.
An episode ends after ``horizon``
steps with ``truncations`` True for every agent (a time limit; there are no terminal states), after
which ``agents`` is empty until ``reset``.

    from econdsl.runtime.pettingzoo_env import parallel_env
    env = parallel_env("models/rbc_open.econ")
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .model import Model, load


class EconParallelEnv(ParallelEnv):
    metadata = {"name": "econdsl", "render_modes": [], "is_parallelizable": True}

    def __init__(self, model: Model, backend: str = "torch", seed: int = 0, **env_opts: Any):
        if model.program.stages:  # a parallel API would hand later stages NaN observations (Env.observe_stage)
            raise ValueError(f"model `{model.name}` has stages; the PettingZoo adapter runs models without stages "
                             "only (use econdsl.runtime.env.Env and its observe_stage)")
        self.model = model
        self.backend = backend
        self.env_opts = env_opts
        self._seed = seed
        self._env = model.env(1, backend=backend, seed=seed, final_obs=True, **env_opts)
        e = self._env
        self.metadata = {**EconParallelEnv.metadata, "name": f"econdsl_{model.name}"}
        self._names: list[tuple[str, str, int]] = []  # (agent name, type, member)
        for a in e.agent_types:
            if a in model.program.singletons:
                self._names.append((a, a, 0))
            else:
                self._names += [(f"{a}_{k}", a, k) for k in range(e.n_agents[a])]
        self.possible_agents = [n for n, _, _ in self._names]
        self._type_of = {n: (a, k) for n, a, k in self._names}
        self._obs_spaces = {a: spaces.Box(-np.inf, np.inf, (e.obs_dim[a],), np.float32) for a in e.agent_types}
        self._act_spaces = {a: _action_space(e.action_nvec[a], e.action_bounds[a]) for a in e.agent_types}
        self.agents: list[str] = []

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[self._type_of[agent][0]]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[self._type_of[agent][0]]

    def _split(self, obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        arrays = {a: o[0].detach().cpu().numpy().astype(np.float32) for a, o in obs.items()}
        return {n: arrays[a][k] for n, a, k in self._names}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None and seed != self._seed:
            self._seed = seed
            self._env = self.model.env(1, backend=self.backend, seed=seed, final_obs=True, **self.env_opts)
        obs = self._env.reset()
        self.agents = list(self.possible_agents)
        return self._split(obs), {n: {} for n in self.agents}

    def step(self, actions: dict[str, Any]):
        e = self._env
        batch = {a: torch.zeros(1, e.n_agents[a], len(e.action_nvec[a]), dtype=torch.long) for a in e.agent_types}
        for a in e.agent_types:  # continuous heads: a missing action means the lower bound
            if e.action_bounds[a]:
                lo = torch.tensor([lo for lo, _ in e.action_bounds[a]], dtype=torch.float64)
                batch[e.real_key[a]] = lo.expand(1, e.n_agents[a], len(lo)).clone()
        for name in self.agents:
            a, k = self._type_of[name]
            act = actions.get(name)
            if act is None:
                continue  # a missing action means choice 0 in every column
            discrete, continuous = (act["discrete"], act["continuous"]) if isinstance(act, dict) else \
                (act, None) if e.action_nvec[a] else (None, act)
            if discrete is not None:
                batch[a][0, k] = torch.as_tensor(np.asarray(discrete, dtype=np.int64).reshape(-1))
            if continuous is not None:
                batch[e.real_key[a]][0, k] = torch.as_tensor(np.asarray(continuous, dtype=np.float64).reshape(-1))
        obs, rew, done, info = e.step(batch)
        ended = bool(done[0])
        if ended:
            obs = info["final_obs"]
        observations = self._split(obs)
        rewards = {n: float(rew[a][0, k]) for n, a, k in self._names}
        terminations = {n: False for n in self.agents}
        truncations = {n: ended for n in self.agents}
        infos = {n: {} for n in self.agents}
        agents = list(self.agents)
        if ended:
            self.agents = []
        return ({n: observations[n] for n in agents}, {n: rewards[n] for n in agents}, terminations,
                truncations, infos)

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None

    def state(self) -> np.ndarray:
        """The replica's states and parameters, flattened in ``Program.buffers`` order."""
        s = self._env.state
        return np.concatenate([s[b.name][0].reshape(-1).double().cpu().numpy() for b in self.model.program.buffers])


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
