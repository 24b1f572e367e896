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

METRICS = "metrics.csv"
REWARD_SUFFIX = "/reward"
ECON_PREFIX = "econ/"
TAIL = 0.1  # fraction of the last iterations averaged when a quantity comes from metrics.csv


def checkpoint_files(run_dir: Path) -> list[Path]:
    run_dir = Path(run_dir)
    out: list[Path] = []
    for pattern in ("checkpoint*.pt", "checkpoints/*.pt", "ckpt*.pt"):
        out += [p for p in run_dir.glob(pattern) if not p.name.endswith(".tmp")]
    return out


def has_checkpoint(run_dir: str | Path) -> bool:
    return bool(checkpoint_files(Path(run_dir)))


def evaluation_file(run_dir: Path) -> Path | None:
    for name in ("evaluation.json", "eval.json", "evaluation/series.json"):
        p = Path(run_dir) / name
        if p.exists():
            return p
    return None


def is_finished(run_dir: str | Path) -> bool:
    """A run finished when its final evaluation rollout was written (the trainer's last act)."""
    return evaluation_file(Path(run_dir)) is not None


def read_metrics(path: Path) -> dict[str, np.ndarray]:
    """metrics.csv as columns of floats (empty cells are NaN)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    cols: dict[str, np.ndarray] = {}
    for k in rows[0]:
        vals = []
        for r in rows:
            try:
                vals.append(float(r.get(k) or "nan"))
            except ValueError:
                vals.append(math.nan)
        cols[k] = np.asarray(vals, dtype=float)
    return cols


@dataclass
class Run:
    """One finished run: its metrics columns and its evaluation series."""

    path: Path
    metrics: dict[str, np.ndarray]
    evaluation: dict = field(default_factory=dict)

    @property
    def agent_types(self) -> list[str]:
        return [k[: -len(REWARD_SUFFIX)] for k in self.metrics if k.endswith(REWARD_SUFFIX) and "/" not in
                k[: -len(REWARD_SUFFIX)]]

    def tail_mean(self, column: str) -> float:
        y = self.metrics[column]
        y = y[~np.isnan(y)]
        if not len(y):
            return math.nan
        n = max(1, int(round(len(y) * TAIL)))
        return float(y[-n:].mean())

    def reward_at(self, agent: str, where: str) -> float:
        """Mean reward of a type at the ``start`` or ``end`` of training (mean of the first/last 10% rows)."""
        y = self.metrics[f"{agent}{REWARD_SUFFIX}"]
        y = y[~np.isnan(y)]
        n = max(1, int(round(len(y) * TAIL)))
        return float((y[:n] if where == "start" else y[-n:]).mean())

    def outcomes(self) -> dict[str, float]:
        """The quantities of the outcome table, by display name.

        ``mean reward T`` per agent type, then every named economic series, from the final evaluation
        rollout when the run has one (time- and population-mean), else from the last 10% of iterations
        of metrics.csv; then ε per type when best responses were run.
        """
        out: dict[str, float] = {}
        ev = self.evaluation
        ev_rewards = ev.get("rewards") or {}
        for a in self.agent_types:
            if a in ev_rewards:
                out[f"mean reward {a}"] = _mean(ev_rewards[a])
            else:
                out[f"mean reward {a}"] = self.tail_mean(f"{a}{REWARD_SUFFIX}")
        series = ev.get("series") or {}
        if series:
            for name, values in series.items():
                out[name] = _mean(values)
        else:
            for k in self.metrics:
                if k.startswith(ECON_PREFIX):
                    out[k[len(ECON_PREFIX):]] = self.tail_mean(k)
        for a, eps in read_epsilon(self.path).items():
            out[f"ε {a} (abs)"] = eps["abs"]
            if not math.isnan(eps.get("rel", math.nan)):
                out[f"ε {a} (rel)"] = eps["rel"]
        return out

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Training curves: the mean reward of each agent type against the iteration."""
        x = self.metrics.get("iteration")
        if x is None:
            return {}
        return {f"{a} mean reward": (x, self.metrics[f"{a}{REWARD_SUFFIX}"]) for a in self.agent_types}


def _mean(values) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.nanmean(a)) if a.size else math.nan


def read_epsilon(run_dir: Path) -> dict[str, dict[str, float]]:
    """ε per type from ``best_response/epsilon.json`` (written by ``econdsl best-response``), if any."""
    p = Path(run_dir) / "best_response" / "epsilon.json"
    if not p.exists():
        return {}
    data = json.loads(p.read_text(encoding="utf-8"))
    return {a: {"abs": float(v["abs_mean"]), "rel": float(v.get("rel_mean", math.nan))}
            for a, v in data.get("types", {}).items()}


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    ev: dict = {}
    p = evaluation_file(run_dir)
    if p is not None and p.suffix == ".json":
        ev = json.loads(p.read_text(encoding="utf-8"))
    return Run(run_dir, metrics, ev)
