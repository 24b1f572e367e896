"""Meta-game best responses: how much one agent type can still gain against the others' learned policies.

The ε-meta-equilibrium test of Curry et al. (2022, section 4 of rbc-spec.md): each agent *type* is a
player whose strategy is its shared policy and whose payoff is the mean reward of its agents. For a type
k, retrain π_k alone while every other type keeps acting with its learned *stochastic* policy; the gain

    ε_k = U_k(π'_k, π_−k) − U_k(π_k, π_−k)

is a lower bound on how far the profile is from an equilibrium (no exact best-response oracle exists).
The paper reports it relative to the type's improvement over training (its table 3):
ε_k / (U_k(end of training) − U_k(start of training)).

U is measured before and after the best-response training on the same number of evaluation rollouts
with the same random numbers (common random numbers), so that the difference is not sampling noise of
two unrelated batches. The best response starts from the type's learned policy, as the paper's does.

Two algorithms: "ppo" (default: the run's own PPO settings) and "pg" (the paper's: vanilla policy
gradient, i.e. one full-batch epoch, entropy weight 0.1 × the type's initial entropy weight, the base
learning rate, no action masks, annealed constants at their model values).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..trainer import ppo
from ..trainer.policy import TypePolicy
from ..trainer.rollout import RolloutBuffer, collect, new_buffer
from .runs import TAIL


@dataclass
class BRSettings:
    """How one best response is trained and measured."""

    iterations: int = 200
    """Training iterations of the best response (one batch of episodes each)."""
    algo: str = "ppo"
    """"ppo" (the run's PPO: clip, epochs, minibatches) or "pg" (vanilla policy gradient, the paper's)."""
    lr: float | None = None
    """Adam learning rate; None: the type's training rate (ppo) or the base rate without per-type
    multiplier (pg, as the paper's code)."""
    entropy: float | None = None
    """Entropy weight; None: the type's entropy weight at the end of training (ppo) or 0.1 × its initial
    weight (pg)."""
    eval_iterations: int = 8
    """Rollout batches averaged for U before and after (each batch: every replica plays one episode)."""
    masks: bool = False
    """Keep the curriculum's action masks of the last training iteration (the paper uses none)."""


@dataclass
class BRResult:
    agent: str
    seed: int
    before: float
    """U_k(π): the type's mean reward per agent and step under the learned profile."""
    after: float
    """U_k(π'_k, π_−k) after best-response training."""
    before_all: dict[str, float] = field(default_factory=dict)
    after_all: dict[str, float] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)
    """The learner's mean reward in each best-response training iteration."""
    train_gain: float = math.nan
    """U_k(end of training) − U_k(start of training), from the run's metrics (the relative ε's denominator)."""

    @property
    def eps_abs(self) -> float:
        return self.after - self.before

    @property
    def eps_rel(self) -> float:
        if not self.train_gain or math.isnan(self.train_gain):
            return math.nan
        return self.eps_abs / abs(self.train_gain)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(eps_abs=self.eps_abs, eps_rel=self.eps_rel)
        return d


class Setup:
    """What a best response needs from a run: the environment, the learned policies and the run's
    training configuration (the trainer's :class:`~econdsl.trainer.config.TrainConfig`)."""

    def __init__(self, env, n_envs: int, policies: dict[str, TypePolicy], cfg, horizon: int,
                 entropy_end: dict[str, float], entropy_start: dict[str, float],
                 masks: dict[str, torch.Tensor | None] | None = None,
                 bounds: dict[str, torch.Tensor | None] | None = None):
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


def _buffer(s: Setup) -> RolloutBuffer:
    device = next(next(iter(s.policies.values())).parameters()).device
    return new_buffer(s.env, s.horizon, [], device, torch.float32)


def evaluate(s: Setup, policies: dict[str, TypePolicy], masks: dict[str, torch.Tensor | None], iterations: int,
             seed: int, bounds: dict[str, torch.Tensor | None] | None = None) -> dict[str, float]:
    """Mean reward per agent and step of every type over ``iterations`` batches of episodes."""
    gen = torch.Generator(device=next(next(iter(policies.values())).parameters()).device).manual_seed(seed)
    buf = _buffer(s)
    sums = dict.fromkeys(s.types, 0.0)
    for _ in range(iterations):
        obs = s.env.reset()
        collect(s.env, policies, masks, obs, buf, gen, bounds)
        for a in s.types:
            sums[a] += float(buf.types[a].rewards.mean())
    return {a: v / iterations for a, v in sums.items()}


def best_response(s: Setup, agent: str, settings: BRSettings, seed: int = 0,
                  train_gain: float = math.nan) -> BRResult:
    """Train ``agent``'s shared policy against the others' fixed stochastic policies; measure ε."""
    if agent not in s.policies:
        raise ValueError(f"`{agent}` is not an agent type of this run ({', '.join(s.types)})")
    if settings.algo not in ("ppo", "pg"):
        raise ValueError(f"unknown best-response algorithm `{settings.algo}` (ppo or pg)")
    cfg = s.cfg
    torch.manual_seed(seed)
    policies = {a: copy.deepcopy(p).eval() for a, p in s.policies.items()}
    for p in policies.values():
        p.requires_grad_(False)
    learner = policies[agent]
    learner.requires_grad_(True)
    masks = {a: (s.masks.get(a) if settings.masks else None) for a in s.types}
    bounds = s.bounds if settings.masks else None  # the curriculum's narrowed intervals go with its masks
    eval_seed = 10_000 + seed
    before = evaluate(s, policies, masks, settings.eval_iterations, eval_seed, bounds)

    if settings.algo == "pg":
        lr = settings.lr if settings.lr is not None else cfg.lr
        entropy = settings.entropy if settings.entropy is not None else 0.1 * s.entropy_start.get(agent, cfg.entropy)
        epochs, minibatches, clip = 1, 1, 1e9  # one full-batch step at ratio 1: the plain policy gradient
    else:
        lr = settings.lr if settings.lr is not None else cfg.get("lr", agent)
        entropy = settings.entropy if settings.entropy is not None else s.entropy_end.get(agent, cfg.entropy)
        epochs, minibatches, clip = cfg.epochs, cfg.minibatches, cfg.clip
    opt = torch.optim.Adam(learner.parameters(), lr=lr, eps=1e-5)
    ppo_settings = ppo.PPOSettings(
        clip=clip, value_clip=0.0 if settings.algo == "pg" else cfg.value_clip_range(),
        value_coef=cfg.value_coef, value_loss=cfg.value_loss, entropy=entropy, epochs=epochs,
        minibatches=minibatches, max_grad_norm=cfg.max_grad_norm, norm_adv=cfg.norm_adv)
    device = next(learner.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    buf = _buffer(s)
    curve: list[float] = []
    scale, gamma, lam = cfg.get("reward_scale", agent), cfg.get("gamma", agent), cfg.get("gae_lambda", agent)
    for _ in range(settings.iterations):
        obs = s.env.reset()
        collect(s.env, policies, masks, obs, buf, gen, bounds)
        b = buf.types[agent]
        curve.append(float(b.rewards.mean()))
        batch = ppo.batch_from(b, buf.dones, scale, gamma, lam, cfg.returns)
        learner.train()
        ppo.update(learner, opt, batch, masks[agent], ppo_settings, gen)
        learner.eval()
    after = evaluate(s, policies, masks, settings.eval_iterations, eval_seed, bounds)
    return BRResult(agent, seed, before[agent], after[agent], before, after, curve, train_gain)


# ---------------------------------------------------------------- from a run directory


def load_trainer(run_dir: str | Path):
    """A finished (or checkpointed) run's trainer with its learned policies; nothing in the run is written."""
    from ..trainer.session import load_run

    return load_run(run_dir)


def setup_from_trainer(trainer, n_envs: int, seed: int) -> Setup:
    """The game of the run's last trained iteration (its annealed constants and masks), in fresh replicas."""
    cfg = trainer.cfg
    env = trainer.model.env(n_envs, backend=cfg.backend, device=cfg.device, seed=seed)
    e = max(trainer.iteration - 1, 0)
    trainer.apply_curriculum(env, e)
    cur = trainer.curriculum
    start = {a: cur.entropy_coef(a, cur.start[a], cfg.get("entropy", a)) for a in trainer.types}
    end = {a: cur.entropy_coef(a, e, cfg.get("entropy", a)) for a in trainer.types}
    return Setup(env, n_envs, trainer.policies, cfg, trainer.steps, end, start, trainer.masks(e), trainer.bounds(e))


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


def summarize(results: list[BRResult]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds of ε (absolute and relative) per type."""
    out: dict[str, dict[str, float]] = {}
    for a in dict.fromkeys(r.agent for r in results):
        rs = [r for r in results if r.agent == a]
        ab = np.array([r.eps_abs for r in rs])
        rel = np.array([r.eps_rel for r in rs])
        out[a] = {
            "n": len(rs), "before_mean": float(np.mean([r.before for r in rs])),
            "after_mean": float(np.mean([r.after for r in rs])),
            "abs_mean": float(ab.mean()), "abs_std": float(ab.std(ddof=1)) if len(rs) > 1 else 0.0,
            "rel_mean": float(np.mean(rel)), "rel_std": float(np.std(rel, ddof=1)) if len(rs) > 1 else 0.0,
            "rel_max": float(np.max(np.abs(rel))), "train_gain": rs[0].train_gain,
        }
    return out


def write_results(out: Path, results: list[BRResult], settings: BRSettings, run_dir: str | Path) -> dict[str, Path]:
    """epsilon.json (summary), epsilon.csv (one row per type and seed), epsilon.md and curves.png."""
    import csv

    out.mkdir(parents=True, exist_ok=True)
    summ = summarize(results)
    (out / "epsilon.json").write_text(json.dumps(
        {"run": str(run_dir), "settings": asdict(settings), "types": summ,
         "results": [r.to_dict() for r in results]}, indent=1, default=float), encoding="utf-8")
    with open(out / "epsilon.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["type", "seed", "before", "after", "eps_abs", "train_gain", "eps_rel"])
        for r in results:
            w.writerow([r.agent, r.seed, r.before, r.after, r.eps_abs, r.train_gain, r.eps_rel])
    lines = [f"Best responses of `{run_dir}` ({settings.algo}, {settings.iterations} iterations, "
             f"U measured on {settings.eval_iterations} evaluation batches; mean ± sd over seeds)", "",
             "| type | seeds | U before | U after | ε (abs) | training gain | ε / training gain |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    from .report import fmt

    for a, s in summ.items():
        lines.append(f"| {a} | {s['n']} | {fmt(s['before_mean'])} | {fmt(s['after_mean'])} | "
                     f"{fmt(s['abs_mean'])} ± {fmt(s['abs_std'])} | {fmt(s['train_gain'])} | "
                     f"{100 * s['rel_mean']:.2f}% ± {100 * s['rel_std']:.2f}% |")
    (out / "epsilon.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(summ)
    fig, axes = plt.subplots(1, len(types), figsize=(4 * len(types), 3.2), squeeze=False)
    for ax, a in zip(axes[0], types, strict=True):
        for r in (r for r in results if r.agent == a):
            line, = ax.plot(r.curve, lw=1, label=f"seed {r.seed}")
            ax.axhline(r.before, color=line.get_color(), ls=":", lw=1)
            ax.axhline(r.after, color=line.get_color(), ls="--", lw=1)
        ax.set_title(f"{a}: ε = {fmt(summ[a]['abs_mean'])}", fontsize=9)
        ax.set_xlabel("best-response iteration")
        ax.set_ylabel(f"{a} mean reward")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    plt.close(fig)
    return {"json": out / "epsilon.json", "csv": out / "epsilon.csv", "markdown": out / "epsilon.md",
            "plot": out / "curves.png"}
