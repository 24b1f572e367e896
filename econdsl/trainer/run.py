"""A run directory: the resolved model and config, metrics.csv, atomic checkpoints, evaluation series.

Layout of ``RUN/``::

    model.econ        the model file as trained (plus model.json, the resolved model after variants)
    config.json       the training config, curriculum constants, model overrides, preset, seed
    metrics.csv       one row per iteration (stable column names: ``Type/reward``, ``time/env_steps_per_s`` …)
    checkpoint.pt     policies, optimisers, normaliser statistics, RNG states (written via tmp + rename)
    eval.npz          the final evaluation episode: every state and step quantity by its .econ name
    tb/               TensorBoard events, when tensorboard is installed
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..language.ast import to_json
from ..language.printer import print_model
from . import files

PER_TYPE_METRICS = ("reward", "training", "entropy_coef", "policy_loss", "value_loss", "entropy", "approx_kl",
                    "clipfrac", "grad_norm", "explained_variance")
TIME_METRICS = ("time/rollout_s", "time/update_s", "time/env_steps_per_s", "time/agent_steps_per_s")


class RunError(RuntimeError):
    """A run directory that cannot be created, written or resumed."""


def metric_columns(types: list[str], consts: list[str], series: list[str]) -> list[str]:
    cols = ["iteration", "env_steps"]
    cols += [f"{a}/{m}" for a in types for m in PER_TYPE_METRICS]
    cols += [f"curriculum/{c}" for c in consts]
    cols += [f"econ/{s}" for s in series]
    return cols + list(TIME_METRICS)


def check_writable(path: Path) -> None:
    """Fail before anything is created if ``path`` cannot become a run directory."""
    if path.exists() and not path.is_dir():
        raise RunError(f"output `{path}` exists and is not a directory")
    parent = path if path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunError(f"output directory `{path}` cannot be created: `{parent}` is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunError(f"output directory `{path}` is not writable (no write permission on `{parent}`)")


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._tb = None

    @property
    def config_path(self) -> Path:
        return self.path / files.CONFIG

    @property
    def checkpoint_path(self) -> Path:
        return self.path / files.CHECKPOINT

    @property
    def metrics_path(self) -> Path:
        return self.path / files.METRICS

    def exists(self) -> bool:
        return self.config_path.exists()

    def create(self, model_file: str, resolved, info: dict[str, Any], columns: list[str]) -> None:
        """Write the model, the config and the metrics header; the directory appears only once complete."""
        check_writable(self.path)
        if self.path.exists() and any(self.path.iterdir()):
            raise RunError(f"`{self.path}` already holds files; pass --resume to continue a run there, or "
                           f"choose another --out")
        tmp = self.path.with_name(self.path.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
        except OSError as e:
            raise RunError(f"cannot create the run directory `{self.path}`: {e.strerror}") from None
        try:
            # The flat, resolved model (variants, imports and overrides applied): self-contained, so that a
            # run can be resumed or re-checked without the files it came from.
            header = f"# Resolved from {model_file} by econdsl train.\n"
            (tmp / "model.econ").write_text(header + print_model(resolved.model), encoding="utf-8")
            (tmp / "model.json").write_text(json.dumps(to_json(resolved.model), ensure_ascii=False, indent=1),
                                            encoding="utf-8")
            (tmp / files.CONFIG).write_text(json.dumps(dict(info, columns=columns), ensure_ascii=False,
                                                        indent=2), encoding="utf-8")
            with open(tmp / files.METRICS, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(columns)
            if self.path.exists():
                self.path.rmdir()
            tmp.rename(self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def info(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunError(f"`{self.path}` is not a run directory (no readable config.json: {e})") from None

    # ---------------------------------------------------------------- metrics

    def columns(self) -> list[str]:
        return self.info()["columns"]

    def append_metrics(self, row: dict[str, float], columns: list[str]) -> None:
        with open(self.metrics_path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["" if row.get(c) is None else _fmt(row[c]) for c in columns])
        if self._tb is None:
            self._tb = _tensorboard(self.path / "tb")
        if self._tb:
            for k, v in row.items():
                if k != "iteration":
                    self._tb.add_scalar(k, v, int(row["iteration"]))

    def truncate_metrics(self, iterations: int) -> None:
        """Keep the header and the rows of iterations < ``iterations`` (resume after a checkpoint)."""
        with open(self.metrics_path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) < iterations]
        tmp = self.metrics_path.with_suffix(".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(keep)
        os.replace(tmp, self.metrics_path)

    def read_metrics(self) -> list[dict[str, str]]:
        with open(self.metrics_path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    # ---------------------------------------------------------------- checkpoints

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Atomic: a reader (or a crash) sees either the previous checkpoint or this one, never half of one."""
        tmp = self.checkpoint_path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def load_checkpoint(self, map_location: str | None = None) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        return torch.load(self.checkpoint_path, map_location=map_location, weights_only=False)

    def close(self) -> None:
        if self._tb:
            self._tb.close()


def _fmt(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return False
    return SummaryWriter(str(path))
