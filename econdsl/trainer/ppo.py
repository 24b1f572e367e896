"""PPO for one agent type: returns and advantages, then clipped policy/value epochs (CleanRL style).

Everything here works on one type's flat batch; the trainer loops over agent types and calls these
functions with that type's policy, optimiser and hyper-parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .policy import Action, SplitObs, TypePolicy, rows_of, take_rows


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) over a rollout [T, B]; ``dones[t]`` means the episode ended with step t (no bootstrap after it).

    Returns (advantages, returns), both [T, B].
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(last_value)
    for t in reversed(range(T)):
        next_value = last_value if t == T - 1 else values[t + 1]
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * live - values[t]
        last = delta + gamma * lam * live * last
        adv[t] = last
    return adv, adv + values


def monte_carlo(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor,
                gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's returns: discounted reward-to-go within each episode, advantage = return − V.

    A rollout that stops mid-episode is bootstrapped with the value of its last observation.
    """
    T = rewards.shape[0]
    ret = torch.zeros_like(rewards)
    run = last_value.clone()
    for t in reversed(range(T)):
        run = rewards[t] + gamma * run * (1.0 - dones[t])
        ret[t] = run
    return ret - values, ret


@dataclass
class Batch:
    """One type's training data, flattened over (steps, envs, agents)."""

    obs: torch.Tensor | SplitObs  # [N, obs_dim] raw observations (split in the lean layout)
    actions: torch.Tensor  # [N, n_heads] int64 (lean: the grids' narrowest integer type)
    logp: torch.Tensor  # [N] log-probability under the rollout policy
    values: torch.Tensor  # [N] value predictions of the rollout
    advantages: torch.Tensor  # [N]
    returns: torch.Tensor  # [N]
    reals: torch.Tensor | None = None  # [N, n_real] the continuous heads' draws z (None without)
    layout: tuple[int, int] = (0, 0)  # (steps, agents): rows are flattened [steps, envs, agents]


def batch_from(b, dones: torch.Tensor, scale: float, gamma: float, lam: float, returns: str) -> Batch:
    """The batch of one agent type's rollout buffer ``b`` (a ``rollout.TypeBuffer``, [T, E, n]): rewards
    divided by ``scale``; advantages by GAE(λ) (``returns == "gae"``) or Monte-Carlo returns."""
    T, E, n = b.rewards.shape
    d = dones.unsqueeze(-1).expand(T, E, n).reshape(T, E * n)
    r = (b.rewards / scale).reshape(T, E * n)
    v, last = b.values.reshape(T, E * n), b.last_value.reshape(E * n)
    if returns == "gae":
        adv, ret = gae(r, v, d, last, gamma, lam)
    else:
        adv, ret = monte_carlo(r, v, d, last, gamma)
    reals = getattr(b, "reals", None)
    return Batch(b.observations(), b.actions.reshape(T * E * n, -1), b.logp.reshape(-1),
                 v.reshape(-1), adv.reshape(-1), ret.reshape(-1),
                 None if reals is None else reals.reshape(T * E * n, -1), (T, n))


@dataclass
class PPOSettings:
    clip: float
    value_clip: float  # 0 disables value clipping
    value_coef: float
    value_loss: str
    entropy: float
    epochs: int
    minibatches: int
    max_grad_norm: float
    norm_adv: bool
    entropy_per_head: bool = False
    """The entropy bonus is the mean over the heads that have a choice, instead of their sum (the paper's):
    a type with twelve heads then gets the push of a type with one."""
    entropy_columns: tuple[bool, ...] | None = None
    """Which discrete action columns get the entropy bonus (``entropy_exclude``); None: all."""
    entropy_reals: tuple[bool, ...] | None = None
    """Which continuous columns get it; None: all."""


class NonFiniteUpdate(ArithmeticError):
    """The update met a NaN/inf (``quantity`` names it: the returns, the loss, the gradient norm, a layer)."""

    def __init__(self, quantity: str, hint: str = "") -> None:
        super().__init__(quantity)
        self.quantity, self.hint = quantity, hint


_HINT = ("lower the learning rate (lr) or max_grad_norm, or scale the rewards down (reward_scale) if they are "
         "very large")


def _first_nonfinite(named: list[tuple[str, torch.Tensor | None]]) -> str | None:
    for name, t in named:
        if t is not None and not bool(torch.isfinite(t).all()):
            return name
    return None


def update(policy: TypePolicy, optimizer: torch.optim.Optimizer, batch: Batch, mask: torch.Tensor | None,
           s: PPOSettings, generator: torch.Generator | None = None, shard=None) -> dict[str, float | list[float]]:
    """K epochs of clipped PPO on ``batch``; returns the last epoch's losses and diagnostics (floats; and
    ``entropy_columns``: the mean entropy of each action column, a list).

    ``shard`` (``econdsl.scale.distributed.Shard``): ``batch`` holds this process's replicas of a run spread
    over processes; minibatches are drawn from the whole run's samples, every mean is over the whole
    minibatch and the gradients are summed over the processes, so each step is the single-process step.

    Raises :class:`NonFiniteUpdate` before a step that would write a NaN/inf into the weights (non-finite
    returns, loss or gradient norm), or when a step left a weight non-finite, so that no caller ever
    checkpoints such weights."""
    n = rows_of(batch.obs) if shard is None else rows_of(batch.obs) // shard.envs * shard.total  # the whole run's
    bad = _first_nonfinite([("returns", batch.returns), ("advantages", batch.advantages)])
    if shard is not None and shard.any(bad is not None):  # every process stops, not only the one that saw it
        bad = bad or "returns or advantages (of another process's replicas)"
    if bad is not None:
        raise NonFiniteUpdate(bad, "the rewards are too large for float32 sums; scale them down with "
                                   "reward_scale")
    adv = batch.advantages
    if s.norm_adv and n > 1:
        if shard is None:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        else:
            mean, var = shard.mean_var(adv)
            adv = (adv - mean) / (var.sqrt() + 1e-8)
    mb = max(n // s.minibatches, 1)
    live = policy.valid.sum(-1) > 1  # heads with a choice: the per-head bonus averages over these
    keep = keep_reals = None  # the columns that get the bonus (entropy_exclude); None: all of them
    if s.entropy_columns is not None:
        keep = torch.tensor(s.entropy_columns, dtype=torch.bool, device=live.device)
        live = live & keep
    if s.entropy_reals is not None:
        keep_reals = torch.tensor(s.entropy_reals, dtype=torch.bool, device=live.device)
    n_reals = policy.n_real if keep_reals is None else int(keep_reals.sum())
    per_head = s.entropy_per_head and (bool(live.any()) or n_reals > 0)
    stats: dict[str, torch.Tensor] = {}
    for _ in range(s.epochs):
        order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu")
        order = order.to(batch.logp.device)
        for k in range(s.minibatches):
            idx = order[k * mb:(k + 1) * mb] if s.minibatches > 1 else slice(None)
            count = n if s.minibatches == 1 else len(idx)  # samples of the whole minibatch
            if shard is not None and s.minibatches > 1:
                idx = shard.local_rows(idx, *batch.layout)

            def avg(x: torch.Tensor, count: int = count) -> torch.Tensor:
                """The mean over the whole minibatch of per-sample ``x`` (this process's share of it)."""
                return x.mean() if shard is None else x.sum() / count

            share = 1.0 if shard is None else batch.logp[idx].shape[0] / count  # of a per-minibatch term
            if batch.reals is None:
                logp_all, value = policy(take_rows(batch.obs, idx), mask)
                logp = policy.log_prob(logp_all, batch.actions[idx])
                gauss = None
            else:  # continuous heads too: the joint log-probability and entropy of every head
                dist, value = policy.dist(take_rows(batch.obs, idx), mask)
                logp_all = dist.logp
                logp = policy.action_log_prob(dist, Action(batch.actions[idx], batch.reals[idx]))
                gauss = policy.real_entropy(dist)  # [n_real]
            heads = policy.head_entropy(logp_all)  # [B, n_heads] of the discrete heads
            entropy = avg(heads.sum(-1)) + (gauss.sum() * share if gauss is not None else 0.0)
            log_ratio = logp - batch.logp[idx]
            ratio = log_ratio.exp()
            a = adv[idx]
            pg_loss = avg(torch.max(-a * ratio, -a * ratio.clamp(1 - s.clip, 1 + s.clip)))
            ret, old_v = batch.returns[idx], batch.values[idx]
            loss_fn = F.smooth_l1_loss if s.value_loss == "huber" else F.mse_loss
            v_loss = loss_fn(value, ret, reduction="none")
            if s.value_clip > 0:
                v_clipped = old_v + (value - old_v).clamp(-s.value_clip, s.value_clip)
                v_loss = torch.max(v_loss, loss_fn(v_clipped, ret, reduction="none"))
            v_loss = avg(v_loss)
            gauss_bonus = gauss[keep_reals] if keep_reals is not None and gauss is not None else gauss
            if per_head:  # the mean over the discrete heads with a choice and the continuous columns
                cols = [heads[:, live]] + ([gauss_bonus.expand(heads.shape[0], -1)] if gauss_bonus is not None else [])
                both = torch.cat(cols, 1)
                bonus = both.mean() if shard is None else both.sum() / (count * both.shape[1])
            elif keep is None and keep_reals is None:
                bonus = entropy
            else:  # the sum over the columns that get the bonus
                bonus = avg(heads[:, keep].sum(-1) if keep is not None else heads.sum(-1)) + (
                    gauss_bonus.sum() * share if gauss_bonus is not None else 0.0)
            loss = pg_loss - s.entropy * bonus + s.value_coef * v_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if shard is not None:
                shard.sum_grads(policy.parameters())
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(),
                                                       s.max_grad_norm if s.max_grad_norm > 0 else float("inf"))
            if not bool(torch.isfinite(loss.detach()) & torch.isfinite(grad_norm)):  # one sync per minibatch
                if not bool(torch.isfinite(loss.detach())):
                    parts = {"policy": pg_loss, "value": v_loss, "entropy": entropy}
                    raise NonFiniteUpdate("loss (" + ", ".join(f"{k} {float(v.detach()):.3g}" for k, v in parts.items())
                                          + ")", _HINT)
                layer = _first_nonfinite([(k, p.grad) for k, p in policy.named_parameters()])
                raise NonFiniteUpdate(f"gradient norm (first non-finite gradient: layer `{layer}`)", _HINT)
            optimizer.step()
            with torch.no_grad():
                stats = {
                    "policy_loss": pg_loss.detach(), "value_loss": v_loss.detach(), "entropy": entropy.detach(),
                    "approx_kl": avg((ratio - 1) - log_ratio),
                    "clipfrac": avg(((ratio - 1).abs() > s.clip).float()), "grad_norm": grad_norm,
                    "entropy_columns": heads.detach().mean(0) if shard is None else heads.detach().sum(0) / count,
                }
    layer = _first_nonfinite([(k, p.detach()) for k, p in policy.named_parameters()])
    if layer is not None:
        raise NonFiniteUpdate(f"weights of layer `{layer}` after the update", _HINT)
    if shard is not None:  # the whole minibatch's values: every process's share summed
        stats = {k: v if k == "grad_norm" else shard.sum(v) for k, v in stats.items()}
    with torch.no_grad():
        if shard is None:
            var, var_err = batch.returns.var(), (batch.returns - batch.values).var()
        else:
            var, var_err = shard.mean_var(batch.returns)[1], shard.mean_var(batch.returns - batch.values)[1]
        stats["explained_variance"] = 1 - var_err / var if var > 0 else var * 0
    return {k: (v.tolist() if v.dim() else float(v)) for k, v in stats.items()}
