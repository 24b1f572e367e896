"""What a training run shows while it runs: a progress display that fits an 80-column terminal, or one
plain line every few iterations when the output is not a terminal (CI logs, ``nohup``, a pipe).

The terminal display is rich's :class:`~rich.progress.Progress` with two lines per run::

    it 297/400 ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━  74% 0:08:47 eta 0:02:57
    426 env-steps/s | Government trains from it. 320 | κ=0.94 | reward C 4.86 F -6.6e+04

Everything after the bar is one line cropped to the terminal's width, so that nothing wraps.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any


def describe_stage(curriculum: Any, e: int) -> str:
    """The curriculum at iteration ``e`` in words: who trains when, which types' actions are still limited,
    the annealed constants (``Firm trains from iteration 80; Firm actions limited (30% allowed); κ=0.55``)."""
    import torch

    if not curriculum.enabled:
        return "no curriculum (every type trains, every action allowed)"
    parts = []
    waiting = sorted(((s, a) for a, s in curriculum.start.items() if not curriculum.training(a, e)))
    if waiting:
        first_s, first_a = waiting[0]
        parts.append(f"{first_a} trains from iteration {first_s}"
                     + "".join(f", {a} from {s}" for s, a in waiting[1:]))
    for a in curriculum.allows:
        m = curriculum.mask(a, e)
        if m is None:
            continue
        full = torch.zeros_like(m)
        for col, n in enumerate(curriculum.layouts[a].nvec):
            full[col, :n] = True
        if not torch.equal(m, full):
            parts.append(f"{a} actions limited ({100 * int(m.sum()) / int(full.sum()):.0f}% allowed)")
    if not parts:
        parts.append("all types train, all actions allowed")
    parts += [f"{k}={v:.3g}" for k, v in curriculum.runtime_consts(e).items()]
    return "; ".join(parts)


def _short(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2g}"


def clock(seconds: float) -> str:
    """``H:MM:SS``."""
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def status_text(metrics: dict[str, float], types: list[str], stage: str) -> str:
    """The line under the bar: throughput, the curriculum stage, then the rewards (cropped last)."""
    rewards = " ".join(f"{a} {_short(metrics[f'{a}/reward'])}" for a in types if f"{a}/reward" in metrics)
    sps = metrics.get("time/env_steps_per_s", float("nan"))
    return f"{sps:,.0f} env-steps/s | {stage} | reward {rewards}"


class TrainProgress:
    """Progress of one training run. Use as a context manager; call :meth:`update` after every iteration.

    ``console``: where to draw (default: stderr). When it is not a terminal, a plain line is printed every
    ``every`` iterations (default: about 20 lines per run) and at the last iteration."""

    def __init__(self, total: int, start: int, types: list[str], stream: IO[str] | None = None,
                 terminal: bool | None = None, width: int | None = None, every: int | None = None):
        self.total, self.start, self.types = total, start, types
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.every = every or max(1, (total - start) // 20)
        self.width = width
        self._t0 = time.monotonic()
        self._progress = None
        self._task = None

    def __enter__(self) -> TrainProgress:
        if self.terminal:
            self._progress = _progress(self.stream, self.width)
            self._progress.__enter__()
            self._task = self._progress.add_task("it", total=self.total, completed=self.start, status="")
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def update(self, iteration: int, metrics: dict[str, float], stage: str) -> None:
        """``iteration``: iterations done so far (the trainer's counter after the update)."""
        status = status_text(metrics, self.types, stage)
        if self._progress is not None:
            self._progress.update(self._task, completed=iteration, status=status)
            return
        done = iteration - self.start
        if done % self.every and iteration != self.total:
            return
        print(self.plain_line(iteration, status), file=self.stream, flush=True)

    def plain_line(self, iteration: int, status: str) -> str:
        """``it 40/400 (10%) 0:01:02 eta 0:09:18 | 426 env-steps/s | …``: ETA from the mean pace so far."""
        elapsed = time.monotonic() - self._t0
        done = iteration - self.start
        eta = elapsed / done * (self.total - iteration) if done > 0 else float("nan")
        eta_text = clock(eta) if eta == eta else "-:--:--"
        return (f"it {iteration}/{self.total} ({100 * iteration / max(self.total, 1):.0f}%) {clock(elapsed)} "
                f"eta {eta_text} | {status}")


def _progress(stream: IO[str], width: int | None):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _TwoLines(Progress):
        """The bar on one line, the run's status on the next, cropped to the console's width."""

        def get_renderables(self):
            yield self.make_tasks_table(self.tasks)
            for task in self.tasks:
                yield Text(task.fields.get("status", ""), no_wrap=True, overflow="ellipsis", style="dim")

    console = Console(file=stream, width=width, force_terminal=True) if width else Console(file=stream)
    columns = [TextColumn("it"), MofNCompleteColumn(), BarColumn(bar_width=None), TaskProgressColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    return _TwoLines(*columns, console=console, transient=False, expand=True)
