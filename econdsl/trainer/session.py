"""One training run from a ``.econ`` file to a finished run directory: prepare, loop, checkpoint, evaluate.

Everything that can fail because of the user's input (the model, a setting, the output directory, the
environment build) is done in :func:`prepare`, before the run directory is created, so a bad flag or
path never leaves a partial run behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import checkpoint, evaluate, files
from .config import ConfigError, Layers, TrainConfig, build_layers
from .curriculum import CurriculumError
from .run import RunDir, RunError, check_writable, metric_columns
from .trainer import Trainer


@dataclass
class Session:
    trainer: Trainer
    run: RunDir
    columns: list[str]
    info: dict[str, Any]
    resumed_from: int = 0

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory (rank 0 of a run spread over processes)."""
        return self.trainer.shard is None or self.trainer.shard.rank == 0


def _load(model_path: str, overrides: dict[str, float]):
    import econdsl

    return econdsl.load(model_path, overrides=overrides or None)


def prepare(model_path: str, out: str | None, preset: str | None = None, sets: dict[str, str] | None = None,
            flags: dict[str, Any] | None = None, resume: bool = False, world: tuple[int, int] = (0, 1)) -> Session:
    """Compile the model, build the config and the trainer, and create (or reopen) the run directory.

    ``world = (rank, size)`` with size > 1: the run's replicas are spread over ``size`` processes in a
    ``torch.distributed`` process group (:mod:`econdsl.scale.distributed`); rank 0 prepares the run directory,
    the other ranks then build the same trainer from it and write nothing."""
    from ..language import check_model

    rank, size = world
    if size > 1 and rank > 0:
        return _join(out, flags, world)

    if resume:
        if out is None:
            raise RunError("--resume needs --out RUN_DIR (the run to continue)")
        run = RunDir(out)
        if not run.exists():
            raise RunError(f"cannot resume: `{out}` is not a run directory (no config.json)")
        info = run.info()
        cfg = _config_of(run, info)
        for name, value in (flags or {}).items():
            if value is not None and name == "iterations":
                cfg.set(name, value)  # a resumed run may be extended; every other setting is the run's own
        layers = Layers(cfg, info.get("curriculum_consts", {}), info.get("model_overrides", {}))
        if not _writable(run.path):
            raise RunError(f"cannot resume `{out}`: the directory is not writable")
        run.remove_temporaries()
    else:
        if not Path(model_path).is_file():
            raise RunError(f"model file `{model_path}` does not exist")
        resolved = check_model(model_path)
        layers = build_layers(resolved, preset, sets, flags)
        cfg = layers.config
        out = out or _default_out(resolved.name, preset)
        run = RunDir(out)
        check_writable(run.path)
        if run.path.exists() and any(run.path.iterdir()):
            raise RunError(f"`{out}` already holds files; pass --resume to continue that run, or choose another "
                           f"--out")
        info = {"model_path": str(model_path), "model": resolved.name, "preset": preset, "sets": sets or {},
                "config": cfg.to_dict(), "curriculum_consts": layers.curriculum_consts,
                "model_overrides": layers.model_overrides, "econdsl": code_version()}
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available on this machine")
    model = _model_as_trained(run, info) if resume else _load(model_path, layers.model_overrides)
    trainer = Trainer(model, cfg, layers.curriculum_consts, _shard(world, cfg))
    columns = metric_columns(trainer.types, [a.name for a in trainer.curriculum.anneals] if cfg.curriculum else [],
                             trainer.series_names, trainer.head_metric_names())
    resumed_from = 0
    if resume:
        check_architecture(info.get("architecture"), trainer, run.path)
        state = run.load_checkpoint(checkpoint.model_hash(model), map_location=cfg.device)
        if state is not None:
            _load_state(trainer, state, run.path)
            resumed_from = trainer.iteration
        run.truncate_metrics(resumed_from)
        columns = run.columns()
    else:
        info["architecture"] = architecture(trainer)
        run.create(model_path, trainer.resolved, info, columns)
    if size > 1:
        import torch.distributed as dist

        dist.barrier()  # the run directory is ready: the other ranks build their trainers from it
    return Session(trainer, run, columns, info, resumed_from)


def _shard(world: tuple[int, int], cfg: TrainConfig):
    """This process's share of the run's replicas; None for a run in one process."""
    if world[1] <= 1:
        return None
    from ..scale.distributed import Shard

    try:
        return Shard.split(world[0], world[1], cfg.envs)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _join(out: str | None, flags: dict[str, Any] | None, world: tuple[int, int]) -> Session:
    """A rank > 0 of a run spread over processes: once rank 0 has prepared the run directory, the same trainer
    (config, model as trained, checkpoint) with this rank's share of the replicas. Writes nothing."""
    import torch.distributed as dist

    dist.barrier()
    if out is None:
        raise RunError("a run spread over processes needs --out RUN_DIR")
    run = RunDir(out)
    info = run.info()
    cfg = _config_of(run, info)
    if (flags or {}).get("iterations") is not None:
        cfg.set("iterations", flags["iterations"])  # as rank 0 does for a resumed, extended run
    trainer = Trainer(_model_as_trained(run, info), cfg, info.get("curriculum_consts", {}), _shard(world, cfg))
    state = run.load_checkpoint(checkpoint.model_hash(trainer.model), map_location=cfg.device)
    if state is not None:
        _load_state(trainer, state, run.path)
    return Session(trainer, run, run.columns(), info, trainer.iteration)


def _config_of(run: RunDir, info: dict[str, Any]) -> TrainConfig:
    """The run's training config, validated: a damaged or edited config.json is a RunError naming it."""
    try:
        cfg = TrainConfig.from_dict(info["config"])
        cfg.validate()
    except (ConfigError, TypeError, ValueError, AttributeError) as e:
        raise RunError(f"`{run.config_path}` is damaged: {e}") from None
    return cfg


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def load_run(run_dir: str | Path) -> Trainer:
    """Rebuild a run's trainer (model, config, curriculum, policies with their observation normalisers) from
    its directory and its last checkpoint, without writing anything: metrics.csv, config.json and the
    checkpoint are only read. Raises :class:`RunError` for a directory without a config or a checkpoint,
    or whose recorded network architecture differs from the one this code builds for it."""
    run = RunDir(run_dir)
    if not run.exists():
        raise RunError(f"`{run_dir}` is not a run directory (no config.json)")
    info = run.info()
    cfg = _config_of(run, info)
    try:
        trainer = Trainer(_model_as_trained(run, info), cfg, info.get("curriculum_consts", {}))
    except (ConfigError, CurriculumError) as e:  # a run directory edited by hand, or from another econdsl
        raise RunError(f"`{run_dir}` cannot be rebuilt: {e}") from None
    check_architecture(info.get("architecture"), trainer, run.path)
    state = run.load_checkpoint(checkpoint.model_hash(trainer.model), map_location=cfg.device)
    if state is None:
        raise RunError(f"`{run_dir}` has no checkpoint yet")
    _load_state(trainer, state, run.path)
    return trainer


def _model_as_trained(run: RunDir, info: dict[str, Any]):
    """The run's own flat model.econ (the model as trained, even if the source file has changed since);
    runs from before model.econ was self-contained fall back to the source file they name."""
    from ..language import EconError

    try:
        return _load(str(run.path / "model.econ"), info.get("model_overrides", {}))
    except EconError:
        if not Path(info.get("model_path", "")).is_file():
            raise
        return _load(info["model_path"], info.get("model_overrides", {}))


def architecture(trainer: Trainer) -> dict[str, Any]:
    """Every setting that fixes the networks' shapes or their function, per agent type: a checkpoint is only
    meaningful in a network built the same way (a different activation would load without error)."""
    cfg = trainer.cfg
    types = {}
    for a, pol in trainer.policies.items():
        types[a] = {"obs_dim": int(trainer.env.obs_dim[a]), "action_nvec": [int(n) for n in pol.nvec],
                    "digit_features": [int(k) for k in pol.norm.digits.tolist()], "n_digits": pol.norm.n_digits}
    return {"hidden": [int(h) for h in cfg.hidden], "activation": cfg.activation, "shared_value": cfg.shared_value,
            "obs_norm": cfg.obs_norm, "obs_clip": cfg.obs_clip, "types": types}


def check_architecture(recorded: dict[str, Any] | None, trainer: Trainer, where: Path) -> None:
    """Refuse a run whose recorded architecture differs from the one built now (runs from before it was
    recorded are checked by the tensor shapes only, in :func:`_load_state`)."""
    if recorded is None:
        return
    now = json.loads(json.dumps(architecture(trainer)))
    if recorded == now:
        return
    diffs = [f"{k}: run {recorded.get(k)!r}, now {now.get(k)!r}" for k in sorted(set(recorded) | set(now))
             if recorded.get(k) != now.get(k)]
    raise RunError(f"`{where}`: the checkpoint's network architecture differs from the one built from its model "
                   f"and config ({'; '.join(diffs)}); it cannot be loaded")


def _load_state(trainer: Trainer, state: dict[str, Any], where: Path) -> None:
    try:
        trainer.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
        # torch's size mismatch, an agent type the checkpoint lacks, an optimiser state of another shape
        raise RunError(f"`{where / files.CHECKPOINT}` does not fit the networks built from the run's model and "
                       f"config, or is damaged ({(str(e).splitlines() or [type(e).__name__])[0]})") from None


def code_version() -> dict[str, Any]:
    """The installed econdsl version and, when it runs from a git checkout, its commit (``dirty``: tracked
    files differ from that commit, so the commit alone does not identify the code)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        out: dict[str, Any] = {"version": version("econdsl")}
    except PackageNotFoundError:
        out = {"version": None}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout: the version is all we know
        return out | {"git_commit": None}
    if commit.returncode != 0:
        return out | {"git_commit": None}
    return out | {"git_commit": commit.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}


def _default_out(name: str, preset: str | None) -> str:
    base = Path("runs") / (f"{name}-{preset}" if preset else name)
    path, k = base, 2
    while path.exists() and any(path.iterdir()):
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    return str(path)


def train(session: Session, on_iteration: Callable[[dict[str, float], str], None] | None = None) -> dict[str, Any]:
    """Run the remaining iterations; checkpoint every ``checkpoint_every`` and at the end or on Ctrl-C;
    then evaluate. Returns the evaluation summary."""
    tr, run, cfg = session.trainer, session.run, session.trainer.cfg
    digest = checkpoint.model_hash(tr.model)
    t0, steps0 = time.perf_counter(), tr.env_steps
    writes = session.writes  # the other ranks of a run spread over processes only compute
    try:
        while tr.iteration < cfg.iterations:
            e = tr.iteration
            metrics = tr.iterate()
            if writes and (e % cfg.log_every == 0 or tr.iteration == cfg.iterations):
                run.append_metrics(metrics, session.columns)
            if on_iteration is not None:
                on_iteration(metrics, tr.curriculum.stage(e))
            if writes and tr.iteration % cfg.checkpoint_every == 0:
                run.save_checkpoint(tr.state_dict(), digest)
    except KeyboardInterrupt:
        if writes:
            run.save_checkpoint(tr.state_dict(), digest)
        run.close()
        raise
    if not writes:
        return {}
    run.save_checkpoint(tr.state_dict(), digest)
    result = evaluate.evaluate(tr, cfg.eval_envs, cfg.eval_greedy)
    summary = evaluate.save(result, tr.resolved, run.path)
    summary["wall_time_s"] = time.perf_counter() - t0
    summary["env_steps"] = tr.env_steps
    summary["session_env_steps"] = tr.env_steps - steps0  # what wall_time_s was spent on (not before a resume)
    run.close()
    return summary
