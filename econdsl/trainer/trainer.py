"""The training loop: every agent type of a compiled model learns with PPO under the model's curriculum.

One iteration: apply the curriculum at ``e`` (runtime constants, masks), collect ``steps`` steps of every
replica with every type's shared policy, then one PPO update per type that is training (types are data,
looped over), then merge the iteration's observations into the normalisers. Nothing here knows any model.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..language import ast
from ..language.resolve import Resolved
from . import ppo
from .config import ConfigError, TrainConfig, names, parse_scales
from .curriculum import Curriculum, CurriculumError
from .policy import TypePolicy
from .rollout import RolloutBuffer, collect, finite_flags, new_buffer


class NonFiniteError(RuntimeError):
    """A reward or observation became NaN/inf; the message names the agent type and the equation."""


def tracked_series(resolved: Resolved) -> list[str]:
    """Every state and named step quantity (``Env.state`` holds them all), in declaration order."""
    return [s.name for s in resolved.symbols.values() if s.kind in ("state", "quantity")]


def _root(label: str) -> str:
    """The name a feature label starts with: `B[j]` → `B`, `θ[j] * κ` → `θ`, `onehot(i)[3]` → `onehot`."""
    return label.split("[")[0].split("(")[0].split()[0].strip() if label.strip() else label


def digit_features(resolved: Resolved, labels: list[str], names: tuple[str, ...]) -> list[int]:
    """Observation features to digit-expand: those of ``names``, or by default every observed state
    declared without a finite upper bound (budgets, inventories: the paper's large-range features).
    A name in ``names`` that is not a state, parameter, constant or quantity of the model is refused."""
    if not names:
        names = tuple(s.name for s in resolved.symbols.values() if s.kind == "state" and _unbounded(s.decl))
    else:
        unknown = [n for n in names if n not in resolved.symbols and n not in resolved.consts]
        if unknown:
            raise ConfigError(f"`digits` names {', '.join(f'`{n}`' for n in unknown)}, which the model does not "
                              f"declare; list observed quantities, e.g. `digits = \"y, B\"`")
    return [k for k, lab in enumerate(labels) if _root(lab) in names]


def feature_scales(labels: list[str], scales: dict[str, float]) -> list[float]:
    """The fixed divisor of every observation feature (``obs_scale``; 1 for a name it does not list)."""
    return [scales.get(_root(lab), 1.0) for lab in labels]


def _unbounded(decl: ast.Node) -> bool:
    b = getattr(decl, "bounds", None)
    return b is None or isinstance(b.hi, ast.Inf)


class Trainer:
    """Policies, optimisers, curriculum and the environment of one run."""

    def __init__(self, model, cfg: TrainConfig, curriculum_consts: dict[str, float] | None = None, shard=None,
                 dtype: torch.dtype = torch.float32):
        """``shard`` (econdsl.scale.distributed.Shard): this process runs only its share of the cfg.envs
        replicas. ``dtype``: of the environment, the policies and the rollout (float64 for tests that
        compare two runs' arithmetic without float32 rounding flipping a sampled action)."""
        self.model, self.cfg, self.shard = model, cfg, shard
        self.resolved: Resolved = model.resolved
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.device = torch.device(cfg.device)
        _check_rollout_size(self.resolved, cfg)
        # lean: the step computes no quantities; Env.state computes them on the iterations that collect them
        self.lean = cfg.lean_rollout()
        self.capture = cfg.capture_mode()  # how each rollout step runs (eager, compiled, CUDA graphs)
        if self.capture == "graph" and self.device.type != "cuda":
            raise ConfigError(f"`capture = \"graph\"` needs `device = \"cuda\"` (CUDA graphs), not "
                              f"`{cfg.device}`; use `capture = \"compile\"` or `\"off\"` on the CPU")
        try:
            share = {} if shard is None else {"replicas": (shard.first, shard.total)}
            if self.lean:
                share["split_obs"] = True
            self.env = model.env(cfg.envs if shard is None else shard.envs, backend=cfg.backend, device=cfg.device,
                                 seed=cfg.seed, dtype=dtype,
                                 quantities=bool(tracked_series(self.resolved)) and not self.lean, **share)
            if self.lean and tracked_series(self.resolved):
                # Env.state computes the series' quantities (iteration 0 collects them): its program made
                # now, so that no rollout sets anything up (split_obs above: an Env, not a test's fake)
                self.env.prepare_state()
        except Exception as e:  # noqa: BLE001 - torch, Triton (InterpreterError) and import failures alike
            raise ConfigError(f"cannot build the {cfg.backend} environment on {cfg.device}: {e!r}") from None
        self.types: list[str] = list(self.env.agent_types)
        self.curriculum = Curriculum(self.resolved, curriculum_consts, cfg.curriculum)
        for a in self.types:
            want = self.curriculum.layouts[a].nvec
            if list(self.env.action_nvec[a]) != want:
                raise CurriculumError(f"{a}: the environment's action columns {list(self.env.action_nvec[a])} "
                                      f"differ from the model's heads {want}")
        horizon = self.resolved.horizon or 1
        self.steps = cfg.steps or horizon
        self.episodic = self.steps == horizon  # every iteration is exactly one episode, from a reset
        self.policies: dict[str, TypePolicy] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for a in self.types:
            labels = list(getattr(self.env, "obs_labels", {}).get(a, []))
            digits = digit_features(self.resolved, labels, names(cfg.digits)) if cfg.obs_norm in (
                "digits", "scaled") else []
            scales = feature_scales(labels, parse_scales(cfg.obs_scale)) if cfg.obs_norm == "scaled" else None
            pol = TypePolicy(self.env.obs_dim[a], list(self.env.action_nvec[a]), cfg.hidden, cfg.obs_norm,
                             cfg.obs_clip, digits, cfg.activation, cfg.shared_value, scales,
                             n_real=len(self.env.action_bounds[a]),
                             shared_columns=getattr(self.env, "obs_shared", {}).get(a)).to(self.device)
            if dtype != torch.float32:  # float64 (tests): .to(float32) would narrow the float64 statistics
                pol = pol.to(dtype)
            self.policies[a] = pol
            self.optimizers[a] = torch.optim.Adam(pol.parameters(), lr=cfg.get("lr", a), eps=1e-5)
        self._bonus_columns = {a: self.entropy_bonus_columns(a) for a in self.types}
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.series_names = tracked_series(self.resolved)
        self.iteration = 0
        self.env_steps = 0
        self._obs: dict[str, torch.Tensor] | None = None
        self._buf: RolloutBuffer | None = None
        self._dtype = dtype

    # ---------------------------------------------------------------- checkpoint state

    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration, "env_steps": self.env_steps,
            "policies": {a: p.state_dict() for a, p in self.policies.items()},
            "optimizers": {a: o.state_dict() for a, o in self.optimizers.items()},
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "env_counter": getattr(self.env, "counter", 0),  # the step counter of draws inside the step
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.iteration, self.env_steps = sd["iteration"], sd["env_steps"]
        for a in self.types:
            self.policies[a].load_state_dict(sd["policies"][a])
            self.optimizers[a].load_state_dict(sd["optimizers"][a])
        self.generator.set_state(sd["generator"])
        torch.set_rng_state(sd["torch_rng"])
        if hasattr(self.env, "counter"):
            self.env.counter = int(sd.get("env_counter", 0))
        self._obs = None

    # ---------------------------------------------------------------- one iteration

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of ``x`` [T, envs, …] over every replica of the run (all processes' shares)."""
        if self.shard is None:
            return x.mean()
        return self.shard.sum(x.double().sum()) / (x.numel() // self.shard.envs * self.shard.total)

    def masks(self, e: int) -> dict[str, torch.Tensor | None]:
        return {a: (None if (m := self.curriculum.mask(a, e)) is None else m.to(self.device)) for a in self.types}

    def bounds(self, e: int) -> dict[str, torch.Tensor | None]:
        """The curriculum's intervals of every type's continuous actions ([2, n_real]; None: as declared)."""
        return {a: (None if (b := self.curriculum.bounds(a, e)) is None else b.to(self.device)) for a in self.types}

    def apply_curriculum(self, env, e: int) -> dict[str, float]:
        consts = self.curriculum.runtime_consts(e)
        for name, value in consts.items():
            env.set_const(name, value)
        return consts

    def iterate(self) -> dict[str, float]:
        """Run one training iteration; return its metrics (plain floats)."""
        e, cfg = self.iteration, self.cfg
        t0 = time.perf_counter()
        consts = self.apply_curriculum(self.env, e)
        masks = self.masks(e)
        if self._obs is None or self.episodic:
            self._obs = self.env.reset()
        if self._buf is None:
            self._buf = new_buffer(self.env, self.steps, self.series_names, self.device, self._dtype, self.lean)
        buf = self._buf
        series = self.collects_series(e)
        for a in self.types:
            self.policies[a].norm.prepare(self._dtype)  # before the rollout: it then reads nothing back
        self._obs = collect(self.env, self.policies, masks, self._obs, buf, self.generator, self.bounds(e), self.shard,
                            series=series, capture=self.capture)
        self._check_finite(buf, e, series)
        t_roll = time.perf_counter()
        metrics: dict[str, float] = {"iteration": e, "env_steps": 0.0}
        for a in self.types:
            b = buf.types[a]
            metrics[f"{a}/reward"] = float(self._mean(b.rewards))
            coef = self.curriculum.entropy_coef(a, e, cfg.get("entropy", a))
            metrics[f"{a}/entropy_coef"] = coef
            training = self.curriculum.training(a, e)
            metrics[f"{a}/training"] = float(training)
            if not training:
                continue
            batch = ppo.batch_from(b, buf.dones, cfg.get("reward_scale", a), cfg.get("gamma", a),
                                   cfg.get("gae_lambda", a), cfg.returns)
            settings = ppo.PPOSettings(
                clip=cfg.clip, value_clip=cfg.value_clip_range(),
                value_coef=cfg.value_coef, value_loss=cfg.value_loss, entropy=coef, epochs=cfg.epochs,
                minibatches=cfg.minibatches, max_grad_norm=cfg.max_grad_norm, norm_adv=cfg.norm_adv,
                entropy_per_head=cfg.entropy_per_head, entropy_columns=self._bonus_columns[a][0],
                entropy_reals=self._bonus_columns[a][1])
            lr = self.learning_rate(a, e)
            for group in self.optimizers[a].param_groups:
                group["lr"] = lr
            try:
                stats = ppo.update(self.policies[a], self.optimizers[a], batch, masks[a], settings, self.generator,
                                   self.shard)
            except ppo.NonFiniteUpdate as err:
                raise NonFiniteError(
                    f"the PPO update of agent type `{a}` at iteration {e} produced a non-finite {err.quantity}; "
                    f"the run stops and its last checkpoint (from before this update) is kept. Hint: {err.hint}"
                ) from None
            metrics.update(self._head_entropies(a, stats.pop("entropy_columns")))
            for k, val in stats.items():
                metrics[f"{a}/{k}"] = val
        for a in self.types:
            self.policies[a].update_norm(buf.types[a].observations(), self.shard)  # also for width 0
        t_end = time.perf_counter()
        n_steps = self.steps * cfg.envs
        self.env_steps += n_steps
        self.iteration += 1
        agents = sum(self.env.n_agents[a] for a in self.types)
        metrics.update({
            "env_steps": float(self.env_steps),
            "time/rollout_s": t_roll - t0, "time/update_s": t_end - t_roll,
            "time/env_steps_per_s": n_steps / (t_end - t0), "time/agent_steps_per_s": n_steps * agents / (t_end - t0),
        })
        for name, value in consts.items():
            metrics[f"curriculum/{name}"] = value
        if self.series_names and series:
            means = buf.series.mean(0)
            if self.shard is not None:  # each process's means are over its replicas: weigh them by their count
                means = self.shard.sum(means * (self.shard.envs / self.shard.total))
            means = means.tolist()
            metrics.update({f"econ/{n}": v for n, v in zip(self.series_names, means, strict=True)})
        return metrics

    def learning_rate(self, agent: str, e: int) -> float:
        """The type's Adam learning rate at iteration ``e``: ``lr``, decayed linearly to 0 at ``iterations``
        with ``anneal_lr`` (a function of ``e`` only, so a resumed run continues the schedule)."""
        lr = self.cfg.get("lr", agent)
        return lr * max(0.0, 1.0 - e / self.cfg.iterations) if self.cfg.anneal_lr else lr

    def collects_series(self, e: int) -> bool:
        """Whether iteration ``e`` collects the economy series (every ``analytics_every``-th and the last)."""
        return bool(self.series_names) and (e % self.cfg.series_every() == 0 or e == self.cfg.iterations - 1)

    def entropy_bonus_columns(self, a: str) -> tuple[tuple[bool, ...] | None, tuple[bool, ...] | None]:
        """Which discrete and which continuous action columns of ``a`` get the entropy bonus: those of heads
        not named by ``entropy_exclude`` (None: all of them). ConfigError for a name that is not an action of
        ``a`` (the checker reports it in a model; this catches ``--set``)."""
        excluded = set(names(self.cfg.get("entropy_exclude", a)))
        if not excluded:
            return None, None
        heads = self.resolved.heads[a]
        known = {c for h in heads for c in h.components}
        unknown = sorted(excluded - known) if a in self.cfg.per_type.get("entropy_exclude", {}) else sorted(
            n for n in excluded if not any(n in {c for h in self.resolved.heads[b] for c in h.components}
                                           for b in self.types))
        if unknown:
            raise ConfigError(f"`entropy_exclude` names {', '.join(f'`{n}`' for n in unknown)}, which "
                              f"{'is' if len(unknown) == 1 else 'are'} not an action of `{a}` "
                              f"(its actions: {', '.join(sorted(known)) or 'none'})")
        layout = self.curriculum.layouts[a]
        gets = [not excluded & set(h.components) for h in heads]
        if all(gets):  # a name of another type's action only: this type's bonus is unchanged
            return None, None
        return tuple(gets[k] for k in layout.columns), tuple(gets[k] for k, _ in layout.real_columns)

    def heads_with_choice(self, a: str) -> list[tuple[str, list[int], int]]:
        """(name, action columns, choices) of each action head of ``a`` that has more than one choice."""
        layout = self.curriculum.layouts[a]
        out = []
        for k, head in enumerate(self.resolved.heads[a]):
            cols = [c for c, h in enumerate(layout.columns) if h == k]
            if cols and layout.nvec[cols[0]] > 1:
                out.append((head.decl.name, cols, layout.nvec[cols[0]]))
        return out

    def head_metric_names(self) -> tuple[str, ...]:
        """The per-head metric columns (see :meth:`_head_entropies`)."""
        return tuple(f"{a}/{m}[{name}]" for a in self.types for name, _, _ in self.heads_with_choice(a)
                     for m in ("entropy", "entropy_fraction"))

    def _head_entropies(self, a: str, columns: list[float]) -> dict[str, float]:
        """Per action head of ``a``: its entropy (mean over the head's columns, nats) and that entropy as a
        fraction of its maximum ln(choices): ``a/entropy[head]``, ``a/entropy_fraction[head]``."""
        out: dict[str, float] = {}
        for name, cols, n in self.heads_with_choice(a):
            h = sum(columns[c] for c in cols) / len(cols)
            out[f"{a}/entropy[{name}]"] = h
            out[f"{a}/entropy_fraction[{name}]"] = h / math.log(n)
        return out

    # ---------------------------------------------------------------- errors

    def _check_finite(self, buf: RolloutBuffer, e: int, series: bool = True) -> None:
        finite = finite_flags(buf)
        if self.shard is not None:  # every process stops together (the first bad one is named where it is seen)
            if not self.shard.any(not bool(finite.all())):
                return
            if bool(finite.all()):
                raise NonFiniteError(f"a non-finite reward or observation in another process's replicas at "
                                     f"iteration {e}; see that process's output")
        if bool(finite.all()):
            return
        bad = (~finite).nonzero()[0].tolist()
        t, k, what = bad
        a = self.types[k]
        kind = "reward" if what == 0 else "observation"
        where = self._first_nonfinite_equation(buf) if series else (
            f"the economy series were not collected at this iteration (`analytics_every` = "
            f"{self.cfg.series_every()}); set `analytics_every = 1` to find the first equation with a "
            f"non-finite value")
        decl = next((d for d in self.resolved.agents[a].decls
                     if isinstance(d, ast.Reward if kind == "reward" else ast.Observe)), None)
        src = f" ({decl.span}: `{_source_line(self.resolved, decl.span)}`)" if decl is not None else ""
        raise NonFiniteError(f"non-finite {kind} of agent type `{a}`{src} at iteration {e}, step {t}; {where}")

    def _first_nonfinite_equation(self, buf: RolloutBuffer) -> str:
        """The first step of the episode at which a named quantity or state was non-finite, and the first
        equation (in declaration order) with a non-finite value at that step."""
        if buf.series_names:
            finite = torch.isfinite(buf.series).cpu()  # [T, n_series]: a mean is finite iff every member is
            steps = (~finite).any(1).nonzero().flatten().tolist()
            if steps:
                t = steps[0]
                bad = {n for n, ok in zip(buf.series_names, finite[t].tolist(), strict=True) if not ok}
                for eq in self.resolved.equations:
                    if eq.name in bad:
                        nxt = "next " if eq.is_next else ""
                        return (f"the first equation with a non-finite value is `{nxt}{eq.name}` at step {t} "
                                f"({eq.span}: `{_source_line(self.resolved, eq.span)}`)")
                for s in self.resolved.symbols.values():
                    if s.kind == "state" and s.name in bad:
                        return f"the state `{s.name}` ({s.decl.span}) is non-finite at step {t}"
        return "no named quantity or state of the episode is non-finite"


MAX_AGENT_STEPS = 2**28  # agent-steps of one iteration (its rollout buffers): beyond it, a typo in a size


def _check_rollout_size(resolved: Resolved, cfg: TrainConfig) -> None:
    """Refuse, before anything is allocated, a run whose environment and rollout buffers could not fit in
    memory, naming the sizes that multiply up."""
    members = sum(p.size for p in resolved.populations.values())
    for what, steps, envs in (("one iteration", cfg.steps or resolved.horizon or 1, cfg.envs),
                              ("the evaluation", resolved.horizon or 1, cfg.eval_envs)):
        total = steps * envs * members
        if total > MAX_AGENT_STEPS:
            raise ConfigError(f"{what} would hold {total:,} agent-steps ({steps:,} steps × {envs:,} envs × "
                              f"{members:,} agents), above the limit of {MAX_AGENT_STEPS:,}; use fewer envs or "
                              f"steps, or smaller populations")


def _source_line(resolved: Resolved, span: ast.Span) -> str:
    text = resolved.sources.get(span.file)
    if text is None:
        try:
            with open(span.file, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            return "?"
    lines = text.splitlines()
    return lines[span.line - 1].split("#")[0].strip() if 0 < span.line <= len(lines) else "?"
