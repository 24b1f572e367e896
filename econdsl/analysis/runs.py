"""Reading a training run directory written by ``econdsl train`` (the trainer owns the format).

Only the analysis side lives here: which files say that a run finished or can be resumed, and the
quantities a report shows, read from the run's own ``metrics.csv`` and final evaluation rollout.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..language import ast
from ..trainer.files import CHECKPOINT, EVAL_ARRAYS, EVAL_SUMMARY, METRICS, REAL_ACTION

REWARD_SUFFIX = "/reward"
ECON_PREFIX = "econ/"
TAIL = 0.1  # fraction of the last iterations averaged when a quantity comes from metrics.csv


def has_checkpoint(run_dir: str | Path) -> bool:
    return (Path(run_dir) / CHECKPOINT).exists()


def is_finished(run_dir: str | Path) -> bool:
    """A run finished when its final evaluation rollout was written (the trainer's last act)."""
    return (Path(run_dir) / EVAL_SUMMARY).exists()


def read_metrics(path: Path) -> dict[str, np.ndarray]:
    """metrics.csv as columns of floats (empty cells are NaN)."""
    # A damaged file (a crash mid-row, stray bytes) must not stop a report: undecodable bytes become U+FFFD
    # and NULs are dropped, so such cells read as NaN.
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(line.replace("\0", "") for line in f))
    if not rows:
        return {}
    cols: dict[str, np.ndarray] = {}
    for k in rows[0]:
        if not isinstance(k, str):  # csv's key for the surplus cells of a row longer than the header
            continue
        vals = []
        for r in rows:
            cell = r.get(k)
            try:
                vals.append(float(cell) if isinstance(cell, str) and cell else math.nan)
            except ValueError:
                vals.append(math.nan)
        cols[k] = np.asarray(vals, dtype=float)
    return cols


@dataclass
class Run:
    """One finished run: its metrics columns and its final evaluation episode."""

    path: Path
    metrics: dict[str, np.ndarray]
    evaluation: dict = field(default_factory=dict)  # eval.json: {"series": {name: {"mean": …}}, "reward": {…}}
    actions: dict[str, float] = field(default_factory=dict)  # mean value of every action component

    @property
    def agent_types(self) -> list[str]:
        return [k[: -len(REWARD_SUFFIX)] for k in self.metrics if k.endswith(REWARD_SUFFIX)
                and "/" not in k[: -len(REWARD_SUFFIX)]]

    def tail_mean(self, column: str) -> float:
        y = self.metrics[column]
        y = y[~np.isnan(y)]
        if not len(y):
            return math.nan
        n = max(1, int(round(len(y) * TAIL)))
        return float(y[-n:].mean())

    def outcomes(self) -> dict[str, float]:
        """The quantities of the outcome table, by display name.

        ``mean reward T`` per agent type, then the mean of every named economic series and of every action
        component over the final evaluation episode (its steps, replicas and population members); when
        the run has no evaluation, the last 10% of iterations of metrics.csv. Then ε per type when best
        responses were run.
        """
        out: dict[str, float] = {}
        ev_rewards = self.evaluation.get("reward") or {}
        for a in self.agent_types:
            out[f"mean reward {a}"] = (float(ev_rewards[a]) if a in ev_rewards
                                       else self.tail_mean(f"{a}{REWARD_SUFFIX}"))
        series = self.evaluation.get("series") or {}
        if series:
            for name, info in series.items():
                out[name] = float(info["mean"])
        else:
            for k in self.metrics:
                if k.startswith(ECON_PREFIX):
                    out[k[len(ECON_PREFIX):]] = self.tail_mean(k)
        for name, v in self.actions.items():
            out.setdefault(name, v)
        for (a, kind), eps in read_epsilon(self.path).items():
            out[f"ε {a} {kind} (abs)"] = eps["abs"]
            if not math.isnan(eps.get("rel", math.nan)):
                out[f"ε {a} {kind} (rel)"] = eps["rel"]
        return out

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Training curves: the mean reward of each agent type against the iteration."""
        x = self.metrics.get("iteration")
        if x is None:
            return {}
        return {f"{a} mean reward": (x, self.metrics[f"{a}{REWARD_SUFFIX}"]) for a in self.agent_types}


def action_values(resolved, agent: str, idx: np.ndarray, reals: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Decode a type's action columns [..., n_columns] into the value of every action component.

    Components that choose a member of a population are left out (an index has no meaningful mean).
    Columns follow the model's heads in order, a per-member head (``demand[Firm]``) taking one column per
    member; a joint head's index is mixed-radix with its first component slowest (the compiler's
    convention: component k = index // prod(sizes[k+1:]) mod sizes[k]). Continuous components are read
    from ``reals`` [..., n_real_columns] (values; one column block per component, members innermost),
    and left out without it.
    """
    out: dict[str, np.ndarray] = {}
    col = real_col = 0
    for h in resolved.heads[agent]:
        reps = resolved.populations[h.per].size if h.per else 1
        if h.continuous:
            for comp in h.components:
                if reals is not None:
                    out[comp] = np.asarray(reals[..., real_col:real_col + reps], dtype=float)
                real_col += reps
            continue
        block = idx[..., col:col + reps]
        col += reps
        for k, comp in enumerate(h.components):
            if isinstance(h.decl.grids[k], ast.GridPopulation):
                continue  # a chosen member's index (an employer) has no meaningful mean
            stride = math.prod(h.sizes[k + 1:])
            sub = (block // stride) % h.sizes[k]
            out[comp] = np.asarray(h.values[k], dtype=float)[sub]
    return out


def _mean(values) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.nanmean(a)) if a.size else math.nan


def read_epsilon(run_dir: Path) -> dict[tuple[str, str], dict[str, float]]:
    """ε per (type, kind) from ``best_response/epsilon.json`` (written by ``econdsl best-response``), if any;
    kind is "unilateral" or "type" (the meta-game ε). Files of the older, type-only format read as "type"."""
    p = Path(run_dir) / "best_response" / "epsilon.json"
    if not p.exists():
        return {}
    data = json.loads(p.read_text(encoding="utf-8"))
    out: dict[tuple[str, str], dict[str, float]] = {}
    for a, v in data.get("types", {}).items():
        if "abs_mean" in v:
            out[(a, "type")] = {"abs": float(v["abs_mean"]), "rel": float(v.get("rel_mean", math.nan))}
        for kind in ("unilateral", "type"):
            if kind in v:
                rel = v[kind].get("epsilon_relative")
                out[(a, kind)] = {"abs": float(v[kind]["epsilon"]), "rel": math.nan if rel is None else float(rel)}
    return out


def _drop_post_step_reset(run_dir: Path, ev: dict) -> None:
    """Average state series over the steps of the episode, from the convention eval.json states.

    The trainer records a state as each step starts from it (``"state_timing": "pre_step"``); a run without
    the field is taken to be recorded that way. Early runs recorded states after each step
    (``"post_step"``), so their last entry is the *reset* value of the next episode, not part of this one:
    for those the last entry is left out of the mean.
    """
    if ev.get("state_timing") != "post_step":
        return
    states = [n for n, info in ev["series"].items() if info.get("kind") == "state"]
    with np.load(run_dir / EVAL_ARRAYS) as z:
        for n in states:
            if f"series/{n}" in z.files and z[f"series/{n}"].shape[0] >= 2:
                ev["series"][n]["mean"] = _mean(z[f"series/{n}"][:-1])


def load_run(run_dir: str | Path, model_file: str | Path | None = None) -> Run:
    """Read a run directory. ``model_file`` (the model as trained) lets action indices be shown as values."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    ev: dict = {}
    if (run_dir / EVAL_SUMMARY).exists():
        ev = json.loads((run_dir / EVAL_SUMMARY).read_text(encoding="utf-8"))
    actions: dict[str, float] = {}
    if (run_dir / EVAL_ARRAYS).exists() and ev.get("series"):
        _drop_post_step_reset(run_dir, ev)
    if model_file is not None and (run_dir / EVAL_ARRAYS).exists():
        from ..language.resolve import load

        resolved, diags = load(model_file)
        if resolved is not None and not diags.has_errors():
            with np.load(run_dir / EVAL_ARRAYS) as z:
                for key in z.files:
                    if key.startswith("action/") and key[7:] in resolved.heads:
                        reals = z[REAL_ACTION + key[7:]] if REAL_ACTION + key[7:] in z.files else None
                        for name, v in action_values(resolved, key[7:], z[key], reals).items():
                            actions[name] = _mean(v)
    return Run(run_dir, metrics, ev, actions)
