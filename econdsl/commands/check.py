"""``econdsl check FILE...``: parse, resolve and check models; print diagnostics and a summary."""

from __future__ import annotations

import json
import sys

import click

from ..language import check_file
from ..language.ast import to_json


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: machine-readable diagnostics for editors.")
@click.option("--emit", type=click.Choice(["ast", "resolved"]), default=None,
              help="Dump a pipeline stage as JSON instead of the summary.")
@click.option("--quiet", "-q", is_flag=True, help="Only diagnostics, no summary.")
def check(files: tuple[str, ...], fmt: str, emit: str | None, quiet: bool) -> None:
    """Check .econ models and report every problem. Exit 0 if clean, 1 if any model has errors."""
    failed = False
    reports = []
    color = sys.stdout.isatty()
    for path in files:
        result = check_file(path)
        failed |= result.diagnostics.has_errors()
        if emit is not None:
            node = result.ast if emit == "ast" else result.resolved_model
            click.echo(json.dumps(to_json(node), ensure_ascii=False, indent=1))
            continue
        if fmt == "json":
            reports.append({"file": path, "ok": not result.diagnostics.has_errors(),
                            "diagnostics": json.loads(result.diagnostics.to_json())})
            continue
        if len(result.diagnostics):
            click.echo(result.diagnostics.render(color=color))
        n_err, n_warn = len(result.diagnostics.errors), len(result.diagnostics.warnings)
        if result.diagnostics.has_errors():
            click.echo(f"{path}: {n_err} error(s), {n_warn} warning(s)")
        elif not quiet:
            click.echo(result.summary())
    if fmt == "json" and emit is None:
        click.echo(json.dumps(reports, ensure_ascii=False, indent=2))
    sys.exit(1 if failed else 0)
