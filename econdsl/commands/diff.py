"""``econdsl diff A.econ B.econ``: the semantic difference of two models, by name."""

from __future__ import annotations

import sys

import click

from ..analysis.diff import diff_files
from ..language.diagnostics import EconError


@click.command()
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 1 when the models differ (as `git diff --exit-code`).")
def diff(a: str, b: str, fmt: str, exit_code: bool) -> None:
    """Show what differs between two models: constants, parameters, states, actions, equations,
    rewards, observations, accounting, curriculum and training settings, compared by name after
    imports and `extends` are applied."""
    try:
        d = diff_files(a, b)
    except EconError as e:
        click.echo(e.diagnostics.render(color=sys.stderr.isatty()), err=True)
        sys.exit(2)
    click.echo({"text": d.to_text, "json": d.to_json, "markdown": d.to_markdown}[fmt]())
    sys.exit(1 if exit_code and not d.identical else 0)
