"""``econdsl plot RUN``: the figures and report of a run (``econdsl report`` without its options)."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Where to write the figures (default: RUN).")
def plot(run: str, out: str | None) -> None:
    """Write PNG figures, report.md and report.html (with the health verdict) for the run directory RUN;
    `econdsl report RUN --open` also opens it."""
    from ..trainer.report import make_report
    from ..trainer.run import RunError

    try:
        report = make_report(run, out)
    except RunError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {report}")
