"""``econdsl plot RUN``: training curves and the evaluation episode of a run, as PNGs and report.md."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Where to write the figures (default: RUN).")
def plot(run: str, out: str | None) -> None:
    """Write PNG figures and a short report.md for the run directory RUN."""
    from ..trainer.report import make_report
    from ..trainer.run import RunError

    try:
        report = make_report(run, out)
    except RunError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {report}")
