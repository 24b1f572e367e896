"""Checkpoints that hold only tensors and plain data, and say which model and code wrote them.

A checkpoint is a ``torch.save`` of a plain dict (``FORMAT``, its version, the econdsl version, the hash of the
model it was trained on and the trainer's state). It is read with ``torch.load(weights_only=True)``: torch's
restricted unpickler builds tensors, numbers, strings, lists and dicts only, so a crafted file cannot run
code. Every way a file can be damaged, foreign or for another model ends in one :class:`RunError` that
names the file and the reason.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from .fileio import RunError, write_atomic

FORMAT = "econdsl-checkpoint"
FORMAT_VERSION = 1
# Keys of the trainer's state (Trainer.state_dict) and what each must hold.
STATE_KEYS = ("iteration", "env_steps", "policies", "optimizers", "generator", "torch_rng")
MAX_BYTES = 8 << 30  # far above any network this trainer builds; a larger file is not a checkpoint of ours


def model_hash(model: Any) -> str:
    """sha256 of the canonical text of the checked model (overrides applied): the same for the source file and
    for the run's own ``model.econ``, different as soon as an equation, constant or setting differs."""
    from ..language.printer import print_model

    return hashlib.sha256(print_model(model.resolved.model).encode("utf-8")).hexdigest()


def code_release() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("econdsl")
    except PackageNotFoundError:
        return None


def save(path: Path, state: dict[str, Any], model_digest: str) -> None:
    """Write ``state`` atomically (the previous checkpoint survives a crash or a full disk)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "econdsl": code_release(),
                "model_hash": model_digest, "state": state}, buf)
    write_atomic(path, buf.getvalue())


def load(path: Path, model_digest: str | None, map_location: str | None = None) -> dict[str, Any]:
    """The trainer state of the checkpoint at ``path``, checked to be ours, for this model and this code."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise RunError(f"cannot read the checkpoint `{path}`: {e.strerror}") from None
    if size == 0:
        raise RunError(f"the checkpoint `{path}` is empty (the run was probably killed while writing it); "
                       f"delete it to restart the run from scratch")
    if size > MAX_BYTES:
        raise RunError(f"`{path}` is {size:,} bytes, more than any econdsl checkpoint (limit {MAX_BYTES:,})")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any decoder failure means a damaged or foreign file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            reason = "it contains Python objects other than tensors and plain data, which are never loaded"
        raise RunError(f"`{path}` is not a readable econdsl checkpoint: {reason}") from None
    return _validate(data, path, model_digest)


def _same(value: Any, expected: Any) -> bool:
    """A header field equal to what this econdsl writes, of the same type (a tensor there would compare
    elementwise, and its truth value raise)."""
    return type(value) is type(expected) and value == expected


def _validate(data: Any, path: Path, model_digest: str | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RunError(f"`{path}` is not an econdsl checkpoint (it holds a {type(data).__name__}, not a dict)")
    if "format" in data or "state" in data:
        if not _same(data.get("format"), FORMAT):
            raise RunError(f"`{path}` is not an econdsl checkpoint (format {data.get('format')!r})")
        if not _same(data.get("format_version"), FORMAT_VERSION):
            raise RunError(f"`{path}` has checkpoint format version {data.get('format_version')!r}; this econdsl "
                           f"reads version {FORMAT_VERSION}")
        release = code_release()
        if not _same(data.get("econdsl"), release):
            raise RunError(f"`{path}` was written by econdsl {data.get('econdsl')}, this is econdsl {release}; "
                           f"resume it with the version that wrote it")
        if model_digest is not None and not _same(data.get("model_hash"), model_digest):
            raise RunError(f"`{path}` was trained on a different model (model hash {str(data.get('model_hash'))[:12]}, "
                           f"the run's model now hashes to {model_digest[:12]}); it cannot be loaded")
        state = data.get("state")
    else:  # written before checkpoints carried a header: accepted when its structure is right
        state = data
    _check_state(state, path)
    return state


def _check_state(state: Any, path: Path) -> None:
    def bad(what: str) -> RunError:
        return RunError(f"`{path}` is damaged: {what}")

    if not isinstance(state, dict) or any(k not in state for k in STATE_KEYS):
        missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
        raise bad(f"the trainer state lacks {', '.join(missing)}")
    for k in ("iteration", "env_steps"):
        if type(state[k]) is not int or state[k] < 0:
            raise bad(f"`{k}` is {state[k]!r}, not a count")
    for k in ("generator", "torch_rng"):
        if not isinstance(state[k], torch.Tensor) or state[k].dtype != torch.uint8:
            raise bad(f"`{k}` is not a random-generator state")
    for k in ("policies", "optimizers"):
        if not isinstance(state[k], dict) or not all(isinstance(v, dict) for v in state[k].values()):
            raise bad(f"`{k}` is not a dict per agent type")
    for agent, sd in state["policies"].items():
        for name, t in sd.items():
            if not isinstance(t, torch.Tensor):
                raise bad(f"the weight `{name}` of `{agent}` is not a tensor")
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise bad(f"the weight `{name}` of agent type `{agent}` holds non-finite values")
