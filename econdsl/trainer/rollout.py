"""Rollout storage and collection: every agent type acts with its shared policy, all agents at once.

Buffers are preallocated on the env's device as [steps, envs, agents, …] per type. Collecting a rollout
makes no host synchronisation: economic series are accumulated as tensors and read once per iteration by
the trainer, which also checks the filled buffers for non-finite values (``finite_flags``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .policy import TypePolicy, real_values


@dataclass
class TypeBuffer:
    obs: torch.Tensor  # [T, E, n, obs_dim] raw observations
    actions: torch.Tensor  # [T, E, n, n_heads] int64
    logp: torch.Tensor  # [T, E, n]
    values: torch.Tensor  # [T, E, n]
    rewards: torch.Tensor  # [T, E, n] raw (unscaled) rewards
    last_value: torch.Tensor  # [E, n] value of the observation after the last step
    reals: torch.Tensor | None = None  # [T, E, n, n_real] the continuous heads' draws z (None without)


@dataclass
class RolloutBuffer:
    types: dict[str, TypeBuffer]
    dones: torch.Tensor  # [T, E] float
    series: torch.Tensor  # [T, n_series] mean over envs (and members) of each tracked quantity
    series_names: list[str] = field(default_factory=list)


def new_buffer(env, steps: int, series_names: list[str], device: torch.device | str,
               dtype: torch.dtype) -> RolloutBuffer:
    """Preallocate the buffers of one iteration of ``env`` (every agent type, ``env.n_envs`` replicas)."""
    out = {}
    types, n_envs = list(env.agent_types), env.n_envs
    for a in types:
        n, d, h = env.n_agents[a], env.obs_dim[a], len(env.action_nvec[a])
        out[a] = TypeBuffer(
            obs=torch.zeros(steps, n_envs, n, d, device=device, dtype=dtype),
            actions=torch.zeros(steps, n_envs, n, h, device=device, dtype=torch.long),
            logp=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            values=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            rewards=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            last_value=torch.zeros(n_envs, n, device=device, dtype=dtype),
        )
        n_real = len(getattr(env, "action_bounds", {}).get(a, ()))
        if n_real:
            out[a].reals = torch.zeros(steps, n_envs, n, n_real, device=device, dtype=dtype)
    return RolloutBuffer(out, torch.zeros(steps, n_envs, device=device, dtype=dtype),
                         torch.zeros(steps, len(series_names), device=device, dtype=dtype), list(series_names))


def finite_flags(buf: RolloutBuffer) -> torch.Tensor:
    """[T, n_types, 2] bool: whether the rewards (0) / observations (1) of each type were finite at each step."""
    per_type = [torch.stack([torch.isfinite(b.rewards).flatten(1).all(1), torch.isfinite(b.obs).flatten(1).all(1)], -1)
                for b in buf.types.values()]
    return torch.stack(per_type, 1)


def declared_bounds(env, agent: str, device: torch.device | str) -> torch.Tensor:
    """[2, n_real]: lower and upper bounds of the agent type's continuous action columns, as declared."""
    return torch.tensor(env.action_bounds[agent], dtype=torch.float32, device=device).reshape(-1, 2).T


@torch.inference_mode()
def collect(env, policies: dict[str, TypePolicy], masks: dict[str, torch.Tensor | None],
            obs: dict[str, torch.Tensor], buf: RolloutBuffer, generator: torch.Generator | None,
            bounds: dict[str, torch.Tensor | None] | None = None, shard=None) -> dict[str, torch.Tensor]:
    """Run ``buf``'s number of steps from ``obs``; fill ``buf``; return the observation after the last step.

    ``shard`` (``econdsl.scale.distributed.Shard``): ``env`` holds this process's share of a run's replicas;
    the actions are drawn with the random numbers the whole run would give these replicas.

    ``bounds[type]`` ([2, n_real], the curriculum's narrowed intervals) scales the continuous actions;
    a type without an entry acts in its declared bounds."""
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
                b, x = buf.types[a], obs[a]
                E, n, d = x.shape
                flat = x.reshape(E * n, d).to(b.obs.dtype)
                b.obs[t] = x
                if b.reals is None:
                    logp_all, value = policies[a](flat, masks[a])
                    u = None if shard is None else shard.action_draws(logp_all, None, n, generator)[0]
                    act = TypePolicy.sample(logp_all, generator, u=u)
                    b.actions[t] = act.view(E, n, -1)
                    b.logp[t] = TypePolicy.log_prob(logp_all, act).view(E, n)
                else:
                    dist, value = policies[a].dist(flat, masks[a])
                    draws = () if shard is None else shard.action_draws(dist.logp, dist.mean, n, generator)
                    both = TypePolicy.sample_action(dist, generator, False, *draws)
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
        if buf.series_names:
            state = env.state  # the quantities come with the step when the env was made with quantities=True
            buf.series[t] = torch.stack([state[s].to(buf.series.dtype).mean() for s in buf.series_names])
    last = dict(obs)
    if len(stages) > 1:  # the next period's later stages: observe them after drawing its earlier stages' actions
        acts: dict[str, torch.Tensor] = {}
        for k, stage in enumerate(stages[:-1]):
            for a in stage:
                x = last[a]
                E, n, d = x.shape
                dist, _ = policies[a].dist(x.reshape(E * n, d).to(buf.types[a].obs.dtype), masks[a])
                draws = () if shard is None else shard.action_draws(dist.logp, dist.mean, n, generator)
                both = TypePolicy.sample_action(dist, generator, False, *draws)
                acts[a] = both.index.view(E, n, -1)
                if a in bounds:
                    acts[env.real_key[a]] = real_values(both.z.view(E, n, -1), bounds[a])
            last.update(env.observe_stage(acts, k + 1))
    for a in types:
        x = last[a]
        E, n, d = x.shape
        buf.types[a].last_value.copy_(policies[a](x.reshape(E * n, d).to(buf.types[a].obs.dtype), masks[a])[1]
                                      .view(E, n))
    return obs
