"""Figures and a short report of a run directory: training curves and one evaluation episode.

Nothing here knows a model: the series are the model's own states and step quantities (by their
``.econ`` names, from ``eval.npz``), grouped by the population they are indexed by, with the rewards.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import evaluate
from .files import EVAL_ARRAYS
from .run import RunDir

MAX_LINES = 12  # populations larger than this are drawn as mean and 10–90% band instead of one line each


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Write a figure as a small palette PNG (line plots need few colours)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=72, format="png")
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(colors=64).save(path, optimize=True)


def _column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    """One metric as floats; an empty or damaged cell is NaN."""
    return np.array([_float(r.get(key)) for r in rows], dtype=float)


def _float(cell: str | None) -> float:
    try:
        return float(cell) if cell else np.nan
    except ValueError:
        return np.nan


def _grid(plt, n: int, ncols: int = 4, size: float = 3.0):
    ncols = min(ncols, max(n, 1))
    nrows = math.ceil(max(n, 1) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * 1.3 * ncols, size * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat)


def plot_training(rows: list[dict[str, str]], out: Path, types: list[str]) -> list[str]:
    """Training curves from the rows of ``metrics.csv``; returns the written file names."""
    plt = _plt()
    if not rows:
        return []
    it = _column(rows, "iteration")
    files = []
    keys = [("reward", "mean reward per agent and step"), ("entropy", "policy entropy (nats, summed heads)"),
            ("entropy_coef", "entropy weight"), ("value_loss", "value loss")]
    fig, axes = _grid(plt, len(types) * len(keys), ncols=len(keys))
    for r, a in enumerate(types):
        training = _column(rows, f"{a}/training") > 0
        start = np.argmax(training) if np.any(training) else None
        for c, (k, title) in enumerate(keys):
            ax = axes[r * len(keys) + c]
            ax.plot(it, _column(rows, f"{a}/{k}"), lw=1)
            if start is not None and start > 0:
                ax.axvline(it[start], color="grey", ls=":", lw=1)
            ax.set_title(f"{a}: {title}", fontsize=9)
            ax.set_xlabel("iteration", fontsize=8)
    fig.tight_layout()
    _save(fig, out / "training.png")
    plt.close(fig)
    files.append("training.png")
    econ = [c[len("econ/"):] for c in rows[0] if c.startswith("econ/")]
    cur = [c for c in rows[0] if c.startswith("curriculum/")]
    if econ or cur:
        fig, axes = _grid(plt, len(econ) + len(cur))
        for ax, name in zip(axes, econ + cur, strict=False):
            key = name if name.startswith("curriculum/") else f"econ/{name}"
            ax.plot(it, _column(rows, key), lw=1)
            ax.set_title(name if name.startswith("curriculum/") else f"{name} (mean over episode)", fontsize=9)
            ax.set_xlabel("iteration", fontsize=8)
        fig.tight_layout()
        _save(fig, out / "training_economy.png")
        plt.close(fig)
        files.append("training_economy.png")
    return files


def _draw(ax, v: np.ndarray, members: list[str] | None) -> None:
    """``v``: [T] or [T, m]; one line per member when few, else mean and 10–90% band."""
    t = np.arange(v.shape[0])
    if v.ndim == 1:
        ax.plot(t, v, marker=".", lw=1)
        return
    if v.shape[1] <= MAX_LINES:
        for k in range(v.shape[1]):
            ax.plot(t, v[:, k], lw=1, label=members[k] if members else str(k))
        if v.shape[1] > 1:
            ax.legend(fontsize=6, ncol=2)
        return
    ax.fill_between(t, np.percentile(v, 10, axis=1), np.percentile(v, 90, axis=1), alpha=0.3, label="10–90%")
    ax.plot(t, v.mean(1), lw=1.5, label="mean")
    ax.legend(fontsize=6)


def plot_episode(arrays: dict[str, np.ndarray], summary: dict[str, Any], out: Path) -> list[str]:
    """One figure per population (and one for per-economy scalars): replica 0 of the evaluation episode."""
    plt = _plt()
    groups: dict[str, list[tuple[str, np.ndarray, list[str] | None]]] = {}
    for key, v in arrays.items():
        kind, name = key.split("/", 1)
        if kind == "action":
            continue
        v = v[:, 0]  # replica 0: [T, ...]
        if kind == "reward":
            group = name
            v = v if v.shape[1] > 1 else v[:, 0]
            title = f"reward of {name}"
        else:
            dims = summary["series"].get(name, {}).get("dims", [])
            title = name
            if len(dims) >= 2:
                # e.g. consumption c[j, i]: summed over the first population, by member of the second
                v = v.reshape(v.shape[0], v.shape[1], -1).sum(1)
                title = f"{name}: Σ over {dims[0]}, by {dims[1]}"
                group = dims[1]
            else:
                group = dims[0] if dims else "economy"
        groups.setdefault(group, []).append((title, v, None))
    files = []
    for group, items in groups.items():
        fig, axes = _grid(plt, len(items))
        for ax, (title, v, members) in zip(axes, items, strict=False):
            _draw(ax, v, members)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("t", fontsize=8)
        fig.suptitle(f"evaluation episode: {group}", fontsize=10)
        fig.tight_layout()
        name = f"episode_{_safe(group)}.png"
        _save(fig, out / name)
        plt.close(fig)
        files.append(name)
    return files


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


def make_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the PNG figures and ``report.md`` of the run at ``path``; return the report's path."""
    run = RunDir(path)
    info = run.info()
    out = Path(out) if out is not None else run.path
    out.mkdir(parents=True, exist_ok=True)
    rows = run.read_metrics()
    types = sorted({c.split("/")[0] for c in info["columns"] if c.endswith("/reward")},
                   key=lambda a: info["columns"].index(f"{a}/reward"))
    files = plot_training(rows, out, types)
    lines = [f"# Run `{run.path.name}`: model `{info['model']}`", ""]
    cfg = info["config"]
    lines.append(f"Preset `{info.get('preset')}`, {cfg.get('iterations')} iterations × {cfg.get('envs')} envs, seed "
                 f"{cfg.get('seed')}, curriculum {'on' if cfg.get('curriculum', True) else 'off'}"
                 + (f", curriculum constants {info['curriculum_consts']}" if info.get("curriculum_consts") else "")
                 + ".")
    lines.append("")
    if rows:
        last = rows[-1]
        n = len(rows)
        lines += ["## Training", "", f"{n} logged iterations, {_float(last.get('env_steps')):,.0f} env-steps.", "",
                  "| agent type | mean reward (first 10 it.) | mean reward (last 10 it.) |", "|---|---|---|"]
        for a in types:
            r = _column(rows, f"{a}/reward")
            lines.append(f"| {a} | {np.nanmean(r[:10]):.4g} | {np.nanmean(r[-10:]):.4g} |")
        sps = _column(rows, "time/env_steps_per_s")
        lines += ["", f"Median throughput: {np.nanmedian(sps):,.0f} env-steps/s, "
                      f"{np.nanmedian(_column(rows, 'time/agent_steps_per_s')):,.0f} agent-steps/s.", ""]
    lines += [f"![{f}]({f})" for f in files] + [""]
    if (run.path / EVAL_ARRAYS).exists():
        arrays, summary = evaluate.load(run.path)
        ep = plot_episode(arrays, summary, out)
        lines += ["## Evaluation episode", "",
                  f"Policies of iteration {summary['iteration']}; values are means over the episode and "
                  f"the evaluation replicas (and over members for indexed quantities).", "",
                  "| series | dims | mean | first step | last step |", "|---|---|---|---|---|"]
        for name, s in summary["series"].items():
            lines.append(f"| `{name}` | {'×'.join(s['dims']) or 'scalar'} | {s['mean']:.4g} | "
                         f"{s['first_step_mean']:.4g} | {s['last_step_mean']:.4g} |")
        lines += ["", "| agent type | mean reward per agent and step |", "|---|---|"]
        lines += [f"| {a} | {v:.4g} |" for a, v in summary["reward"].items()]
        lines += [""] + [f"![{f}]({f})" for f in ep] + [""]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report
