"""``econdsl sweep FILE --set name=v1,v2,…``: train a Cartesian grid of variants, then one report."""

from __future__ import annotations

import sys

import click

from ..analysis.sweep import Sweep, SweepError, parse_ablations, parse_sets, plan
from .compare import checked, engine_of, finish, run_options, train_passthrough


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2,…",
              help="A constant, parameter, curriculum constant or training setting and the values to try "
                   "(repeatable; the grid is the Cartesian product).")
@click.option("--ablate", "ablations", multiple=True, metavar="'NAME=V [NAME=V …]'",
              help="One more variant of every grid point with these settings changed together (repeatable: "
                   "one ablation at a time, each against the unchanged point; its values replace a "
                   "one-valued --set of the same name).")
@run_options
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Sweep directory (default sweeps/<model>-sweep). Rerunning resumes it.")
def sweep(file: str, sets: tuple[str, ...], ablations: tuple[str, ...], seeds: int, seed_base: int, jobs: int,
          preset: str | None, iterations: int | None, envs: int | None, device: str | None, out: str | None,
          report: bool, engine: str, address: str | None, cpus_per_run: float, gpus_per_run: float) -> None:
    """Train every point of a parameter grid (resumable: finished points are skipped, interrupted ones
    resume from their checkpoint) and write report.md and report.html. With --ablate, every point is also
    trained with each ablation's settings changed, one ablation at a time."""
    from pathlib import Path

    try:
        grid = parse_sets(sets)
        ablate = parse_ablations(ablations)
        if not grid and not ablate:
            raise SweepError("give at least one --set name=v1,v2,… or --ablate name=v "
                             "(use `econdsl compare` for plain variants)")
        p = plan([file], grid, seeds, seed_base, preset, train_passthrough(iterations, envs, device), ablate)
    except SweepError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    p = checked(p)
    out_dir = Path(out or f"sweeps/{Path(file).stem}-sweep")
    runner = engine_of(engine, jobs, address, cpus_per_run, gpus_per_run)
    finish(Sweep(out_dir, p, jobs, click.echo, runner), report, title=f"Sweep of {Path(file).name}")
