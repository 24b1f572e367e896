"""The curriculum engine: executes a model's ``curriculum`` section, iteration by iteration.

Every item is data from the ``.econ`` file, evaluated here with the iteration index ``e``:

- ``const N = …``: curriculum constants (presets and ``--set`` may override them);
- ``train Type from expr``: the iteration at which the type's policy starts learning (default 0);
  before that it still acts, with its randomly initialised policy under its masks;
- ``anneal name = expr(e)``: a runtime constant of the environment, set at the start of each iteration;
- ``allow Type if cond``: an action mask. ``cond`` is evaluated on the grid values of the action
  components it mentions; heads whose components it does not mention stay unmasked, and several
  ``allow`` lines for one type are a conjunction. On a continuous action ``cond`` is bounds on it
  (``x <= expr && x >= expr``, see ``language/allow.py``) that narrow its interval instead;
- ``entropy [Type] = expr(age)``: the entropy weight, with ``age`` the iterations since the type started
  training (``e`` is available too); a line without a type applies to every type without its own line.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from ..language import ast
from ..language.allow import interval_limits
from ..language.resolve import NotConstant, Resolved, eval_const


class CurriculumError(ValueError):
    """A curriculum that cannot be executed (the message names the ``.econ`` line)."""


@dataclass
class HeadLayout:
    """The action columns of one agent type, as the environment orders them."""

    columns: list[int] = field(default_factory=list)  # index of the ActionHead behind each column
    nvec: list[int] = field(default_factory=list)  # choices of each column
    # continuous heads: (index of the ActionHead, component) behind each real column, and its bounds
    real_columns: list[tuple[int, int]] = field(default_factory=list)
    bounds: list[tuple[float, float]] = field(default_factory=list)

    @property
    def max_n(self) -> int:
        return max(self.nvec) if self.nvec else 1


def head_layout(resolved: Resolved, agent: str) -> HeadLayout:
    """One column per head, a per-member head (``demand[Firm]``) expanded to one column per member;
    continuous heads in real columns, one per component and member (the compiler's layout)."""
    out = HeadLayout()
    for k, h in enumerate(resolved.heads[agent]):
        reps = resolved.populations[h.per].size if h.per else 1
        if h.continuous:
            for c, lo_hi in enumerate(h.bounds):
                out.real_columns += [(k, c)] * reps
                out.bounds += [lo_hi] * reps
            continue
        out.columns += [k] * reps
        out.nvec += [h.n] * reps
    return out


def _names(e: ast.Expr) -> set[str]:
    return {n.id for n in e.walk() if isinstance(n, ast.Name)}


class Curriculum:
    """The schedule of one run. ``enabled=False`` is ``--no-curriculum``: no masks, no anneals, every
    type trains from iteration 0; the entropy schedule (an optimisation setting) still applies."""

    def __init__(self, resolved: Resolved, overrides: dict[str, float] | None = None, enabled: bool = True):
        self.resolved = resolved
        self.enabled = enabled
        self.layouts = {a: head_layout(resolved, a) for a in resolved.populations}
        items = resolved.curriculum.items if resolved.curriculum is not None else ()
        overrides = dict(overrides or {})
        self.consts: dict[str, float] = dict(resolved.consts)
        for it in items:
            if isinstance(it, ast.Const):
                self.consts[it.name] = overrides.pop(it.name) if it.name in overrides else self._eval(it.value, {})
        if overrides:
            raise CurriculumError(f"`{next(iter(overrides))}` is not a curriculum constant")
        self.start = {a: 0 for a in resolved.populations}
        self.anneals: list[ast.Anneal] = []
        self.allows: dict[str, list[ast.Allow]] = {a: [] for a in resolved.populations}
        self.entropy_default: ast.Entropy | None = None
        self.entropy: dict[str, ast.Entropy] = {}
        for it in items:
            if isinstance(it, ast.TrainFrom):
                self.start[it.agent] = int(round(self._eval(it.start, {})))
            elif isinstance(it, ast.Anneal):
                self.anneals.append(it)
            elif isinstance(it, ast.Allow):
                self._check_allow(it)
                self.allows[it.agent].append(it)
            elif isinstance(it, ast.Entropy):
                if it.agent is None:
                    self.entropy_default = it
                else:
                    self.entropy[it.agent] = it
        if not enabled:
            self.start = {a: 0 for a in resolved.populations}
        self._mask_cache: dict[tuple[str, int], torch.Tensor | None] = {}

    # ---------------------------------------------------------------- evaluation

    def _eval(self, expr: ast.Expr, extra: dict[str, float]) -> float:
        try:
            return eval_const(expr, {**self.consts, **extra})
        except NotConstant as e:
            raise CurriculumError(f"{e.node.span}: cannot evaluate the curriculum: {e.reason}") from None

    def _check_allow(self, it: ast.Allow) -> None:
        heads = self.resolved.heads[it.agent]
        used = {k for k, h in enumerate(heads) if _names(it.cond) & set(h.components)}
        if len(used) > 1:
            names = ", ".join(heads[k].decl.name for k in sorted(used))
            raise CurriculumError(f"{it.span}: an `allow` condition may constrain one action head of "
                                  f"`{it.agent}`, but this one mentions several ({names}); split it")
        for k in used:
            if heads[k].continuous and isinstance(bad := interval_limits(it.cond, heads[k].components), ast.Node):
                raise CurriculumError(f"{bad.span}: an `allow` condition on a continuous action must bound "
                                      f"it (`x <= expr`, `x >= expr`, joined by `&&`)")

    # ---------------------------------------------------------------- the schedule

    def training(self, agent: str, e: int) -> bool:
        return e >= self.start[agent]

    def runtime_consts(self, e: int) -> dict[str, float]:
        """Values of the annealed constants at iteration ``e`` (none without the curriculum)."""
        if not self.enabled:
            return {}
        return {a.name: self._eval(a.value, {"e": float(e)}) for a in self.anneals}

    def entropy_coef(self, agent: str, e: int, default: float) -> float:
        item = self.entropy.get(agent, self.entropy_default)
        if item is None:
            return default
        age = max(e - self.start[agent], 0)
        return self._eval(item.value, {"e": float(e), "age": float(age)})

    def mask(self, agent: str, e: int) -> torch.Tensor | None:
        """Allowed actions of ``agent`` at iteration ``e``: bool [n_columns, max_n] (padding False), or None
        when the type has no ``allow`` line (everything allowed)."""
        if not self.enabled or not self.allows[agent]:
            return None
        key = (agent, e)
        if key not in self._mask_cache:
            if len(self._mask_cache) > 64:
                self._mask_cache.clear()
            self._mask_cache[key] = self._build_mask(agent, e)
        return self._mask_cache[key]

    def bounds(self, agent: str, e: int) -> torch.Tensor | None:
        """The continuous action intervals of ``agent`` at iteration ``e``: float [2, n_real_columns] (lower,
        upper), the declared ones narrowed by the type's ``allow`` bounds (a single point, lower = upper, fixes
        the action there, as a grid mask allowing one point does); None when no ``allow`` line bounds a
        continuous action (the declared intervals)."""
        layout = self.layouts[agent]
        if not self.enabled or not layout.real_columns:
            return None
        heads = self.resolved.heads[agent]
        limits = [lim for it in self.allows[agent] for h in heads
                  if h.continuous and _names(it.cond) & set(h.components)
                  for lim in interval_limits(it.cond, h.components)]  # type: ignore[union-attr]
        if not limits:
            return None
        out = torch.tensor(layout.bounds, dtype=torch.float64).reshape(-1, 2).T.clone()
        for col, (k, c) in enumerate(layout.real_columns):
            comp = heads[k].components[c]
            for name, side, expr in limits:
                if name == comp:
                    v = self._eval(expr, {"e": float(e)})
                    out[0, col] = max(out[0, col], v) if side == "lo" else out[0, col]
                    out[1, col] = min(out[1, col], v) if side == "hi" else out[1, col]
            if not out[0, col] <= out[1, col]:  # a single point is allowed: the action is fixed there
                raise CurriculumError(f"{self.allows[agent][0].span}: at iteration {e} the curriculum allows no "
                                      f"value of `{agent}`'s action `{comp}` (interval [{float(out[0, col]):g}, "
                                      f"{float(out[1, col]):g}])")
        return out.float()

    def _build_mask(self, agent: str, e: int) -> torch.Tensor:
        layout = self.layouts[agent]
        heads = self.resolved.heads[agent]
        head_masks: list[list[bool]] = []
        for h in heads:
            if h.continuous:  # narrowed by bounds(), not masked
                head_masks.append([])
                continue
            allowed = [True] * h.n
            for it in self.allows[agent]:
                names = _names(it.cond)
                if heads and not names & set(h.components) and any(names & set(g.components) for g in heads):
                    continue  # this condition constrains another head of the type
                for a, combo in enumerate(itertools.product(*h.values)):  # row-major, last component fastest
                    if allowed[a]:
                        env = {"e": float(e), **dict(zip(h.components, combo, strict=True))}
                        allowed[a] = bool(self._eval(it.cond, env))
            if not any(allowed):
                raise CurriculumError(f"{self.allows[agent][0].span}: at iteration {e} the curriculum allows no "
                                      f"action of `{agent}`'s head `{h.decl.name}`")
            head_masks.append(allowed)
        out = torch.zeros(len(layout.columns), layout.max_n, dtype=torch.bool)
        for col, k in enumerate(layout.columns):
            out[col, : len(head_masks[k])] = torch.tensor(head_masks[k])
        return out

    def stage(self, e: int) -> str:
        """A short description for the progress bar: who trains, who is masked, the annealed values."""
        if not self.enabled:
            return "no curriculum"
        parts = []
        waiting = [a for a in self.start if not self.training(a, e)]
        if waiting:
            parts.append("waiting: " + ",".join(waiting))
        masked = []
        for a in self.allows:
            m = self.mask(a, e)
            if m is not None:
                full = torch.zeros_like(m)
                for col, n in enumerate(self.layouts[a].nvec):
                    full[col, :n] = True
                if not torch.equal(m, full):
                    masked.append(f"{a} {int(m.sum())}/{int(full.sum())}")
        if masked:
            parts.append("masked: " + ",".join(masked))
        parts += [f"{k}={v:.3g}" for k, v in self.runtime_consts(e).items()]
        return "; ".join(parts) or "all free"
