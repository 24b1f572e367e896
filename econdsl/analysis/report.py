"""One report for a sweep or comparison directory: markdown plus a self-contained HTML page.

Everything in the report is read from the runs' own files (``metrics.csv``, the final evaluation
rollout, best-response results), through :mod:`econdsl.analysis.runs`; nothing is recomputed or
hard-coded per model. The outcome table has one row per quantity (the mean reward of each agent
type, every named economic series of the evaluation episode, ε per type when best responses were
run) and one column per variant, each cell the mean ± standard deviation over seeds.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..trainer.fileio import write_atomic, write_figure
from . import runs
from .diff import diff_files
from .sweep import Plan, load_plan, status_path


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def text(self) -> str:
        if not self.values:
            return "–"
        if self.n == 1 or self.std <= 1e-9 * abs(self.mean):  # equal up to float rounding
            return fmt(self.mean)
        return f"{fmt(self.mean)} ± {fmt(self.std)}"


def fmt(v: float) -> str:
    """Numbers at a readable precision: 4 significant digits, no scientific notation for everyday sizes."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(v)
    if a != 0 and (a >= 1e7 or a < 1e-3):
        return f"{v:.3e}"
    if a >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


@dataclass
class Summary:
    """What the report shows, gathered from the run directories."""

    out: Path
    plan: Plan
    variants: list[str]
    labels: dict[str, str]  # variant -> human label
    rows: list[str]  # quantity names, in display order
    table: dict[str, dict[str, Cell]]  # quantity -> variant -> cell
    curves: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]]  # metric -> variant -> [(x, y) per seed]
    status: dict[str, str]  # point id -> finished | running/interrupted | missing | failed
    per_seed: list[dict[str, object]]  # one row per finished point: variant, seed, every quantity

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["quantity"] + [f"{self.labels[v]} mean" for v in self.variants]
                   + [f"{self.labels[v]} std" for v in self.variants] + [f"{self.labels[v]} n" for v in self.variants])
        for q in self.rows:
            cells = [self.table[q].get(v, Cell()) for v in self.variants]
            w.writerow([q] + [c.mean for c in cells] + [c.std for c in cells] + [c.n for c in cells])
        return buf.getvalue()


def summarize(out: str | Path) -> Summary:
    """Gather every finished run of a sweep directory."""
    out = Path(out)
    plan = load_plan(out)
    variants = plan.variants()
    labels = {}
    table: dict[str, dict[str, Cell]] = {}
    rows: list[str] = []
    curves: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]] = {}
    status: dict[str, str] = {}
    per_seed: list[dict[str, object]] = []

    def add(q: str, variant: str, v: float) -> None:
        if q not in table:
            table[q] = {}
            rows.append(q)
        table[q].setdefault(variant, Cell()).values.append(float(v))

    for p in plan.points:
        labels.setdefault(p.variant, p.label)
        rd = out / p.run_dir
        if not status_path(out, p).exists():
            status[p.id] = "unfinished" if rd.exists() else "missing"
            continue
        status[p.id] = "finished"
        run = runs.load_run(rd, p.file)
        row: dict[str, object] = {"variant": p.label, "seed": p.seed}
        for q, v in run.outcomes().items():
            add(q, p.variant, v)
            row[q] = v
        per_seed.append(row)
        for metric, (x, y) in run.curves().items():
            curves.setdefault(metric, {}).setdefault(p.variant, []).append((x, y))
    return Summary(out, plan, variants, labels, rows, table, curves, status, per_seed)


# ---------------------------------------------------------------- figures


def _figures(s: Summary, fig_dir: Path) -> list[tuple[str, Path]]:
    """Training curves (one figure per metric, variants overlaid, band = min..max over seeds) and
    a bar chart of the reward outcomes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, Path]] = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for metric, by_variant in s.curves.items():
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for k, v in enumerate(s.variants):
            seeds = by_variant.get(v)
            if not seeds:
                continue
            n = min(len(x) for x, _ in seeds)
            x = seeds[0][0][:n]
            ys = np.stack([y[:n] for _, y in seeds])
            c = colors[k % len(colors)]
            ax.plot(x, ys.mean(0), color=c, label=f"{s.labels[v]} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})")
            if len(seeds) > 1:
                ax.fill_between(x, ys.min(0), ys.max(0), color=c, alpha=0.2, linewidth=0)
        ax.set_xlabel("iteration")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = fig_dir / f"curve_{_fname(metric)}.png"
        write_figure(fig, path, dpi=90)
        plt.close(fig)
        made.append((f"Training curve: {metric}", path))
    rewards = [q for q in s.rows if q.startswith("mean reward")]
    if rewards and s.variants:
        fig, axes = plt.subplots(1, len(rewards), figsize=(3.2 * len(rewards), 3.2), squeeze=False)
        for ax, q in zip(axes[0], rewards, strict=True):
            cells = [s.table[q].get(v, Cell()) for v in s.variants]
            xs = np.arange(len(s.variants))
            ax.bar(xs, [c.mean for c in cells], yerr=[c.std for c in cells], color=colors[: len(xs)], capsize=3)
            ax.set_xticks(xs, [s.labels[v] for v in s.variants], rotation=30, ha="right", fontsize=7)
            ax.set_title(q, fontsize=9)
        fig.tight_layout()
        path = fig_dir / "outcomes_rewards.png"
        write_figure(fig, path, dpi=90)
        plt.close(fig)
        made.append(("Mean rewards at the end of training (mean ± sd over seeds)", path))
    return made


def _fname(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s)


# ---------------------------------------------------------------- the diff section


def _diff_markdown(s: Summary) -> str:
    files: list[str] = []
    for p in s.plan.points:
        if p.file not in files:
            files.append(p.file)
    parts = []
    if len(files) > 1:
        for f in files[1:]:
            try:
                parts.append(diff_files(files[0], f).to_markdown())
            except Exception as e:  # noqa: BLE001 - a diff must never stop a report
                parts.append(f"(no diff of `{files[0]}` and `{f}`: {e.__class__.__name__})")
    overrides = {p.variant: p.overrides for p in s.plan.points if p.overrides}
    if overrides:
        names = list(dict.fromkeys(k for ov in overrides.values() for k, _ in ov))
        lines = ["Overrides of each variant (`--set`):", "",
                 "| variant | " + " | ".join(f"`{n}`" for n in names) + " |",
                 "|---|" + "---|" * len(names)]
        for v, ov in overrides.items():
            d = dict(ov)
            lines.append(f"| {s.labels[v]} | " + " | ".join(d.get(n, "") for n in names) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) if parts else "All runs use the same model."


# ---------------------------------------------------------------- renderers


def _outcome_markdown(s: Summary) -> str:
    if not s.rows:
        return "No finished runs yet."
    head = "| quantity | " + " | ".join(s.labels[v] for v in s.variants) + " |"
    lines = [head, "|---|" + "---:|" * len(s.variants)]
    runs = {v: max((s.table[q].get(v, Cell()).n for q in s.rows), default=0) for v in s.variants}

    def text(q: str, v: str) -> str:
        c = s.table[q].get(v, Cell())
        # A quantity some runs lack (ε where best responses ran on some seeds only) says how many it has.
        return c.text() + (f" (n={c.n})" if 0 < c.n < runs[v] else "")

    for q in s.rows:
        lines.append(f"| {q} | " + " | ".join(text(q, v) for v in s.variants) + " |")
    return "\n".join(lines)


def _settings_text(s: Summary) -> str:
    n_seeds = len({p.seed for p in s.plan.points})
    done = sum(v == "finished" for v in s.status.values())
    flags = " ".join(s.plan.train_args) or "none"
    return (f"{len(s.variants)} variant(s) × {n_seeds} seed(s) = {len(s.plan.points)} run(s), {done} finished. "
            f"Preset: `{s.plan.preset or 'model defaults'}`; extra training flags: `{flags}`. "
            "Each cell is the mean ± standard deviation over seeds of the runs' own final evaluation and "
            "metrics files; series are averaged over the evaluation episode's steps and the population.")


def render_markdown(s: Summary, title: str, figures: list[tuple[str, Path]]) -> str:
    out = [f"# {title}", "", _settings_text(s), "", "## Equilibrium outcomes", "", _outcome_markdown(s), ""]
    unfinished = [k for k, v in s.status.items() if v != "finished"]
    if unfinished:
        out += [f"Not finished ({len(unfinished)}): " + ", ".join(unfinished), ""]
    out += ["## Figures", ""]
    for caption, path in figures:
        out += [f"![{caption}]({path.relative_to(s.out).as_posix()})", ""]
    out += ["## Model differences", "", _diff_markdown(s), ""]
    return "\n".join(out)


def _md_table_to_html(md: str) -> str:
    """The report's own pipe tables (no nested pipes except escaped ones) as an HTML table."""
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    if len(lines) < 2:
        return f"<p>{html.escape(md)}</p>"

    def cells(ln: str) -> list[str]:
        parts = ln.strip().strip("|").replace("\\|", "\x00").split("|")
        return [html.escape(c.strip().replace("\x00", "|").strip("`")) for c in parts]

    out = ["<table>", "<tr>" + "".join(f"<th>{c}</th>" for c in cells(lines[0])) + "</tr>"]
    for ln in lines[2:]:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells(ln)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_html(s: Summary, title: str, figures: list[tuple[str, Path]]) -> str:
    css = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
           "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
           "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
           "td:first-child,th:first-child{text-align:left}img{max-width:100%}")
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(_settings_text(s))}</p>",
            "<h2>Equilibrium outcomes</h2>", _md_table_to_html(_outcome_markdown(s)), "<h2>Figures</h2>"]
    for caption, path in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        body.append(f"<figure><img alt=\"{html.escape(caption)}\" src=\"data:image/png;base64,{data}\">"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    body.append("<h2>Model differences</h2>")
    for block in _diff_markdown(s).split("\n\n"):
        body.append(_md_table_to_html(block) if block.lstrip().startswith("|") else f"<p>{html.escape(block)}</p>")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{css}</style></head><body>{''.join(body)}</body></html>")


def write_report(out: str | Path, title: str = "Comparison") -> dict[str, Path]:
    """Write report.md, report.html, outcomes.csv and outcomes.json into the sweep directory."""
    s = summarize(out)
    figures = _figures(s, s.out / "figures")
    paths = {"markdown": s.out / "report.md", "html": s.out / "report.html", "csv": s.out / "outcomes.csv",
             "json": s.out / "outcomes.json"}
    write_atomic(paths["markdown"], render_markdown(s, title, figures))
    write_atomic(paths["html"], render_html(s, title, figures))
    write_atomic(paths["csv"], s.to_csv())
    write_atomic(paths["json"], json.dumps({
        "variants": [{"id": v, "label": s.labels[v]} for v in s.variants],
        "table": {q: {v: {"mean": c.mean, "std": c.std, "n": c.n, "values": c.values}
                      for v, c in s.table[q].items()} for q in s.rows},
        "runs": s.per_seed, "status": s.status}, ensure_ascii=False, indent=1, default=float))
    return paths
