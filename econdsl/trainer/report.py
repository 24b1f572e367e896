"""The report of a run directory: a health verdict, training curves and the evaluation episode, as PNG
figures, ``report.md`` and a self-contained ``report.html`` (figures embedded).

Nothing here knows a model. Series are the model's own states, step quantities and actions, titled by their
doc comments and units (:mod:`.labels`), grouped by meaning into figures of at most :data:`MAX_PANELS`
panels; a series equal to one already drawn (a reward that is a named quantity, a sum that is another
quantity) is drawn once. Actions are shown as the values declared in the model, not grid indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import evaluate
from .fileio import write_atomic
from .files import EVAL_ARRAYS, REAL_ACTION
from .health import Finding, check_run, head_payoffs, verdict
from .labels import GROUPS, Label, group_of, model_labels, reward_names
from .run import RunDir

MAX_LINES = 10  # populations larger than this are drawn as mean and 10–90% band instead of one line each
MAX_PANELS = 12  # panels per figure
NCOLS = 3


@dataclass
class Panel:
    title: str  # always ends in "(unit)" or "(no unit)"
    data: np.ndarray  # training: [iterations]; episode: [T, E] or [T, E, members]
    members: list[str] | None = None
    kind: str = "episode"  # "episode" | "curve"
    x: np.ndarray | None = None
    hline: float | None = None  # a reference level (the maximum entropy)
    vline: float | None = None  # the iteration a type starts training


@dataclass
class Figure:
    file: str
    caption: str
    panels: list[Panel]
    titles: list[str] = field(default_factory=list)  # the titles actually drawn, read back from the axes


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
    fig.savefig(buf, dpi=80, format="png")
    buf.seek(0)
    png = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(colors=64).save(png, format="png", optimize=True)
    write_atomic(path, png.getvalue())


def _column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    """One metric as floats; an empty or damaged cell is NaN."""
    return np.array([_float(r.get(key)) for r in rows], dtype=float)


def _float(cell: str | None) -> float:
    try:
        return float(cell) if cell else np.nan
    except ValueError:
        return np.nan


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


# ---------------------------------------------------------------- drawing


def _draw_curve(ax, p: Panel) -> None:
    ax.plot(p.x, p.data, lw=1)
    if p.hline is not None:
        ax.axhline(p.hline, color="tab:red", ls="--", lw=0.8, label="maximum")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if p.vline is not None and p.vline > 0:
        ax.axvline(p.vline, color="grey", ls=":", lw=1)
    ax.set_xlabel("iteration", fontsize=8)


def _draw_episode(ax, p: Panel) -> None:
    """``data`` [T, E] (one value per replica) or [T, E, m]: mean over replicas with a min–max band, or one
    line per member (m ≤ MAX_LINES), or the mean and 10–90% band over members × replicas. A one-step episode
    is a distribution: a histogram, or one bar per member."""
    v = p.data
    T = v.shape[0]
    if T == 1:
        if v.ndim == 3 and v.shape[2] <= MAX_LINES:
            x = np.arange(v.shape[2])
            mean = v[0].mean(0)
            err = np.stack([mean - v[0].min(0), v[0].max(0) - mean])
            ax.bar(x, mean, yerr=err, capsize=2, color="tab:blue", alpha=0.8)
            ax.set_xticks(x, p.members or [str(k) for k in x], fontsize=6, rotation=45 if v.shape[2] > 5 else 0)
        else:
            ax.hist(v.reshape(-1), bins=20, color="tab:blue", alpha=0.8)
            ax.set_ylabel("count", fontsize=7)
        return
    t = np.arange(T)
    if v.ndim == 2:
        ax.fill_between(t, v.min(1), v.max(1), alpha=0.25, lw=0, label="min–max")
        ax.plot(t, v.mean(1), marker=".", lw=1.2, label="mean")
    elif v.shape[2] <= MAX_LINES:
        for k in range(v.shape[2]):
            ax.plot(t, v[:, :, k].mean(1), lw=1, label=(p.members[k] if p.members else str(k)))
        if v.shape[2] > 1:
            ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), ncol=1 + v.shape[2] // 6)
    else:
        flat = v.reshape(T, -1)
        ax.fill_between(t, np.percentile(flat, 10, axis=1), np.percentile(flat, 90, axis=1), alpha=0.25, lw=0,
                        label="10–90%")
        ax.plot(t, flat.mean(1), lw=1.5, label="mean")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_xlabel("t (step)", fontsize=8)


def render(fig_spec: Figure, out: Path) -> Figure:
    """Draw the panels of one figure (at most MAX_PANELS) into ``out / fig_spec.file``."""
    plt = _plt()
    n = len(fig_spec.panels)
    ncols = min(NCOLS, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 2.9 * nrows + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, p in zip(axes.flat, fig_spec.panels, strict=False):
        (_draw_curve if p.kind == "curve" else _draw_episode)(ax, p)
        ax.set_title(p.title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
    fig.suptitle(fig_spec.caption, fontsize=9)
    fig_spec.titles = [ax.get_title() for ax in axes.flat[:n]]
    _save(fig, out / fig_spec.file)
    plt.close(fig)
    return fig_spec


def _chunks(name: str, caption: str, panels: list[Panel]) -> list[Figure]:
    """One figure per MAX_PANELS panels (``episode_prices.png``, ``episode_prices_2.png`` …)."""
    out = []
    for k in range(0, len(panels), MAX_PANELS):
        part = k // MAX_PANELS
        more = len(panels) > MAX_PANELS
        out.append(Figure(f"{name}{'' if part == 0 else f'_{part + 1}'}.png",
                          caption + (f" ({part + 1}/{math.ceil(len(panels) / MAX_PANELS)})" if more else ""),
                          panels[k:k + MAX_PANELS]))
    return out


def _slug(group: str) -> str:
    return _safe(group.split(" ")[0].rstrip(","))


# ---------------------------------------------------------------- what to draw


@dataclass
class ModelView:
    """What the report knows about the model as trained: labels, reward series, the resolved model."""

    labels: dict[str, Label]
    rewards: set[str]
    resolved: Any | None

    def label(self, name: str) -> Label:
        return self.labels.get(name) or Label(name)

    def group(self, name: str) -> str:
        return group_of(self.label(name), reward=name in self.rewards)


def model_view(run: RunDir, info: dict[str, Any]) -> ModelView:
    """Labels from the source file (its comments; the run's printed model.econ has none), else model.econ."""
    from ..language import check_model

    labels: dict[str, Label] = {}
    for candidate in (info.get("model_path"), run.path / "model.econ"):
        if candidate and Path(candidate).is_file():
            labels = model_labels(candidate)
            if labels and any(lb.description for lb in labels.values()):
                break
    try:
        resolved = check_model(run.path / "model.econ")
    except Exception:  # noqa: BLE001 - a model that no longer checks still gets its curves drawn
        resolved = None
    if not labels and resolved is not None:
        labels = model_labels(run.path / "model.econ")
    return ModelView(labels, reward_names(resolved) if resolved is not None else set(), resolved)


def training_figures(rows: list[dict[str, str]], types: list[str], info: dict[str, Any],
                     view: ModelView) -> list[Figure]:
    """Learning curves of each agent type (≤ 3 types a figure), then the economy's episode means by group."""
    if not rows:
        return []
    it = _column(rows, "iteration")
    arch = (info.get("architecture") or {}).get("types", {})
    per_type: list[Panel] = []
    for a in types:
        training = _column(rows, f"{a}/training") > 0
        start = float(it[np.argmax(training)]) if np.any(training) else None
        nvec = arch.get(a, {}).get("action_nvec")
        continuous = view.resolved is not None and any(h.continuous for h in view.resolved.heads.get(a, ()))
        top = float(sum(math.log(n) for n in nvec if n > 1)) if nvec and not continuous else None
        reward_unit = _reward_unit(view, a)
        for key, title, hline in (("reward", f"{a}: mean reward per agent and step ({reward_unit})", None),
                                  ("entropy", f"{a}: policy entropy, summed over heads (nats)", top),
                                  ("entropy_coef", f"{a}: entropy weight (no unit)", None),
                                  ("value_loss", f"{a}: value loss (no unit)", None)):
            per_type.append(Panel(title, _column(rows, f"{a}/{key}"), kind="curve", x=it, hline=hline, vline=start))
    figures = []
    for k in range(0, len(per_type), MAX_PANELS):
        part = k // MAX_PANELS
        figures.append(Figure("training.png" if part == 0 else f"training_{part + 1}.png",
                              "learning curves (grey dotted line: the type starts training; red dashed: the "
                              "entropy of a uniformly random policy)", per_type[k:k + MAX_PANELS]))
    by_group: dict[str, list[Panel]] = {}
    seen: list[np.ndarray] = []
    for c in rows[0]:
        if not c.startswith("econ/"):
            continue
        name = c[len("econ/"):]
        v = _column(rows, c)
        if _duplicate(v, seen):
            continue
        # a lean run collects the series every `analytics_every` iterations: the curve joins those points
        kept = ~np.isnan(v)
        by_group.setdefault(view.group(name), []).append(
            Panel(view.label(name).title(), v[kept], kind="curve", x=it[kept]))
    cur = [c for c in rows[0] if c.startswith("curriculum/")]
    for c in cur:
        name = c[len("curriculum/"):]
        by_group.setdefault("curriculum", []).append(
            Panel(f"annealed {view.label(name).title()}", _column(rows, c), kind="curve", x=it))
    for group in (*GROUPS, "curriculum"):
        if group in by_group:
            figures += _chunks(f"training_{_slug(group)}",
                               f"training: {group} (mean over each iteration's episodes, replicas and members)",
                               by_group[group])
    return figures


def _reward_unit(view: ModelView, agent: str) -> str:
    if view.resolved is None:
        return "no unit"
    from ..language import ast

    agent_node = view.resolved.agents.get(agent)
    for node in agent_node.walk() if agent_node is not None else ():
        if isinstance(node, ast.Reward):
            names = [n.id if isinstance(n, ast.Name) else n.base for n in node.value.walk()
                     if isinstance(n, ast.Name | ast.Index)]
            if names:
                return view.label(names[0]).unit_text
    return "no unit"


def _duplicate(v: np.ndarray, seen: list[np.ndarray]) -> bool:
    """``v`` equals (up to float32 rounding) a series already drawn; otherwise remember it. Constant series
    (a tax rate held at 0) are never duplicates: equal by coincidence, not by definition."""
    finite = v[np.isfinite(v)]
    if finite.size == 0 or np.all(finite == finite.flat[0]):
        return False
    for s in seen:
        if s.shape == v.shape and np.allclose(s, v, rtol=1e-5, atol=1e-6, equal_nan=True):
            return True
    seen.append(v)
    return False


def episode_figures(arrays: dict[str, np.ndarray], summary: dict[str, Any], view: ModelView,
                    n_replicas: int) -> list[Figure]:
    """The evaluation episode by group: states and step quantities, the actions' values, the rewards."""
    r = view.resolved
    items: list[tuple[str, str, np.ndarray, list[str] | None]] = []  # (group, title, [T, E(, m)], members)

    def members(pop: str) -> list[str]:
        n = r.populations[pop].size if r is not None and pop in r.populations else 0
        return [f"{pop} {k + 1}" for k in range(n)]

    def add(name: str, v: np.ndarray, dims: list[str], suffix: str = "") -> None:
        lab = view.label(name)
        title = lab.title()
        if len(dims) >= 2:  # c[j, i]: the total over the first population, by member of the second
            v = v.reshape(*v.shape[:2], v.shape[2], -1).sum(2)
            title = Label(name, (lab.description + f", total over {dims[0]}").lstrip(", "), lab.unit).title()
            dims = dims[1:]
        if v.ndim == 3 and v.shape[2] == 1:
            v = v[..., 0]
        items.append((view.group(name), title + suffix, v, members(dims[-1]) if v.ndim == 3 and dims else None))

    for key, v in arrays.items():
        kind, name = key.split("/", 1)
        if kind == "series":
            add(name, v, list(summary["series"].get(name, {}).get("dims", [])))
    if r is not None:
        from .actions import action_values

        for a in r.populations:
            real = arrays.get(f"{REAL_ACTION}{a}")
            if f"action/{a}" not in arrays and real is None:
                continue
            for name, v in action_values(r, a, arrays.get(f"action/{a}"), real).items():
                sym = r.symbols.get(name)
                if sym is not None and sym.chooses:
                    continue
                head = next(h for h in r.heads[a] if name in h.components)
                add(name, v, [a] + ([head.per] if head.per else []))
    for a in sorted(k.split("/", 1)[1] for k in arrays if k.startswith("reward/")):
        v = arrays[f"reward/{a}"]
        items.append(("welfare and rewards", f"reward of {a} ({_reward_unit(view, a)})",
                      v[..., 0] if v.shape[2] == 1 else v, members(a) if v.shape[2] > 1 else None))
    seen: list[np.ndarray] = []
    by_group: dict[str, list[Panel]] = {}
    for group, title, v, mem in items:
        if _duplicate(v.astype(np.float64), seen):
            continue
        by_group.setdefault(group, []).append(Panel(title, v, mem))
    T = next(iter(arrays.values())).shape[0] if arrays else 0
    how = (f"one step, so each panel shows the distribution over the {n_replicas} evaluation replicas"
           if T == 1 else f"mean over all {n_replicas} evaluation replicas; band: their min–max (members: one "
                          f"line each, or the mean and 10–90% band over members and replicas)")
    figures = []
    for group in GROUPS:
        if group in by_group:
            figures += _chunks(f"episode_{_slug(group)}", f"evaluation episode: {group} ({how})", by_group[group])
    return figures


# ---------------------------------------------------------------- the report


def _types(info: dict[str, Any]) -> list[str]:
    return sorted({c.split("/")[0] for c in info["columns"] if c.endswith("/reward")},
                  key=lambda a: info["columns"].index(f"{a}/reward"))


@dataclass
class Report:
    markdown: Path
    html: Path
    figures: list[Figure]
    findings: list[Finding]


def _entropy_table(rows: list[dict[str, str]], info: dict[str, Any], types: list[str]) -> list[str]:
    """Policy entropy at the end of training (mean of the last 10 logged iterations), per head (mean over
    the head's action columns) and in total (summed over columns), next to its maximum (uniform policy)."""
    from .config import TrainConfig, names

    cols = rows[0].keys()
    nvec = {a: t.get("action_nvec", []) for a, t in (info.get("architecture") or {}).get("types", {}).items()}
    cfg = TrainConfig.from_dict(info.get("config") or {})
    out = ["", "Policy entropy over the last 10 logged iterations (nats; a uniform policy has the maximum; "
               "\"no bonus\": a head `entropy_exclude` leaves out of the entropy bonus):", "",
           "| agent type | head | entropy | maximum | fraction of maximum |", "|---|---|---:|---:|---:|"]
    found = False
    for a in types:
        for c in cols:
            if c.startswith(f"{a}/entropy[") and c.endswith("]"):
                head = c[len(f"{a}/entropy["):-1]
                h = np.nanmean(_column(rows, c)[-10:])
                frac = np.nanmean(_column(rows, f"{a}/entropy_fraction[{head}]")[-10:])
                top = f"{h / frac:.3g}" if frac > 0 else "–"  # the maximum ln(choices), from the fraction
                parts = {n.strip() for n in head.strip("()").split(",")}  # a joint head: (price, wage, …)
                bonus = ", no bonus" if parts & set(names(cfg.get("entropy_exclude", a))) else ""
                out.append(f"| {a} | {head} (per column{bonus}) | {h:.3g} | {top} | {100 * frac:.1f}% |")
                found = True
        total = np.nanmean(_column(rows, f"{a}/entropy")[-10:]) if f"{a}/entropy" in cols else math.nan
        top = sum(math.log(n) for n in nvec.get(a, []) if n > 1)
        if not math.isnan(total):
            out.append(f"| {a} | all (sum over {len(nvec.get(a, []))} columns) | {total:.3g} | {top:.3g} | "
                       f"{100 * total / top if top else math.nan:.1f}% |")
    return out + [""] if found else []


def build_report(path: str | Path, out: str | Path | None = None) -> Report:
    """Write the figures, ``report.md`` and ``report.html`` of the run at ``path`` into ``out`` (default: the
    run directory)."""
    from .html import markdown_page

    run = RunDir(path)
    info = run.info()
    out = Path(out) if out is not None else run.path
    out.mkdir(parents=True, exist_ok=True)
    rows = run.read_metrics()
    types = _types(info)
    view = model_view(run, info)
    cfg = info["config"]
    arrays = summary = None
    if (run.path / EVAL_ARRAYS).exists():
        arrays, summary = evaluate.load(run.path)
    findings = check_run(info, rows, types, arrays, view.resolved, head_payoffs(run.path))
    train_figs = [render(f, out) for f in training_figures(rows, types, info, view)]
    ep_figs = ([render(f, out) for f in episode_figures(arrays, summary, view, int(cfg.get("eval_envs", 0)))]
               if arrays is not None else [])
    lines = [f"# Run `{run.path.name}`: model `{info['model']}`", "", "## Health", "", f"**{verdict(findings)}**",
             ""]
    lines += [f"- {f.mark} **{f.check}**: {f.detail}" for f in findings] + [""]
    lines += ["## Settings", "",
              f"Preset `{info.get('preset')}`, {cfg.get('iterations')} iterations × {cfg.get('envs')} envs, seed "
              f"{cfg.get('seed')}, curriculum {'on' if cfg.get('curriculum', True) else 'off'}"
              + (f", curriculum constants {info['curriculum_consts']}" if info.get("curriculum_consts") else "")
              + ". The evaluation runs one episode in each of "
              f"{cfg.get('eval_envs', '?')} fresh replicas with "
              + ("**greedy** actions (the most likely action of each policy; `eval_greedy = true`)."
                 if cfg.get("eval_greedy") else
                 "**sampled** actions (drawn from each policy, as in training; `eval_greedy = false`)."), ""]
    if rows:
        last = rows[-1]
        lines += ["## Training", "",
                  f"{len(rows)} logged iterations, {_float(last.get('env_steps')):,.0f} env-steps.", "",
                  "| agent type | mean reward (first 10 it.) | mean reward (last 10 it.) |", "|---|---|---|"]
        for a in types:
            r = _column(rows, f"{a}/reward")
            lines.append(f"| {a} | {np.nanmean(r[:10]):.4g} | {np.nanmean(r[-10:]):.4g} |")
        lines += _entropy_table(rows, info, types)
        sps = _column(rows, "time/env_steps_per_s")
        lines += ["", f"Median throughput: {np.nanmedian(sps):,.0f} env-steps/s, "
                      f"{np.nanmedian(_column(rows, 'time/agent_steps_per_s')):,.0f} agent-steps/s.", ""]
    lines += [f"![{f.caption}]({f.file})" for f in train_figs] + [""]
    if summary is not None:
        lines += ["## Evaluation episode", "",
                  f"Policies of iteration {summary['iteration']}; values are means over the episode, all "
                  f"{cfg.get('eval_envs', '?')} evaluation replicas and the members of indexed quantities.", "",
                  "| series | meaning | unit | dims | mean | first step | last step |", "|---|---|---|---|---|---|---|"]
        for name, s in summary["series"].items():
            lab = view.label(name)
            lines.append(f"| `{name}` | {lab.description.replace('|', '/')} | {lab.unit_text} | "
                         f"{'×'.join(s['dims']) or 'scalar'} | {s['mean']:.4g} | {s['first_step_mean']:.4g} | "
                         f"{s['last_step_mean']:.4g} |")
        lines += ["", "| agent type | mean reward per agent and step |", "|---|---|"]
        lines += [f"| {a} | {v:.4g} |" for a, v in summary["reward"].items()]
        lines += [""] + [f"![{f.caption}]({f.file})" for f in ep_figs] + [""]
    md = "\n".join(lines)
    write_atomic(out / "report.md", md)
    write_atomic(out / "report.html", markdown_page(md, out, f"Run {run.path.name}: {info['model']}"))
    return Report(out / "report.md", out / "report.html", train_figs + ep_figs, findings)


def make_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the figures, ``report.md`` and ``report.html`` of the run at ``path``; return report.md's path."""
    return build_report(path, out).markdown


def write_tensorboard(path: str | Path, out: str | Path) -> int | None:
    """TensorBoard scalars of every metrics.csv column into ``out``; None when tensorboard is not installed,
    else the number of rows written."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard is an optional extra
        return None
    rows = RunDir(path).read_metrics()
    writer = SummaryWriter(str(out))
    try:
        for r in rows:
            step = int(float(r["iteration"]))
            for k, v in r.items():
                if k != "iteration" and v not in (None, ""):
                    writer.add_scalar(k, float(v), step)
    finally:
        writer.close()
    return len(rows)
