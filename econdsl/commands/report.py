"""``econdsl report RUN``: judge a run (health), draw it, and write report.md and a self-contained report.html."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Where to write the report (default: RUN).")
@click.option("--open", "open_", is_flag=True, help="Open report.html in the web browser.")
@click.option("--tensorboard", is_flag=True,
              help="Also write metrics.csv as TensorBoard scalars to OUT/tensorboard "
                   "(needs the optional extra: pip install 'econdsl[tensorboard]').")
def report(run: str, out: str | None, open_: bool, tensorboard: bool) -> None:
    """Write the health verdict, figures, report.md and report.html (figures embedded) of the run directory
    RUN. Exit 0 even when the health section finds problems: the report says what they are."""
    from pathlib import Path

    from ..trainer.report import build_report, write_tensorboard
    from ..trainer.run import RunError

    try:
        rep = build_report(run, out)
    except RunError as e:
        raise click.ClickException(str(e)) from None
    for f in rep.findings:
        if f.level != "ok":
            click.echo(f"{f.mark} {f.check}: {f.detail}")
    click.echo(f"wrote {rep.markdown}\n      {rep.html}")
    if tensorboard:
        where = Path(out or run) / "tensorboard"
        n = write_tensorboard(run, where)
        if n is None:
            click.echo("tensorboard is not installed: no scalars written (pip install 'econdsl[tensorboard]')",
                       err=True)
        else:
            click.echo(f"wrote {n} rows of TensorBoard scalars to {where} (tensorboard --logdir {where})")
    if open_:
        import webbrowser

        if not webbrowser.open(rep.html.resolve().as_uri()):
            click.echo(f"no web browser found; open {rep.html} yourself", err=True)
