"""``econdsl train FILE``: compile a model and train every agent type under its curriculum."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"`{v}`: expected NAME=VALUE (e.g. --set lr[Firm]=0.002)", param_hint="--set")
        out[name.strip()] = value.strip()
    return out


def _settings_epilog() -> str:
    from ..trainer.settings_doc import settings_text

    # \b keeps click from re-wrapping the table
    return ("Training settings, for --set NAME=VALUE or the model's train section (also: `econdsl settings`):"
            "\n\n\b\n" + settings_text(width=76))


@click.command(epilog=_settings_epilog())
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--preset", help="A preset of the model's train section (e.g. quick).")
@click.option("--iterations", type=click.IntRange(min=1), help="Training iterations.")
@click.option("--envs", type=click.IntRange(min=1), help="Parallel environment replicas.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="torch device.")
@click.option("--backend", type=click.Choice(["torch", "triton"]), help="Environment backend.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), help="Seed of policies, sampling and environment.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="A training setting (lr[Firm]=0.002), curriculum constant (N_a=40) or model constant.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/MODEL[-PRESET]).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--no-curriculum", is_flag=True,
              help="Ignore the curriculum: all actions allowed, all types train from the start.")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress (default: a bar on a terminal, else one plain line per 5% of the run).")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes sharing the replicas (torchrun; gloo on CPU, NCCL on GPUs; needs --out; at most "
                   "the machine's CPU count). The "
                   "metrics equal one process's with the same --envs and --seed. See docs/scale.md.")
def train(file: str, preset: str | None, iterations: int | None, envs: int | None, device: str | None,
          backend: str | None, seed: int | None, sets: tuple[str, ...], out: str | None, resume: bool,
          no_curriculum: bool, quiet: bool, nproc: int) -> None:
    """Train every agent type of FILE with PPO under the model's curriculum.

    Writes a run directory (config, metrics.csv, checkpoints, a final evaluation episode); plot it with
    `econdsl plot RUN`.
    """
    from ..language import EconError
    from ..scale import distributed
    from ..trainer.config import ConfigError
    from ..trainer.curriculum import CurriculumError
    from ..trainer.run import RunError
    from ..trainer.session import prepare
    from ..trainer.session import train as run_training
    from ..trainer.trainer import NonFiniteError

    if not resume and not Path(file).is_file():  # a resumed run is rebuilt from its own model.econ
        raise click.BadParameter(f"file `{file}` does not exist", param_hint="FILE")
    rank, world = distributed.world_rank()
    if nproc > (os.cpu_count() or 1):  # each process trains a share of the replicas on its own CPU
        raise click.BadParameter(f"{nproc} processes: at most {os.cpu_count() or 1}, the number of CPUs of this "
                                 f"machine", param_hint="--nproc")
    if (nproc > 1 or world > 1) and out is None:
        raise click.UsageError("a run spread over processes needs --out RUN_DIR (every process opens it)")
    if nproc > 1 and device == "cuda":
        import torch

        if torch.cuda.device_count() < nproc:  # NCCL needs a GPU per process
            raise click.UsageError(f"--nproc {nproc} --device cuda: this machine has {torch.cuda.device_count()} "
                                   f"CUDA device(s); use at most that many processes")
    if nproc > 1 and world == 1:  # start the processes with PyTorch's launcher; each runs this command
        args = [file, *(["--preset", preset] if preset else []), *_opt("--iterations", iterations),
                *_opt("--envs", envs), *_opt("--device", device), *_opt("--backend", backend),
                *_opt("--seed", seed), *[x for v in sets for x in ("--set", v)], "--out", out,
                *(["--resume"] if resume else []), *(["--no-curriculum"] if no_curriculum else []),
                *(["--quiet"] if quiet else [])]
        import subprocess

        sys.exit(subprocess.call(distributed.torchrun_command(nproc, args)))
    flags = {"iterations": iterations, "envs": envs, "device": device, "backend": backend, "seed": seed,
             "curriculum": False if no_curriculum else None}
    if world > 1:
        distributed.join_group()
    say = click.echo if rank == 0 else (lambda *_a, **_k: None)  # one process reports: rank 0
    quiet = quiet or rank > 0
    try:
        session = prepare(file, out, preset, _parse_sets(sets), flags, resume, (rank, world))
    except EconError as e:
        say(e.diagnostics.render(color=sys.stderr.isatty()), err=True)
        sys.exit(1)
    except (ConfigError, CurriculumError) as e:
        raise click.UsageError(str(e)) from None
    except RunError as e:
        raise click.ClickException(str(e)) from None
    tr = session.trainer
    cfg = tr.cfg
    agents = sum(tr.env.n_agents[a] for a in tr.types)
    say(f"training {tr.resolved.name}: {', '.join(f'{a}×{tr.env.n_agents[a]}' for a in tr.types)} "
        f"({agents} agents) × {cfg.envs} envs{f' over {world} processes' if world > 1 else ''}, "
        f"{cfg.iterations} iterations of {tr.steps} steps, {cfg.device}/{cfg.backend}, seed {cfg.seed} → "
        f"{session.run.path}" + (f" (resumed at iteration {session.resumed_from})" if resume else ""))
    try:
        if quiet:
            summary = run_training(session)
        else:
            summary = _with_progress(session, run_training)
    except KeyboardInterrupt:
        say(f"\ninterrupted at iteration {tr.iteration}; checkpoint saved. Continue with:\n"
            f"  econdsl train {file} --out {session.run.path} --resume", err=True)
        sys.exit(130)
    except (NonFiniteError, CurriculumError, RunError) as e:
        raise click.ClickException(str(e)) from None
    if not session.writes:
        distributed.leave_group()
        return
    done = summary["session_env_steps"]
    say(f"done: {tr.env_steps:,} env-steps"
        + (f" ({done:,} since the resume)" if done != tr.env_steps else "")
        + f" in {summary['wall_time_s']:.0f} s ({done / max(summary['wall_time_s'], 1e-9):,.0f} env-steps/s "
          f"incl. evaluation)")
    say("evaluation episode, mean reward per agent and step: "
        + ", ".join(f"{a} {v:.4g}" for a, v in summary["reward"].items()))
    say(f"plot it: econdsl plot {session.run.path}")
    distributed.leave_group()


def _opt(name: str, value) -> list[str]:
    return [] if value is None else [name, str(value)]


def _with_progress(session, run_training):
    from ..trainer.progress import TrainProgress, describe_stage

    tr = session.trainer
    with TrainProgress(tr.cfg.iterations, tr.iteration, tr.types) as progress:

        def on_iteration(m: dict[str, float], _stage: str) -> None:
            progress.update(tr.iteration, m, describe_stage(tr.curriculum, int(m["iteration"])))

        return run_training(session, on_iteration)
