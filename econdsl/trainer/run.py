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

import contextlib
import csv
import io
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ..language.ast import to_json
from ..language.printer import print_model
from . import checkpoint, fileio, files
from .fileio import RunError

__all__ = ["RunDir", "RunError", "check_writable", "metric_columns"]

PER_TYPE_METRICS = ("reward", "training", "entropy_coef", "policy_loss", "value_loss", "entropy", "approx_kl",
                    "clipfrac", "grad_norm", "explained_variance")
TIME_METRICS = ("time/rollout_s", "time/update_s", "time/env_steps_per_s", "time/agent_steps_per_s")


PARTIAL_SUFFIX = ".econdsl-partial"  # a run directory being assembled: `.NAME.econdsl-partial`
PARTIAL_MARKER = ".econdsl-partial"  # inside it until it is complete: proves econdsl made it
MAX_CONFIG_BYTES = 16 << 20
MAX_METRICS_BYTES = 1 << 30


def metric_columns(types: list[str], consts: list[str], series: list[str], per_head: tuple[str, ...] = ()) -> list[str]:
    """The columns of metrics.csv; ``per_head``: the per-head metrics (``Consumer/entropy[hours]`` …)."""
    cols = ["iteration", "env_steps"]
    cols += [f"{a}/{m}" for a in types for m in PER_TYPE_METRICS]
    cols += list(per_head)
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
        """Write the model, the config and the metrics header; the directory appears only once complete.

        It is assembled in ``.NAME.econdsl-partial`` next to it, a name only econdsl creates (a leftover of a
        killed attempt is removed; a directory of that name that econdsl did not make is never touched)."""
        check_writable(self.path)
        if self.path.exists() and any(self.path.iterdir()):
            raise RunError(f"`{self.path}` already holds files; pass --resume to continue a run there, or "
                           f"choose another --out")
        tmp = self.path.with_name(f".{self.path.name}{PARTIAL_SUFFIX}")
        _remove_own_partial(tmp)
        try:
            tmp.mkdir(parents=True)
            (tmp / PARTIAL_MARKER).write_bytes(b"")
        except OSError as e:
            if (tmp / PARTIAL_MARKER).exists():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                _rmdir_quietly(tmp)
            raise RunError(f"cannot create the run directory `{self.path}`: {fileio.describe(e)}") from None
        try:
            # The flat, resolved model (variants, imports and overrides applied): self-contained, so that a
            # run can be resumed or re-checked without the files it came from. The source path is quoted as
            # JSON so that no character of it (a newline, a carriage return) can end the comment.
            header = f"# Resolved from {json.dumps(str(model_file))} by econdsl train.\n"
            fileio.write_atomic(tmp / "model.econ", header + print_model(resolved.model))
            fileio.write_atomic(tmp / "model.json", json.dumps(to_json(resolved.model), ensure_ascii=False,
                                                               indent=1))
            fileio.write_atomic(tmp / files.CONFIG, json.dumps(dict(info, columns=columns), ensure_ascii=False,
                                                               indent=2))
            fileio.write_atomic(tmp / files.METRICS, _csv_line(columns))
            (tmp / PARTIAL_MARKER).unlink()
            if self.path.exists():
                self.path.rmdir()
            tmp.rename(self.path)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                raise RunError(f"cannot create the run directory `{self.path}`: {fileio.describe(e)}") from None
            raise
        fileio.fsync_dir(self.path.parent)

    def info(self) -> dict[str, Any]:
        try:
            text = _read_limited(self.config_path, MAX_CONFIG_BYTES)
            info = json.loads(text)
        except (OSError, ValueError) as e:
            raise RunError(f"`{self.path}` is not a run directory (no readable config.json: {e})") from None
        problem = _info_problem(info)
        if problem:
            raise RunError(f"`{self.config_path}` is damaged: {problem}")
        return info

    # ---------------------------------------------------------------- metrics

    def columns(self) -> list[str]:
        return self.info()["columns"]

    def append_metrics(self, row: dict[str, float], columns: list[str]) -> None:
        line = _csv_line(["" if row.get(c) is None else _fmt(row[c]) for c in columns])
        try:
            with open(self.metrics_path, "a", newline="", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:  # a cut row is dropped on --resume (truncate_metrics)
            raise RunError(f"cannot write `{self.metrics_path}`: {fileio.describe(e)}") from None
        if self._tb is None:
            self._tb = _tensorboard(self.path / "tb")
        if self._tb:
            for k, v in row.items():
                if k != "iteration":
                    self._tb.add_scalar(k, v, int(row["iteration"]))

    def truncate_metrics(self, iterations: int) -> None:
        """Keep the header and the complete rows of iterations < ``iterations`` (resume after a checkpoint);
        a row cut by a crash or a full disk, or any line that is not a row of this run, is dropped."""
        columns = self.columns()
        keep = [columns] + [r for r in self._rows(columns) if int(float(r[0])) < iterations]
        fileio.write_atomic(self.metrics_path, "".join(_csv_line(r) for r in keep))

    def _rows(self, columns: list[str]) -> list[list[str]]:
        """The data rows of metrics.csv that have every column and a whole iteration number."""
        try:
            text = _read_limited(self.metrics_path, MAX_METRICS_BYTES)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise RunError(f"cannot read `{self.metrics_path}`: {e}") from None
        out = []
        lines = text.splitlines(keepends=True)
        for k, r in enumerate(csv.reader(line.rstrip("\r\n") for line in lines)):
            if k == 0 or len(r) != len(columns) or not lines[k].endswith("\n"):
                continue  # the header, a short row, or a last row cut before its newline
            try:
                it = float(r[0])
            except ValueError:
                continue
            if math.isfinite(it) and it == int(it) and it >= 0:
                out.append(r)
        return out

    def read_metrics(self) -> list[dict[str, str]]:
        columns = self.columns()
        return [dict(zip(columns, r, strict=True)) for r in self._rows(columns)]

    def sync_metrics(self) -> None:
        """Make the rows written so far durable (before a checkpoint that counts on them)."""
        try:
            fd = os.open(self.metrics_path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- checkpoints

    def save_checkpoint(self, state: dict[str, Any], model_digest: str) -> None:
        """Atomic: a reader (or a crash, or a full disk) sees either the previous checkpoint or this one."""
        self.sync_metrics()
        checkpoint.save(self.checkpoint_path, state, model_digest)

    def load_checkpoint(self, model_digest: str | None, map_location: str | None = None) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        return checkpoint.load(self.checkpoint_path, model_digest, map_location)

    def remove_temporaries(self) -> None:
        fileio.remove_temporaries(self.path)

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


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _info_problem(info: Any) -> str | None:
    """What makes a parsed config.json unusable, or None (its settings are validated by the trainer)."""
    if not isinstance(info, dict):
        return "it is not a JSON object"
    if not isinstance(info.get("config"), dict):
        return "it has no `config` object"
    cols = info.get("columns")
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols) or cols[0] != "iteration":
        return "its `columns` are not the metric columns of a run"
    if not isinstance(info.get("model_path", ""), str):
        return "`model_path` is not a path"
    for key in ("curriculum_consts", "model_overrides"):
        d = info.get(key, {})
        if not isinstance(d, dict) or not all(isinstance(k, str) and (_is_number(v) or isinstance(v, list) and all(
                _is_number(x) for x in v)) for k, v in d.items()):
            return f"`{key}` is not a mapping of names to numbers"
    if not _is_architecture(info.get("architecture", {})):
        return "`architecture` is not the description of the networks that econdsl records"
    return None


def _is_architecture(arch: Any) -> bool:
    """The recorded networks (session.architecture) have the shape that resume, reports and health read."""
    if arch is None:  # runs from before it was recorded
        return True
    types = arch.get("types", {}) if isinstance(arch, dict) else None
    return isinstance(types, dict) and all(
        isinstance(t, dict) and isinstance(t.get("action_nvec", []), list)
        and all(isinstance(n, int) and not isinstance(n, bool) for n in t.get("action_nvec", []))
        for t in types.values())


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _read_limited(path: Path, limit: int) -> str:
    """A text file of at most ``limit`` bytes (a run's own files are far smaller; anything larger is not)."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit:,} bytes, the limit for this file")
    return data.decode("utf-8")


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def _remove_own_partial(tmp: Path) -> None:
    """Remove a half-assembled run directory left by a killed ``train``, but only one econdsl made."""
    if not tmp.exists() and not tmp.is_symlink():
        return
    if tmp.is_dir() and not tmp.is_symlink():
        if (tmp / PARTIAL_MARKER).is_file():
            shutil.rmtree(tmp)
            return
        if not any(tmp.iterdir()):
            tmp.rmdir()
            return
    raise RunError(f"`{tmp}` exists and was not made by econdsl; it is left alone: move it away or choose "
                   f"another --out")
