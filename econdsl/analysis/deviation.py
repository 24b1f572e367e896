"""Deviations of some agents from a learned profile, played in blocks of replicas.

A *deviation* is a set of members of one agent type that stop playing the type's shared policy and play
something else: their own copy of a policy (trained or not), its most likely action, or a fixed action
(at every step: open-loop; or at one step only, the learned policy otherwise: a one-step deviation).
Each deviation lives in a *block* of replicas; everybody else in those replicas, the deviating type's
other members included, plays the profile as learned. Blocks are independent games, so many deviations
(several members, several candidate strategies) are trained and measured in one batched rollout.

Deviating members are free of the curriculum's action masks (their model's action set only); everyone
else plays with the masks the profile was played with.

Payoffs are measured with common random numbers: :func:`play` draws the uniforms that pick every
agent's action from one seeded generator, in the same shapes whatever the deviation, and repeats them
every ``period`` replicas, so a payoff difference between two plays with one seed (or two blocks of one
play) is the effect of the deviation, not sampling noise of unrelated episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..trainer import ppo
from ..trainer.policy import MASKED, Dist, TypePolicy, real_values
from ..trainer.rollout import TypeBuffer, collect, declared_bounds, new_buffer

GREEDY_LOG_STD = -30.0
"""log σ of a continuous head played greedily: its draws are μ (the median) to float precision."""


@dataclass
class Block:
    """Replicas ``[start, stop)`` in which ``members`` of the type deviate.

    ``kind``: "stay" (no deviation: the reference), "policy" (``policy`` sampled), "greedy" (``policy``'s
    most likely action), "fixed" (``action``, one entry per action column, −1 = the learned policy's draw
    for that column; at step ``at`` only, or at every step when ``at`` is None).
    """

    members: tuple[int, ...]
    start: int = 0
    stop: int = 0
    kind: str = "stay"
    policy: TypePolicy | None = None
    action: tuple[int, ...] | None = None
    at: int | None = None
    label: str = ""
    extra: dict = field(default_factory=dict)

    def rows(self, n: int, device: torch.device) -> torch.Tensor:
        """Indices of the block's deviating agents in a flat [replicas × n] batch."""
        e = torch.arange(self.start, self.stop, device=device)
        m = torch.tensor(self.members, device=device)
        return (e[:, None] * n + m[None, :]).reshape(-1)


def one_hot_logp(index: torch.Tensor, max_n: int) -> torch.Tensor:
    """Log-probabilities [..., max_n] of a deterministic choice of ``index`` [...]."""
    out = torch.full(index.shape + (max_n,), MASKED, device=index.device)
    return out.scatter_(-1, index.unsqueeze(-1), 0.0)


class Actor(nn.Module):
    """One agent type as played: the shared policy under the profile's mask, with deviating blocks.

    Called like a :class:`TypePolicy` (``actor(flat_obs, mask) -> (logp, value)`` and ``actor.dist(…)``; the
    ``mask`` argument is ignored: the actor holds the profile's mask and continuous bounds), so that
    :func:`~econdsl.trainer.rollout.collect` can train deviators. ``t`` (the step within the episode) is set
    by :func:`play` for one-step deviations. Fixed-action deviations fix discrete columns only; continuous
    heads are played as the deviator's policy says (as learned, for fixed-action blocks).
    """

    def __init__(self, policy: TypePolicy, mask: torch.Tensor | None, bounds: torch.Tensor | None, n: int,
                 blocks: list[Block] | None = None):
        super().__init__()
        self.policy, self.mask, self.bounds, self.n = policy, mask, bounds, n
        self.blocks = list(blocks or [])
        self.t = 0

    def forward(self, flat: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        d, value = self.dist(flat)
        return d.logp, value

    def dist(self, flat: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[Dist, torch.Tensor]:
        d, value = self.policy.dist(flat, self.mask)
        logp, mean = d.logp, d.mean
        log_std = d.log_std.expand(flat.shape[0], -1)  # per row: deviators have their own σ
        for blk in self.blocks:
            if blk.kind == "stay" or (blk.kind == "fixed" and blk.at is not None and blk.at != self.t):
                continue
            rows = blk.rows(self.n, flat.device)
            if blk.kind in ("policy", "greedy"):
                dd, v = blk.policy.dist(flat[rows], None)  # the deviator is free of curriculum masks
                lp, ls = dd.logp, dd.log_std.expand(len(rows), -1)
                if blk.kind == "greedy":
                    lp = one_hot_logp(lp.argmax(-1), lp.shape[-1])
                    ls = torch.full_like(ls, GREEDY_LOG_STD)
                value = value.index_copy(0, rows, v.to(value.dtype))
                mean = mean.index_copy(0, rows, dd.mean.to(mean.dtype))
                log_std = log_std.index_copy(0, rows, ls.to(log_std.dtype))
            else:
                lp = logp[rows]
                act = torch.tensor(blk.action, device=flat.device)
                fixed = act >= 0
                forced = one_hot_logp(act.clamp(min=0), lp.shape[-1]).expand_as(lp)
                lp = torch.where(fixed[None, :, None], forced, lp)
            logp = logp.index_copy(0, rows, lp.to(logp.dtype))
        return Dist(logp, mean, log_std), value


def actors_for(policies: dict[str, TypePolicy], masks: dict[str, torch.Tensor | None],
               bounds: dict[str, torch.Tensor | None], n_agents: dict[str, int], agent: str | None = None,
               blocks: list[Block] | None = None) -> dict[str, Actor]:
    """Every type as played; ``agent``'s actor carries the deviating ``blocks``."""
    return {a: Actor(p, masks.get(a), bounds.get(a), n_agents[a], blocks if a == agent else None)
            for a, p in policies.items()}


@dataclass
class Played:
    """Payoffs of one :func:`play`: mean reward per step of every agent, ``{type: [episodes, E, n]}``, and
    the mean of its absolute value (a payoff scale that cannot cancel out)."""

    mean: dict[str, torch.Tensor]
    abs: dict[str, torch.Tensor]


@torch.no_grad()
def play(env, actors: dict[str, Actor], episodes: int, seed: int, period: int | None = None) -> Played:
    """Play ``episodes`` episodes in every replica of ``env`` (see :class:`Played`).

    The uniforms that pick actions come from ``seed`` and repeat every ``period`` replicas (default: no
    repetition), the same for any deviation: common random numbers across plays and across blocks.
    """
    E = env.n_envs
    period = period or E
    if E % period:
        raise ValueError(f"{E} replicas are not a multiple of the period {period}")
    device = env.device
    gen = torch.Generator(device=device).manual_seed(seed)
    out: dict[str, list[torch.Tensor]] = {a: [] for a in actors}
    out_abs: dict[str, list[torch.Tensor]] = {a: [] for a in actors}
    T = env.horizon
    for _ in range(episodes):
        obs = env.reset()
        total = {a: torch.zeros(E, env.n_agents[a], device=device) for a in actors}
        total_abs = {a: torch.zeros(E, env.n_agents[a], device=device) for a in actors}
        for t in range(T):
            acts = {}
            for a, actor in actors.items():
                x = obs[a]
                n, d = x.shape[1], x.shape[2]
                actor.t = t
                dist, _ = actor.dist(x.reshape(E * n, d).float())
                logp = dist.logp
                u = _common(gen, (period, n) + logp.shape[1:-1] + (1,), E, device, torch.rand)
                acts[a] = TypePolicy.sample(logp.float(), u=u).view(E, n, -1)
                if dist.mean.shape[1]:  # continuous heads: Gaussian draws, squashed into the bounds
                    noise = _common(gen, (period, n, dist.mean.shape[1]), E, device, torch.randn)
                    z = (dist.mean + noise * dist.log_std.exp()).view(E, n, -1)
                    lo_hi = actor.bounds if actor.bounds is not None else declared_bounds(env, a, device)
                    acts[env.real_key[a]] = real_values(z, lo_hi)
            obs, rewards, _, _ = env.step(acts)
            for a in actors:
                total[a] += rewards[a].float()
                total_abs[a] += rewards[a].float().abs()
        for a in actors:
            out[a].append(total[a] / T)
            out_abs[a].append(total_abs[a] / T)
    return Played({a: torch.stack(v) for a, v in out.items()}, {a: torch.stack(v) for a, v in out_abs.items()})


def _common(gen: torch.Generator, shape: tuple[int, ...], E: int, device, draw) -> torch.Tensor:
    """Draws for ``period`` = shape[0] replicas, repeated to ``E`` replicas and flattened to [E × n, …]."""
    x = draw(shape, generator=gen, device=device)
    x = x.repeat(E // shape[0], *([1] * (x.dim() - 1)))
    return x.reshape((E * shape[1],) + shape[2:])


# ---------------------------------------------------------------- training deviators


@dataclass
class TrainSpec:
    """How deviators are trained (PPO or vanilla policy gradient, one update per rollout)."""

    iterations: int
    lr: float
    entropy: Callable[[int, Block], float]
    """Entropy weight of a block at best-response iteration k."""
    ppo: ppo.PPOSettings
    reward_scale: float
    gamma: float
    gae_lambda: float
    returns: str


def sub_buffer(b: TypeBuffer, blk: Block) -> TypeBuffer:
    """The slice of a type's rollout buffer [T, E, n] that belongs to ``blk``'s deviating members."""
    m = torch.tensor(blk.members, device=b.rewards.device)

    def cut(x: torch.Tensor, lead: int) -> torch.Tensor:
        x = x[(slice(None),) * lead + (slice(blk.start, blk.stop),)]
        return x.index_select(lead + 1, m)

    return TypeBuffer(cut(b.obs, 1), cut(b.actions, 1), cut(b.logp, 1), cut(b.values, 1), cut(b.rewards, 1),
                      cut(b.last_value, 0), None if b.reals is None else cut(b.reals, 1))


def train(env, actors: dict[str, Actor], agent: str, spec: TrainSpec, seed: int) -> dict[int, list[float]]:
    """Train every "policy" block of ``agent``'s actor on its own replicas and members, all in the same
    rollouts; returns each trained block's learning curve (its members' mean reward per iteration)."""
    blocks = [b for b in actors[agent].blocks if b.kind == "policy"]
    if not blocks:
        return {}
    device = env.device
    gen = torch.Generator(device=device).manual_seed(seed)
    opts = [torch.optim.Adam(b.policy.parameters(), lr=spec.lr, eps=1e-5) for b in blocks]
    buf = new_buffer(env, env.horizon, [], device, torch.float32)
    curves: dict[int, list[float]] = {id(b): [] for b in blocks}
    masks = {a: act.mask for a, act in actors.items()}
    bounds = {a: act.bounds for a, act in actors.items()}
    for k in range(spec.iterations):
        obs = env.reset()
        for b in blocks:
            b.policy.eval()
        collect(env, actors, masks, obs, buf, gen, bounds)
        for blk, opt in zip(blocks, opts, strict=True):
            settings = ppo.PPOSettings(**{**spec.ppo.__dict__, "entropy": spec.entropy(k, blk)})
            sub = sub_buffer(buf.types[agent], blk)
            curves[id(blk)].append(float(sub.rewards.mean()))
            batch = ppo.batch_from(sub, buf.dones[:, blk.start:blk.stop], spec.reward_scale, spec.gamma,
                                   spec.gae_lambda, spec.returns)
            blk.policy.train()
            ppo.update(blk.policy, opt, batch, None, settings, gen)
            blk.policy.eval()
    return curves


def layout(blocks: list[Block], replicas: int) -> int:
    """Give each block ``replicas`` consecutive replicas; returns the total."""
    for k, b in enumerate(blocks):
        b.start, b.stop = k * replicas, (k + 1) * replicas
    return len(blocks) * replicas
