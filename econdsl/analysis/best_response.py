"""Best responses: how much an agent can still gain by deviating from a learned profile.

Two kinds of ε, both measured here:

- **unilateral** (the default, the economist's ε-Nash test): one member of a type deviates *alone*; every
  other agent, its own type's other members included, keeps its learned policy. For each tested member,
  ε = U_member(deviation) − U_member(profile), and a type's unilateral ε is the worst (largest) over its
  tested members. Populations are tested on a sample of members stratified by their parameters.
- **type** (the meta-game ε of Curry et al. 2022, their table 3): the type's *shared* policy is retrained,
  so all its members deviate together; ε = U_type(π'_k, π_−k) − U_type(π_k, π_−k), with U the type's mean
  reward per agent and step. This is the number the paper's table 3 reports.

A unilateral deviation is the best of several candidates, chosen on selection episodes and then measured
on independent evaluation episodes (so the choice does not bias the measured gain upward):

- not deviating (gain exactly 0: the deviator can always stay);
- the deviator's own copy of the policy, trained from the learned weights (the paper's start), played
  sampled and greedily;
- a copy with a fresh policy head (uniform over the model's action set) and the type's initial entropy
  weight, decaying linearly to 0 over the best-response iterations: it explores even when the learned
  policy has settled (entropy ≈ 0), played sampled and greedily;
- for discrete heads, every fixed (open-loop) action: one action column at a time (the others as learned),
  every column of a per-member head at one value (``demand[Firm]`` all at v: the even basket), and joint
  actions when there are at most :data:`JOINT_LIMIT`; and one-step deviations
  (a fixed action at step t only, the learned policy otherwise), batched over replicas. In a one-shot game
  against the others' policies the fixed actions are the exact best response; in a dynamic one they give
  a lower bound on ε that a settled policy cannot hide.

The screening also says what each action head's choices are worth (:func:`head_payoffs`): for every head, the
largest and smallest gain of the fixed choices of that head alone (its columns held, the others as learned).
A head whose best fixed choice gains nothing measurable is one the payoff is flat in at the profile: a
near-uniform policy there is close to a best response (an equilibrium in mixed strategies), not a failure to
learn; the run report quotes these numbers next to the head's entropy.

Every ε is a lower bound on the true gain (no exact oracle exists for dynamic games). "Before" is the
profile as played: the run's last masks and curriculum constants (``game="played"``); the deviator is free
of curriculum masks (its model's action set only). ``game="model"`` is the paper's and the calibration's
protocol: no masks for anybody, constants at their model values (κ = 1).

Payoffs before and after are measured with common random numbers (:mod:`.deviation`): the 95% interval
is mean ± 1.96 standard errors of the paired per-replica, per-episode differences.

The relative ε divides by a scale that cannot vanish: the larger of the type's mean |reward| per agent and
step under the profile and the size of its training gain (U at the end of training − U at its start).

Two training algorithms: "ppo" (default: the run's own PPO settings) and "pg" (the paper's: vanilla policy
gradient, one full-batch epoch, entropy weight 0.1 × the type's initial weight, the base learning rate).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..trainer import ppo
from ..trainer.fileio import FileWriteError, describe, write_atomic, write_figure
from ..trainer.policy import TypePolicy, layer_init
from . import deviation as dv
from .runs import TAIL

JOINT_LIMIT = 512
"""Fixed actions are enumerated jointly over a type's action columns up to this many combinations."""
MAX_REPLICAS = 1024
"""Replicas of one environment when candidate deviations are screened (larger sets are played in chunks)."""
Z95 = 1.959964
SHOW_SCREENED = 8
"""Screened candidates kept per member in the results (the best ones)."""


@dataclass
class BRSettings:
    """How best responses are trained and measured."""

    iterations: int = 100
    """Training iterations of each trained deviation (one rollout of its replicas each)."""
    algo: str = "ppo"
    """"ppo" (the run's PPO: clip, epochs, minibatches) or "pg" (vanilla policy gradient, the paper's)."""
    lr: float | None = None
    """Adam learning rate; None: the type's training rate (ppo) or the base rate (pg, as the paper's code)."""
    entropy: float | None = None
    """Entropy weight of deviators trained from the learned weights; None: the type's weight at the end of
    training (ppo) or 0.1 × its initial weight (pg). Fresh heads start from the initial weight."""
    eval_iterations: int = 8
    """Evaluation episodes per replica for U before and after."""
    game: str = "played"
    """"played": the run's last masks and curriculum constants; "model": no masks, model constants."""
    members: int = 4
    """Members tested per type (unilateral), sampled stratified by their parameters; all if fewer."""
    member_list: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Explicit members to test, per type (overrides ``members``)."""
    replicas: int | None = None
    """Replicas per trained deviation and per evaluated member; None: max(8, envs / deviations)."""
    fresh: bool = True
    """Also train a deviator with a fresh, exploring policy head."""
    exact: bool = True
    """Check fixed open-loop and one-step deviations (discrete heads)."""
    candidates: int = 256
    """At most this many fixed-action candidates per member (a seeded sample when there are more)."""
    screen_replicas: int = 4096
    """Replica-episodes per type spent on screening the candidates."""


@dataclass
class BRResult:
    """One ε measurement: who deviated, how, and the payoffs before and after."""

    agent: str
    seed: int
    before: float
    """U(π): the deviators' mean reward per agent and step under the profile as played."""
    after: float
    """U after the deviation, on the same replicas, episodes and random numbers."""
    kind: str = "type"
    """"unilateral" (one member deviates) or "type" (the meta-game: the whole type's shared policy)."""
    members: tuple[int, ...] = ()
    se: float = 0.0
    """Standard error of ε from the paired differences (common random numbers)."""
    scale: float = math.nan
    """The relative ε's denominator: max(type's mean |reward|, |training gain|)."""
    train_gain: float = math.nan
    deviation: str = ""
    """The strategy that gained most (unilateral) or "trained shared policy" (type)."""
    params: dict[str, float] = field(default_factory=dict)
    """The deviating member's parameters (replica 0), unilateral only."""
    before_all: dict[str, float] = field(default_factory=dict)
    after_all: dict[str, float] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)
    """The deviators' mean reward in each best-response training iteration."""
    screened: list[tuple[str, float]] = field(default_factory=list)
    """Unilateral: the best candidate deviations on the screening episodes, with their estimated gains."""
    heads: dict[str, dict] = field(default_factory=dict)
    """Unilateral: per action head, the gains of its fixed choices on the screening episodes
    (:func:`head_payoffs`)."""
    abs_reward: float = math.nan
    """The type's mean |reward| per agent and step under the profile (the payoff's size)."""

    @property
    def eps_abs(self) -> float:
        return self.after - self.before

    @property
    def ci95(self) -> tuple[float, float]:
        return (self.eps_abs - Z95 * self.se, self.eps_abs + Z95 * self.se)

    @property
    def eps_rel(self) -> float:
        if not self.scale or math.isnan(self.scale):
            return math.nan
        return self.eps_abs / self.scale

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(epsilon=self.eps_abs, epsilon_relative=self.eps_rel, ci95=list(self.ci95))
        return d


class Setup:
    """What a best response needs from a run: an environment factory, the learned policies, the profile's
    masks and the run's training configuration (the trainer's :class:`~econdsl.trainer.config.TrainConfig`)."""

    def __init__(self, env, n_envs: int, policies: dict[str, TypePolicy], cfg, horizon: int,
                 entropy_end: dict[str, float], entropy_start: dict[str, float],
                 masks: dict[str, torch.Tensor | None] | None = None,
                 make_env: Callable[[int], object] | None = None,
                 bounds: dict[str, torch.Tensor | None] | None = None,
                 heads: dict[str, list[tuple[str, list[int]]]] | None = None,
                 bonus_columns: dict[str, tuple[tuple[bool, ...] | None, tuple[bool, ...] | None]] | None = None):
        self.env = env
        self.n_envs = n_envs
        self.policies = policies
        self.cfg = cfg
        self.horizon = horizon
        self.entropy_end = entropy_end
        self.entropy_start = entropy_start
        self.masks = masks or {}
        self.bounds = bounds or {}  # the curriculum's intervals of continuous actions (None: as declared)
        self.types = list(env.agent_types)
        self.heads = heads or {}  # per type: (name, discrete action columns) of each head with a choice
        # per type: the discrete and continuous columns that get the entropy bonus (the run's entropy_exclude)
        self.bonus_columns = bonus_columns or {}
        self._make_env = make_env
        self._envs = {n_envs: env}

    def env_of(self, n: int):
        """An environment of ``n`` replicas of the same game (cached)."""
        if n not in self._envs:
            if self._make_env is None:
                raise ValueError(f"this set-up has only an environment of {self.n_envs} replicas, not {n}")
            self._envs[n] = self._make_env(n)
        return self._envs[n]

    def frozen(self) -> dict[str, TypePolicy]:
        pols = {a: copy.deepcopy(p).eval() for a, p in self.policies.items()}
        for p in pols.values():
            p.requires_grad_(False)
        return pols

    def actors(self, policies: dict[str, TypePolicy], agent: str | None = None,
               blocks: list[dv.Block] | None = None) -> dict[str, dv.Actor]:
        return dv.actors_for(policies, self.masks, self.bounds, self.env.n_agents, agent, blocks)


def _check(s: Setup, agent: str, settings: BRSettings) -> None:
    if agent not in s.policies:
        raise ValueError(f"`{agent}` is not an agent type of this run ({', '.join(s.types)})")
    if settings.algo not in ("ppo", "pg"):
        raise ValueError(f"unknown best-response algorithm `{settings.algo}` (ppo or pg)")


def _spec(s: Setup, agent: str, settings: BRSettings) -> dv.TrainSpec:
    """The training of deviators: the run's PPO or the paper's vanilla PG; entropy per block."""
    cfg = s.cfg
    start = s.entropy_start.get(agent, cfg.entropy)
    iters = settings.iterations
    if settings.algo == "pg":
        lr = settings.lr if settings.lr is not None else cfg.lr
        learned = settings.entropy if settings.entropy is not None else 0.1 * start
        epochs, minibatches, clip, value_clip = 1, 1, 1e9, 0.0  # one full-batch step at ratio 1
    else:
        lr = settings.lr if settings.lr is not None else cfg.get("lr", agent)
        learned = settings.entropy if settings.entropy is not None else s.entropy_end.get(agent, cfg.entropy)
        epochs, minibatches, clip, value_clip = cfg.epochs, cfg.minibatches, cfg.clip, cfg.value_clip_range()

    columns, reals = s.bonus_columns.get(agent, (None, None))  # the run's bonus: its heads, summed or averaged

    def entropy(k: int, blk: dv.Block) -> float:
        if blk.extra.get("fresh"):  # exploration restored, then annealed so that the deviator can settle
            return max(start, learned) * max(0.0, 1.0 - k / max(iters - 1, 1))
        return learned

    return dv.TrainSpec(
        iterations=iters, lr=lr, entropy=entropy,
        ppo=ppo.PPOSettings(clip=clip, value_clip=value_clip, value_coef=cfg.value_coef, value_loss=cfg.value_loss,
                            entropy=0.0, epochs=epochs, minibatches=minibatches, max_grad_norm=cfg.max_grad_norm,
                            norm_adv=cfg.norm_adv, entropy_per_head=cfg.entropy_per_head,
                            entropy_columns=columns, entropy_reals=reals),
        reward_scale=cfg.get("reward_scale", agent), gamma=cfg.get("gamma", agent),
        gae_lambda=cfg.get("gae_lambda", agent), returns=cfg.returns)


def fresh_head(policy: TypePolicy) -> TypePolicy:
    """A trainable copy of ``policy`` whose action heads are re-initialised (near-uniform choices; continuous
    heads centred with σ = 1: entropy restored); the trunk, the value head and the normaliser are kept."""
    p = copy.deepcopy(policy)
    if p.logits is not None:
        layer_init(p.logits, std=0.01)
    if p.n_real:
        layer_init(p.mean, std=0.01)
        with torch.no_grad():
            p.log_std.zero_()
    return p.train().requires_grad_(True)


def _trainable(policy: TypePolicy) -> TypePolicy:
    return copy.deepcopy(policy).train().requires_grad_(True)


def _paired(before: torch.Tensor, after: torch.Tensor) -> tuple[float, float, float]:
    """Means of ``before`` and ``after`` ([episodes, replicas]) and the standard error of their difference."""
    d = (after - before).reshape(-1).double()
    se = float(d.std(unbiased=True) / math.sqrt(d.numel())) if d.numel() > 1 else 0.0
    return float(before.mean()), float(after.mean()), se


def relative_scale(abs_reward: float, train_gain: float) -> float:
    """The relative ε's denominator: the larger of the type's mean |reward| and the size of its training gain."""
    g = abs(train_gain) if train_gain == train_gain else 0.0
    return max(abs(abs_reward), g)


# ---------------------------------------------------------------- the type (meta-game) ε


def best_response(s: Setup, agent: str, settings: BRSettings, seed: int = 0,
                  train_gain: float = math.nan) -> BRResult:
    """The meta-game ε of ``agent``: retrain its shared policy (all members) from the learned weights while
    every other type keeps its learned stochastic policy."""
    _check(s, agent, settings)
    torch.manual_seed(seed)
    policies = s.frozen()
    env = s.env
    learner = _trainable(s.policies[agent])
    blk = dv.Block(tuple(range(env.n_agents[agent])), 0, env.n_envs, "policy", learner, label="trained shared policy")
    actors = s.actors(policies, agent, [blk])
    curves = dv.train(env, actors, agent, _spec(s, agent, settings), seed)
    eval_seed = 10_000 + seed
    before = dv.play(env, s.actors(policies), settings.eval_iterations, eval_seed)
    after = dv.play(env, actors, settings.eval_iterations, eval_seed)
    b, a, se = _paired(before.mean[agent].mean(-1), after.mean[agent].mean(-1))
    return BRResult(agent, seed, b, a, "type", blk.members, se,
                    relative_scale(float(before.abs[agent].mean()), train_gain), train_gain, blk.label,
                    before_all={t: float(v.mean()) for t, v in before.mean.items()},
                    after_all={t: float(v.mean()) for t, v in after.mean.items()}, curve=curves[id(blk)])


# ---------------------------------------------------------------- unilateral ε


def sample_members(s: Setup, agent: str, k: int, param_values: np.ndarray | None = None) -> tuple[int, ...]:
    """``k`` members of ``agent`` stratified by their parameters: members sorted by ``param_values`` ([n, p],
    lexicographically; by index when None), one from the middle of each of ``k`` equal strata."""
    n = s.env.n_agents[agent]
    if k >= n:
        return tuple(range(n))
    order = np.arange(n)
    if param_values is not None and param_values.size:
        order = np.lexsort(param_values.T[::-1])
    return tuple(sorted(int(order[int((j + 0.5) * n / k)]) for j in range(k)))


def member_params(env, agent: str) -> dict[str, np.ndarray]:
    """The per-member parameters of ``agent`` in replica 0 ({name: [n]}), where the environment exposes them."""
    out = {}
    program = getattr(env, "program", None)
    params = getattr(env, "_params", {})
    if program is None:
        return out
    for b in program.params():
        if getattr(b, "owner", None) == agent and tuple(getattr(b, "dims", ())) == (agent,) and b.name in params:
            out[b.name] = params[b.name][0].detach().double().cpu().numpy()
    return out


Candidate = tuple[tuple[int, ...], int | None]


def fixed_candidates(nvec: list[int], horizon: int, limit: int, gen: torch.Generator,
                     groups: list[list[int]] = ()) -> list[Candidate]:
    """Fixed-action deviations: (action per column, −1 = as learned; step or None = every step). ``groups``:
    the columns of each head that has several (a per-member head), also held all at one value together."""
    # one action column at a time, the others as learned (what each head's choices are worth) ...
    actions = [tuple(v if c == col else -1 for c in range(len(nvec))) for col, n in enumerate(nvec) for v in range(n)]
    for cols in (g for g in groups if len(g) > 1):  # ... a whole per-member head at one value ...
        actions += [tuple(v if c in cols else -1 for c in range(len(nvec))) for v in range(nvec[cols[0]])]
    if len(nvec) > 1 and math.prod(nvec) <= JOINT_LIMIT:  # ... and every joint action where there are few
        actions += [tuple(a) for a in itertools.product(*(range(n) for n in nvec))]
    cands: list[Candidate] = [(a, None) for a in actions]
    if horizon > 1:
        cands += [(a, t) for t in range(horizon) for a in actions]
    if len(cands) > limit:
        open_loop = [c for c in cands if c[1] is None][:limit]
        rest = [c for c in cands if c[1] is not None]
        k = limit - len(open_loop)
        pick = torch.randperm(len(rest), generator=gen)[:k].tolist() if k > 0 else []
        cands = open_loop + [rest[i] for i in sorted(pick)]
    return cands


def _describe(blk: dv.Block, nvec: list[int]) -> str:
    if blk.kind != "fixed":
        return blk.label
    cols = ", ".join("·" if v < 0 else str(v) for v in blk.action)
    when = "every step" if blk.at is None else f"step {blk.at} only"
    return f"fixed action index ({cols}), {when}"


def head_payoffs(heads: list[tuple[str, list[int]]], blocks: list[dv.Block], gains: list[tuple[float, float]],
                 nvec: list[int]) -> dict[str, dict]:
    """Per action head: the screened gains of the fixed-action ``blocks`` that fix that head's columns only
    (open-loop and one-step): ``best`` and ``worst`` gain, the best one's standard error and deviation, and
    how many candidates. Heads without such a candidate are left out."""
    out: dict[str, dict] = {}
    for name, cols in heads:
        mine = [(g, blk) for blk, g in zip(blocks, gains, strict=True) if blk.kind == "fixed"
                and {c for c, v in enumerate(blk.action) if v >= 0} <= set(cols)]
        if not mine:
            continue
        (best, se), blk = max(mine, key=lambda x: x[0][0])
        out[name] = {"best": best, "best_se": se, "best_deviation": _describe(blk, nvec),
                     "worst": min(g for (g, _), _ in mine), "candidates": len(mine)}
    return out


def _screen(s: Setup, policies: dict[str, TypePolicy], agent: str, blocks: list[dv.Block], replicas: int,
            seed: int) -> list[tuple[float, float]]:
    """Estimated gain of every candidate block (its members' mean reward minus theirs under the profile on
    the same replicas and random numbers) and its standard error, played in chunks of at most
    :data:`MAX_REPLICAS` replicas."""
    gains: list[tuple[float, float]] = []
    per_chunk = max(1, MAX_REPLICAS // replicas)
    for c in range(0, len(blocks), per_chunk):
        chunk = blocks[c:c + per_chunk]
        env = s.env_of(dv.layout(chunk, replicas))
        before = dv.play(env, s.actors(policies), 2, seed, period=replicas)
        after = dv.play(env, s.actors(policies, agent, chunk), 2, seed, period=replicas)
        for blk in chunk:
            m = torch.tensor(blk.members)
            d = (after.mean[agent][:, blk.start:blk.stop][..., m] - before.mean[agent][:, blk.start:blk.stop][..., m])
            d = d.reshape(-1).double()
            gains.append((float(d.mean()), float(d.std() / math.sqrt(d.numel())) if d.numel() > 1 else 0.0))
    return gains


def unilateral(s: Setup, agent: str, settings: BRSettings, seed: int = 0,
               train_gain: float = math.nan) -> list[BRResult]:
    """The unilateral ε of each tested member of ``agent`` (see the module docstring); one result per member."""
    _check(s, agent, settings)
    torch.manual_seed(seed)
    policies = s.frozen()
    params = member_params(s.env, agent)
    members = settings.member_list.get(agent) or sample_members(
        s, agent, settings.members, np.stack(list(params.values()), 1) if params else None)
    n_agents = s.env.n_agents[agent]
    bad = [m for m in members if not 0 <= m < n_agents]
    if bad:
        raise ValueError(f"`{agent}` has members 0..{n_agents - 1}, not {bad[0]}")
    horizon = s.env.horizon
    nvec = list(s.policies[agent].nvec)

    # 1. trained deviators: the learned weights, and a fresh exploring head, each member on its own replicas
    trained: list[dv.Block] = []
    for m in members:
        trained.append(dv.Block((m,), kind="policy", policy=_trainable(s.policies[agent]),
                                label="trained (learned start)"))
        if settings.fresh:
            trained.append(dv.Block((m,), kind="policy", policy=fresh_head(s.policies[agent]),
                                    label="trained (fresh head)", extra={"fresh": True}))
    reps = settings.replicas or max(8, s.n_envs // len(trained))
    env = s.env_of(dv.layout(trained, reps))
    curves = dv.train(env, s.actors(policies, agent, trained), agent, _spec(s, agent, settings), seed) \
        if settings.iterations > 0 else {}

    # 2. candidates per member: stay, the trained deviators (sampled, greedy), fixed actions
    gen = torch.Generator().manual_seed(seed)
    cands: dict[int, list[dv.Block]] = {m: [] for m in members}
    for blk in trained:
        blk.policy.eval()
        m = blk.members[0]
        cands[m].append(dv.Block((m,), kind="policy", policy=blk.policy, label=blk.label + ", sampled",
                                 extra={"curve": curves.get(id(blk), [])}))
        cands[m].append(dv.Block((m,), kind="greedy", policy=blk.policy, label=blk.label + ", greedy",
                                 extra={"curve": curves.get(id(blk), [])}))
    if settings.exact and nvec:  # fixed actions of the discrete heads (continuous heads: trained deviators)
        fixed = fixed_candidates(nvec, horizon, settings.candidates, gen,
                                 [cols for _, cols in s.heads.get(agent, [])])
        for m in members:
            cands[m] += [dv.Block((m,), kind="fixed", action=a, at=t) for a, t in fixed]
    everything = [b for m in members for b in cands[m]]
    screen_reps = max(2, min(64, settings.screen_replicas // max(len(everything), 1) // 2))
    gains = _screen(s, policies, agent, everything, screen_reps, 20_000 + seed) if everything else []
    best: dict[int, tuple[float, dv.Block | None]] = {m: (0.0, None) for m in members}  # staying gains 0
    ranked: dict[int, list[tuple[str, float]]] = {m: [] for m in members}
    for blk, (g, _) in zip(everything, gains, strict=True):
        m = blk.members[0]
        ranked[m].append((_describe(blk, nvec), g))
        if g > best[m][0]:
            best[m] = (g, blk)

    # 3. the chosen deviation of each member, measured on fresh episodes against the profile (paired)
    final = [dv.Block((m,), kind=b.kind, policy=b.policy, action=b.action, at=b.at, label=_describe(b, nvec),
                      extra=b.extra) if b is not None else dv.Block((m,), kind="stay", label="none (staying is best)")
             for m, (_, b) in best.items()]
    eval_reps = settings.replicas or s.n_envs
    env = s.env_of(dv.layout(final, eval_reps))
    eval_seed = 10_000 + seed
    before = dv.play(env, s.actors(policies), settings.eval_iterations, eval_seed, period=eval_reps)
    after = dv.play(env, s.actors(policies, agent, final), settings.eval_iterations, eval_seed, period=eval_reps)
    abs_reward = float(before.abs[agent].mean())
    scale = relative_scale(abs_reward, train_gain)
    heads = s.heads.get(agent, [])
    out = []
    for blk in final:
        m = blk.members[0]
        rb = before.mean[agent][:, blk.start:blk.stop, m]
        ra = after.mean[agent][:, blk.start:blk.stop, m]
        b, a, se = _paired(rb, ra)
        label = blk.label
        if blk.kind != "stay" and a < b:
            # Staying is always open to the member, so ε ≥ 0: a screened deviation that loses on the fresh
            # episodes (chosen by the screening's noise) is reported, and ε falls back to staying (0, exactly).
            label = (f"none (staying is best: the screening's best, {blk.label}, changed U by {a - b:+.3g} ± "
                     f"{se:.2g} here)")
            a, se = b, 0.0
        out.append(BRResult(agent, seed, b, a, "unilateral", (m,), se, scale, train_gain, label,
                            {k: float(v[m]) for k, v in params.items()},
                            curve=list(blk.extra.get("curve", [])),
                            screened=sorted(ranked[m], key=lambda x: -x[1])[:SHOW_SCREENED],
                            heads=head_payoffs(heads, [b for b in everything if b.members[0] == m],
                                               [g for b, g in zip(everything, gains, strict=True)
                                                if b.members[0] == m], nvec),
                            abs_reward=abs_reward))
    return out


# ---------------------------------------------------------------- from a run directory


def load_trainer(run_dir: str | Path):
    """A finished (or checkpointed) run's trainer with its learned policies; nothing in the run is written."""
    from ..trainer.session import load_run

    return load_run(run_dir)


def setup_from_trainer(trainer, n_envs: int, seed: int, game: str = "played") -> Setup:
    """The game of the run's last trained iteration (its annealed constants and masks: ``game="played"``), or
    the model's game (no masks, constants at their model values: ``game="model"``), in fresh replicas."""
    if game not in ("played", "model"):
        raise ValueError(f"unknown game `{game}` (played or model)")
    cfg = trainer.cfg
    e = max(trainer.iteration - 1, 0)

    def make_env(n: int):
        env = trainer.model.env(n, backend=cfg.backend, device=cfg.device, seed=seed)
        if game == "played":
            trainer.apply_curriculum(env, e)
        return env

    cur = trainer.curriculum
    start = {a: cur.entropy_coef(a, cur.start[a], cfg.get("entropy", a)) for a in trainer.types}
    end = {a: cur.entropy_coef(a, e, cfg.get("entropy", a)) for a in trainer.types}
    masks = trainer.masks(e) if game == "played" else {}
    bounds = trainer.bounds(e) if game == "played" else {}
    heads = {a: [(name, cols) for name, cols, _ in trainer.heads_with_choice(a)] for a in trainer.types}
    bonus = {a: trainer.entropy_bonus_columns(a) for a in trainer.types}
    return Setup(make_env(n_envs), n_envs, trainer.policies, cfg, trainer.steps, end, start, masks, make_env, bounds,
                 heads, bonus)


def training_gain(run_dir: str | Path, agent: str) -> float:
    """U_k(end of training) − U_k(start of the type's training), from the run's metrics.csv
    (means of the first and last 10% of the iterations in which the type was training)."""
    from .runs import METRICS, read_metrics

    m = read_metrics(Path(run_dir) / METRICS)
    y = m.get(f"{agent}/reward")
    if y is None:
        return math.nan
    tr = m.get(f"{agent}/training")
    if tr is not None:
        y = y[tr > 0.5]
    y = y[~np.isnan(y)]
    if len(y) < 2:
        return math.nan
    n = max(1, int(round(len(y) * TAIL)))
    return float(y[-n:].mean() - y[:n].mean())


# ---------------------------------------------------------------- summaries and files


def _entry(rs: list[BRResult]) -> dict:
    """One kind of ε of one type over seeds: mean over seeds of ε (the worst member's, for unilateral)."""
    eps = np.array([r.eps_abs for r in rs])
    se = math.sqrt(sum(r.se ** 2 for r in rs)) / len(rs)
    e = float(eps.mean())
    scale = rs[0].scale
    return {
        "epsilon": e, "epsilon_relative": e / scale if scale and scale == scale else math.nan,
        "ci95": [e - Z95 * se, e + Z95 * se], "before": float(np.mean([r.before for r in rs])),
        "after": float(np.mean([r.after for r in rs])), "scale": scale, "train_gain": rs[0].train_gain,
        "seeds": [r.seed for r in rs], "epsilon_per_seed": eps.tolist(),
    }


def summarize(results: list[BRResult]) -> dict[str, dict]:
    """Per type: ``unilateral`` (the worst tested member per seed, averaged over seeds; every member tested,
    its ε, interval and winning deviation) and ``type`` (the meta-game ε), each with ε, relative ε, 95%
    interval, before and after."""
    out: dict[str, dict] = {}
    for a in dict.fromkeys(r.agent for r in results):
        entry: dict = {}
        uni = [r for r in results if r.agent == a and r.kind == "unilateral"]
        if uni:
            worst = [max((r for r in uni if r.seed == k), key=lambda r: r.eps_abs)
                     for k in dict.fromkeys(r.seed for r in uni)]
            e = _entry(worst)
            eps = np.array([r.eps_abs for r in uni])
            e.update(worst_member=worst[int(np.argmax([r.eps_abs for r in worst]))].members[0],
                     members=[{"member": r.members[0], "seed": r.seed, "params": r.params, "epsilon": r.eps_abs,
                               "epsilon_relative": r.eps_rel, "ci95": list(r.ci95), "before": r.before,
                               "after": r.after, "deviation": r.deviation,
                               "screened": [{"deviation": d, "gain": g} for d, g in r.screened],
                               "heads": r.heads} for r in uni],
                     distribution={"min": float(eps.min()), "median": float(np.median(eps)),
                                   "max": float(eps.max()), "n": int(eps.size)},
                     heads=_heads_over_members(uni))
            entry["unilateral"] = e
        typ = [r for r in results if r.agent == a and r.kind == "type"]
        if typ:
            entry["type"] = _entry(typ)
            entry["type"]["members"] = "all"
        out[a] = entry
    return out


def _heads_over_members(uni: list[BRResult]) -> dict[str, dict]:
    """Per action head, over every tested member and seed: the largest screened gain of a fixed choice of
    that head (and whose), the smallest, and the type's mean |reward| per step to compare them with."""
    out: dict[str, dict] = {}
    for r in uni:
        for name, h in r.heads.items():
            o = out.setdefault(name, {"best": -math.inf, "worst": math.inf, "abs_reward": r.abs_reward,
                                      "candidates": 0})
            o["candidates"] += h["candidates"]
            o["worst"] = min(o["worst"], h["worst"])
            if h["best"] > o["best"]:
                o.update(best=h["best"], best_se=h["best_se"], best_member=r.members[0],
                         best_deviation=h["best_deviation"])
    for o in out.values():
        o["best_relative"] = o["best"] / o["abs_reward"] if o["abs_reward"] else math.nan
    return out


def head_lines(data: dict) -> list[str]:
    """One line per type with several action heads: what a fixed choice of each head gains at most (the
    screening of the unilateral test), as a share of the type's mean |reward|."""
    from .report import fmt

    out = []
    for a, entry in data["types"].items():
        heads = (entry.get("unilateral") or {}).get("heads") or {}
        if len(heads) < 2:
            continue
        parts = [f"{name} {fmt(h['best'])} (±{fmt(h.get('best_se', 0))}, {_pct(h['best_relative'])}; "
                 f"worst {fmt(h['worst'])})" for name, h in heads.items()]
        out.append(f"- `{a}` (mean |reward| {fmt(next(iter(heads.values()))['abs_reward'])} per step): "
                   + ", ".join(parts))
    if out:
        out = ["", "Fixed choices of one action head (its columns held, the other heads as learned; largest "
                   "screened gain per step over the tested members, ± its standard error, as a share of the "
                   "type's mean |reward|; and the smallest gain). A head whose best fixed choice gains "
                   "about nothing is one the payoff is flat in: near-uniform play there is close to a best response.",
               ""] + out
    return out


PAPER_NOTE = ("The paper's table 3 (Curry et al. 2022) is the type-level (meta-game) ε: each type's shared policy "
              "retrained, all its members deviating together; the unilateral ε is one member deviating alone.")


def _finite(x):
    """JSON without NaN (not valid JSON): NaN and infinities become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def to_json(results: list[BRResult], settings: BRSettings, run_dir: str | Path) -> dict:
    """The results as plain JSON data (NaN as null)."""
    return _finite({"run": str(run_dir), "settings": asdict(settings), "types": summarize(results), "note": PAPER_NOTE,
            "relative_scale": "max(type's mean |reward| per agent and step under the profile, |training gain|)",
            "results": [r.to_dict() for r in results]})


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.2f}%"


def markdown(data: dict, settings: BRSettings) -> str:
    from .report import fmt

    lines = [f"Best responses of `{data['run']}` ({settings.algo}, {settings.iterations} iterations, game as "
             f"{settings.game}; U on {settings.eval_iterations} evaluation episodes per replica; ε ± 95% interval "
             f"from common random numbers)", "", PAPER_NOTE, "",
             "| type | kind | U before | U after | ε | 95% interval | ε / scale | scale | deviation / members |",
             "|---|---|---:|---:|---:|---|---:|---:|---|"]
    for a, entry in data["types"].items():
        for kind in ("unilateral", "type"):
            e = entry.get(kind)
            if e is None:
                continue
            if kind == "unilateral":
                w = next(m for m in e["members"] if m["member"] == e["worst_member"])
                who = (f"worst of {e['distribution']['n']} (member {e['worst_member']}: {w['deviation']}); "
                       f"ε from {fmt(e['distribution']['min'])} to {fmt(e['distribution']['max'])}")
                label = "unilateral"
            else:
                who, label = "all members (shared policy retrained)", "type (paper's table 3)"
            lines.append(f"| {a} | {label} | {fmt(e['before'])} | {fmt(e['after'])} | {fmt(e['epsilon'])} | "
                         f"[{fmt(e['ci95'][0])}, {fmt(e['ci95'][1])}] | {_pct(e['epsilon_relative'])} | "
                         f"{fmt(e['scale'])} | {who} |")
    return "\n".join(lines + head_lines(data)) + "\n"


def write_results(out: Path, results: list[BRResult], settings: BRSettings, run_dir: str | Path) -> dict[str, Path]:
    """epsilon.json, epsilon.csv (one row per type, kind, member and seed), epsilon.md and curves.png."""
    import csv
    import io

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileWriteError(f"cannot create `{out}`: {describe(e)}", e.errno) from None
    data = to_json(results, settings, run_dir)
    write_atomic(out / "epsilon.json", json.dumps(data, indent=1, default=float, ensure_ascii=False))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["type", "kind", "member", "seed", "before", "after", "epsilon", "ci95_low", "ci95_high", "scale",
                "epsilon_relative", "deviation"])
    for r in results:
        w.writerow([r.agent, r.kind, "all" if r.kind == "type" else r.members[0], r.seed, r.before, r.after,
                    r.eps_abs, *r.ci95, r.scale, r.eps_rel, r.deviation])
    write_atomic(out / "epsilon.csv", buf.getvalue())
    write_atomic(out / "epsilon.md", markdown(data, settings))
    _plot_curves(out / "curves.png", results)
    return {"json": out / "epsilon.json", "csv": out / "epsilon.csv", "markdown": out / "epsilon.md",
            "plot": out / "curves.png"}


def _plot_curves(path: Path, results: list[BRResult]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import fmt

    types = list(dict.fromkeys(r.agent for r in results))
    fig, axes = plt.subplots(1, len(types), figsize=(4 * len(types), 3.2), squeeze=False)
    for ax, a in zip(axes[0], types, strict=True):
        for r in (r for r in results if r.agent == a and r.curve):
            who = "type" if r.kind == "type" else f"member {r.members[0]}"
            line, = ax.plot(r.curve, lw=1, label=f"{who}, seed {r.seed}")
            ax.axhline(r.before, color=line.get_color(), ls=":", lw=1)
            ax.axhline(r.after, color=line.get_color(), ls="--", lw=1)
        eps = max(r.eps_abs for r in results if r.agent == a)
        ax.set_title(f"{a}: largest ε = {fmt(eps)}", fontsize=9)
        ax.set_xlabel("best-response iteration")
        ax.set_ylabel(f"{a}: deviators' mean reward")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    fig.tight_layout()
    write_figure(fig, path, dpi=90)
    plt.close(fig)
