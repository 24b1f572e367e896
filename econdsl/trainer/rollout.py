"""Rollout storage and collection: every agent type acts with its shared policy, all agents at once.

Buffers are preallocated on the env's device as [steps, envs, agents, …] per type. Collecting a rollout
makes no host synchronisation: economic series are accumulated as tensors and read once per iteration by
the trainer, which also checks the filled buffers for non-finite values (``finite_flags``).

The lean layout (``new_buffer(..., lean=True)``, the trainer's ``lean`` setting) stores what a step
produces with less traffic and the same numbers: actions in the narrowest integer type of their grids
(``policy.action_dtype``: int8 for every grid up to 127 choices), and each observation's shared columns
(``Program.obs_shared_columns``: the global state every member sees alike) once per replica
(``shared`` [T, E, n_shared]) next to the per-member columns (``own`` [T, E, n, n_own]); the policies
take them as ``policy.SplitObs`` and combine the parts in their first layer. Economy series are then
collected only on the iterations that ask for them (``collect(..., series=True)``), from ``Env.state``
of an environment made without step quantities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .policy import SplitObs, TypePolicy, action_dtype, real_values


@dataclass
class TypeBuffer:
    obs: torch.Tensor | None  # [T, E, n, obs_dim] raw observations (None in the lean layout)
    actions: torch.Tensor  # [T, E, n, n_heads] int64 (lean: policy.action_dtype of the grids)
    logp: torch.Tensor  # [T, E, n]
    values: torch.Tensor  # [T, E, n]
    rewards: torch.Tensor  # [T, E, n] raw (unscaled) rewards
    last_value: torch.Tensor  # [E, n] value of the observation after the last step
    reals: torch.Tensor | None = None  # [T, E, n, n_real] the continuous heads' draws z (None without)
    shared: torch.Tensor | None = None  # lean: [T, E, n_shared] the columns every member sees alike
    own: torch.Tensor | None = None  # lean: [T, E, n, obs_dim - n_shared] the other columns
    shared_columns: torch.Tensor | None = None  # lean: which observation columns are shared / own
    own_columns: torch.Tensor | None = None

    @property
    def lean(self) -> bool:
        return self.obs is None

    def store_obs(self, t: int, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor | SplitObs:
        """Store the observations of step ``t``: whole rows [E, n, obs_dim], or split as an ``Env`` with
        ``split_obs`` gives them ((shared [E, n_shared], own [E, n, n_own])); return them as the policy
        takes them."""
        E, n = self.rewards.shape[1:]
        if self.obs is not None:
            self.obs[t] = x
            return x.reshape(E * n, -1).to(self.obs.dtype)
        if isinstance(x, tuple):
            self.shared[t], self.own[t] = x
        else:
            self.shared[t] = x[:, 0, self.shared_columns]
            self.own[t] = x[:, :, self.own_columns]
        return SplitObs(self.shared[t], self.own[t].view(E * n, -1), n)

    def observations(self) -> torch.Tensor | SplitObs:
        """Every stored observation, flattened over (steps, envs, agents): [T·E·n, obs_dim] or split."""
        if self.obs is not None:
            return self.obs.flatten(0, 2)
        T, E, n = self.rewards.shape
        return SplitObs(self.shared.flatten(0, 1), self.own.flatten(0, 2), n)

    def finite_obs(self) -> torch.Tensor:
        """[T] bool: whether every observation of each step was finite."""
        if self.obs is not None:
            return torch.isfinite(self.obs).flatten(1).all(1)
        return torch.isfinite(self.shared).flatten(1).all(1) & torch.isfinite(self.own).flatten(1).all(1)


def as_policy_input(policy: TypePolicy, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor], lean: bool,
                    dtype: torch.dtype) -> torch.Tensor | SplitObs:
    """Observations (whole rows [E, n, obs_dim] or split) as a policy takes them (split in the lean
    layout), not stored."""
    if isinstance(x, tuple):
        shared, own = x
        E, n, _ = own.shape
        return SplitObs(shared.to(dtype), own.reshape(E * n, -1).to(dtype), n)
    E, n, d = x.shape
    flat = x.reshape(E * n, d).to(dtype)
    return policy.split(flat, n) if lean else flat


@dataclass
class RolloutBuffer:
    types: dict[str, TypeBuffer]
    dones: torch.Tensor  # [T, E] float
    series: torch.Tensor  # [T, n_series] mean over envs (and members) of each tracked quantity
    series_names: list[str] = field(default_factory=list)


def new_buffer(env, steps: int, series_names: list[str], device: torch.device | str,
               dtype: torch.dtype, lean: bool = False) -> RolloutBuffer:
    """Preallocate the buffers of one iteration of ``env`` (every agent type, ``env.n_envs`` replicas);
    ``lean``: the lean layout (module docstring), with the shared columns ``env.obs_shared`` names."""
    out = {}
    types, n_envs = list(env.agent_types), env.n_envs
    for a in types:
        n, d, h = env.n_agents[a], env.obs_dim[a], len(env.action_nvec[a])
        lean_parts = {}
        if lean:
            shared = sorted(getattr(env, "obs_shared", {}).get(a, []))  # none known: every column per member
            own = [k for k in range(d) if k not in set(shared)]
            lean_parts = dict(
                shared=torch.zeros(steps, n_envs, len(shared), device=device, dtype=dtype),
                own=torch.zeros(steps, n_envs, n, len(own), device=device, dtype=dtype),
                shared_columns=torch.tensor(shared, dtype=torch.long, device=device),
                own_columns=torch.tensor(own, dtype=torch.long, device=device))
        out[a] = TypeBuffer(
            obs=None if lean else torch.zeros(steps, n_envs, n, d, device=device, dtype=dtype),
            actions=torch.zeros(steps, n_envs, n, h, device=device,
                                dtype=action_dtype(env.action_nvec[a]) if lean else torch.long),
            logp=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            values=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            rewards=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            last_value=torch.zeros(n_envs, n, device=device, dtype=dtype),
            **lean_parts,
        )
        n_real = len(getattr(env, "action_bounds", {}).get(a, ()))
        if n_real:
            out[a].reals = torch.zeros(steps, n_envs, n, n_real, device=device, dtype=dtype)
    return RolloutBuffer(out, torch.zeros(steps, n_envs, device=device, dtype=dtype),
                         torch.zeros(steps, len(series_names), device=device, dtype=dtype), list(series_names))


def finite_flags(buf: RolloutBuffer) -> torch.Tensor:
    """[T, n_types, 2] bool: whether the rewards (0) / observations (1) of each type were finite at each step."""
    per_type = [torch.stack([torch.isfinite(b.rewards).flatten(1).all(1), b.finite_obs()], -1)
                for b in buf.types.values()]
    return torch.stack(per_type, 1)


def declared_bounds(env, agent: str, device: torch.device | str) -> torch.Tensor:
    """[2, n_real]: lower and upper bounds of the agent type's continuous action columns, as declared."""
    return torch.tensor(env.action_bounds[agent], dtype=torch.float32, device=device).reshape(-1, 2).T


def _draw(dist, generator: torch.Generator | None, shard, n: int, dtype: torch.dtype):
    """Sample every head of ``dist``; with a ``shard``, from the random numbers the whole run gives its replicas."""
    draws = () if shard is None else shard.action_draws(dist.logp, dist.mean, n, generator)
    return TypePolicy.sample_action(dist, generator, False, *draws, dtype=dtype)


@torch.inference_mode()
def collect(env, policies: dict[str, TypePolicy], masks: dict[str, torch.Tensor | None],
            obs: dict[str, torch.Tensor], buf: RolloutBuffer, generator: torch.Generator | None,
            bounds: dict[str, torch.Tensor | None] | None = None, shard=None,
            series: bool = True) -> dict[str, torch.Tensor]:
    """Run ``buf``'s number of steps from ``obs``; fill ``buf``; return the observation after the last step.

    ``shard`` (``econdsl.scale.distributed.Shard``): ``env`` holds this process's share of a run's replicas;
    the actions are drawn with the random numbers the whole run would give these replicas.

    ``bounds[type]`` ([2, n_real], the curriculum's narrowed intervals) scales the continuous actions;
    a type without an entry acts in its declared bounds. ``series``: fill ``buf.series`` (the economy
    series, from ``Env.state``) this time; without, ``buf.series`` keeps what it held."""
    types = list(buf.types)
    steps = buf.dones.shape[0]
    bounds = dict(bounds or {})
    for a in types:
        if buf.types[a].reals is not None and bounds.get(a) is None:
            bounds[a] = declared_bounds(env, a, buf.dones.device)
    stages = env.stages
    for t in range(steps):
        actions: dict[str, torch.Tensor] = {}
        for k, stage in enumerate(stages):
            if k:  # a later stage observes the actions of the earlier ones
                obs = {**obs, **env.observe_stage(actions, k)}
            for a in stage:
                b = buf.types[a]
                E, n = b.rewards.shape[1:]
                flat = b.store_obs(t, obs[a])
                if b.reals is None:
                    logp_all, value = policies[a](flat, masks[a])
                    u = None if shard is None else shard.action_draws(logp_all, None, n, generator)[0]
                    act = TypePolicy.sample(logp_all, generator, u=u, dtype=b.actions.dtype)
                    b.actions[t] = act.view(E, n, -1)
                    b.logp[t] = TypePolicy.log_prob(logp_all, act).view(E, n)
                else:
                    dist, value = policies[a].dist(flat, masks[a])
                    both = _draw(dist, generator, shard, n, b.actions.dtype)
                    b.actions[t] = both.index.view(E, n, -1)
                    b.reals[t] = both.z.view(E, n, -1)
                    b.logp[t] = TypePolicy.action_log_prob(dist, both).view(E, n)
                    actions[env.real_key[a]] = real_values(b.reals[t], bounds[a])
                b.values[t] = value.view(E, n)
                actions[a] = b.actions[t]
        obs, rewards, done, _ = env.step(actions)
        for a in types:
            buf.types[a].rewards[t] = rewards[a]
        buf.dones[t] = done.to(buf.dones.dtype)
        if buf.series_names and series:
            # the quantities come with the step when the env was made with quantities=True; otherwise
            # Env.state computes them from the step's inputs (the lean trainer, on its analytics iterations)
            state = env.state
            buf.series[t] = torch.stack([state[s].to(buf.series.dtype).mean() for s in buf.series_names])
    last = dict(obs)
    if len(stages) > 1:  # the next period's later stages: observe them after drawing its earlier stages' actions
        acts: dict[str, torch.Tensor] = {}
        for k, stage in enumerate(stages[:-1]):
            for a in stage:
                b = buf.types[a]
                E, n = b.rewards.shape[1:]
                dist, _ = policies[a].dist(as_policy_input(policies[a], last[a], b.lean, b.logp.dtype), masks[a])
                both = _draw(dist, generator, shard, n, b.actions.dtype)
                acts[a] = both.index.view(E, n, -1)
                if a in bounds:
                    acts[env.real_key[a]] = real_values(both.z.view(E, n, -1), bounds[a])
            last.update(env.observe_stage(acts, k + 1))
    for a in types:
        b = buf.types[a]
        E, n = b.rewards.shape[1:]
        b.last_value.copy_(policies[a](as_policy_input(policies[a], last[a], b.lean, b.logp.dtype), masks[a])[1]
                           .view(E, n))
    return obs
