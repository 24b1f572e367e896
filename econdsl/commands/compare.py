"""``econdsl compare A.econ B.econ …``: train model variants side by side, then one report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..analysis.sweep import Plan, Sweep, SweepError, parse_sets, plan


def train_passthrough(iterations: int | None, envs: int | None, device: str | None = None) -> list[str]:
    """`econdsl train` flags shared by every run of a sweep."""
    args: list[str] = ["--device", device] if device else []
    if iterations is not None:
        args += ["--iterations", str(iterations)]
    if envs is not None:
        args += ["--envs", str(envs)]
    return args


def checked(p: Plan) -> Plan:
    """``p`` once every point's settings are valid; exit 2 (usage) or 1 (a model with errors) otherwise."""
    from ..analysis.sweep import validate
    from ..language import EconError

    try:
        validate(p)
    except SweepError as e:
        raise click.UsageError(str(e)) from None
    except EconError as e:
        click.echo(e.diagnostics.render(color=sys.stderr.isatty()), err=True)
        sys.exit(1)
    return p


def engine_of(engine: str, jobs: int, address: str | None, cpus_per_run: float, gpus_per_run: float):
    """The sweep engine the options ask for; a usage error (exit 2) for options that do not fit it or a
    missing Ray, with how to install it."""
    from ..scale import EngineUnavailable, make_engine

    if engine == "local" and (address is not None or cpus_per_run != 1 or gpus_per_run != 0):
        raise click.UsageError("--address, --cpus-per-run and --gpus-per-run need --engine ray")
    if engine == "ray" and jobs != 1:
        raise click.UsageError("--jobs is for --engine local; on Ray, --cpus-per-run and the cluster's size decide "
                               "how many runs execute at once")
    try:
        return make_engine(engine, jobs, address, cpus_per_run, gpus_per_run)
    except EngineUnavailable as e:
        raise click.UsageError(str(e)) from None
    except (ConnectionError, RuntimeError) as e:  # no Ray cluster at --address, too few GPUs
        raise click.UsageError(f"--engine ray: {e}") from None


def finish(sw: Sweep, report: bool, title: str) -> None:
    """Run the sweep, then write its report; exit 1 if a run failed or a sweep file cannot be written, 130 on
    Ctrl-C."""
    from ..trainer.fileio import RunError

    try:
        outcomes = sw.run()
    except SweepError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except RunError as e:  # sweep.json or a status file could not be written (disk full, read-only)
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo(f"interrupted; rerun the same command to resume ({sw.out})", err=True)
        sys.exit(130)
    failed = [o for o in outcomes if o.status == "failed"]
    if report:
        from ..analysis.report import write_report

        try:
            paths = write_report(sw.out, title=title)
        except RunError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        click.echo(f"report: {paths['markdown']}\n        {paths['html']}")
    if failed:
        click.echo(f"{len(failed)} run(s) failed: " + ", ".join(o.point.id for o in failed), err=True)
        sys.exit(1)


def run_options(fn):
    """The options `compare` and `sweep` share: seeds, parallelism and what every training run gets."""
    options = [
        click.option("--seeds", default=1, show_default=True, type=click.IntRange(1, 10_000),
                     help="Seeds per model or grid point (0..K-1 + --seed-base)."),
        click.option("--seed-base", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1)),
        click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 1024),
                     help="Training processes at once."),
        click.option("--preset", default=None, help="Training preset of the models (e.g. quick)."),
        click.option("--iterations", type=click.IntRange(min=1), default=None,
                     help="Override the training iterations of every run."),
        click.option("--envs", type=click.IntRange(min=1), default=None,
                     help="Override the parallel replicas of every run."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="torch device of every run."),
        click.option("--report/--no-report", default=True, show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return engine_options(fn)


def engine_options(fn):
    """Where the runs execute: ``--engine local|ray`` and Ray's options (sweep, compare, best-response)."""
    options = [
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: on this machine; ray: one Ray task per run (docs/scale.md)."),
        click.option("--address", default=None, metavar="HOST:PORT",
                     help="Ray cluster to use (default: a local Ray instance sized to this machine)."),
        click.option("--cpus-per-run", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
                     help="CPUs of each Ray task (also its torch threads)."),
        click.option("--gpus-per-run", default=0.0, show_default=True, type=click.FloatRange(min=0),
                     help="GPUs of each Ray task (give --device cuda too)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE[,…]",
              help="Applied to every model (several values make a grid).")
@run_options
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Comparison directory (default sweeps/compare-<models>). Rerunning resumes it.")
def compare(files: tuple[str, ...], seeds: int, seed_base: int, sets: tuple[str, ...], jobs: int,
            preset: str | None, iterations: int | None, envs: int | None, device: str | None, out: str | None,
            report: bool, engine: str, address: str | None, cpus_per_run: float, gpus_per_run: float) -> None:
    """Train each model (reusing finished runs), then write report.md and report.html with the
    equilibrium outcomes side by side, the training curves and the model diff."""
    try:
        p = plan(list(files), parse_sets(sets), seeds, seed_base, preset, train_passthrough(iterations, envs, device))
    except SweepError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    p = checked(p)
    out_dir = Path(out or "sweeps/compare-" + "-".join(Path(f).stem for f in files))
    runner = engine_of(engine, jobs, address, cpus_per_run, gpus_per_run)
    finish(Sweep(out_dir, p, jobs, click.echo, runner), report,
           title="Comparison of " + ", ".join(Path(f).name for f in files))
