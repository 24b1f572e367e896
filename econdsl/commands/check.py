"""``econdsl check FILE...``: parse, resolve and check models; print diagnostics and a summary.

Exit status: 0 when every file is free of errors (warnings allowed), 1 when any file has an error,
2 for a usage error (click's).
"""

from __future__ import annotations

import json
import sys

import click

from ..language import check_file
from ..language.ast import to_json
from ..language.summary import resolved_json


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: machine-readable diagnostics for editors.")
@click.option("--emit", type=click.Choice(["ast", "resolved"]), default=None,
              help="Dump a pipeline stage as JSON instead of the summary: the parsed file, or the flat model "
                   "with its symbol table.")
@click.option("--quiet", "-q", is_flag=True, help="Only diagnostics, no summary.")
@click.option("--color/--no-color", default=None, help="Colour the diagnostics (default: when on a terminal).")
def check(files: tuple[str, ...], fmt: str, emit: str | None, quiet: bool, color: bool | None) -> None:
    """Check .econ models and report every problem. Exit 0 if clean, 1 if any model has errors."""
    failed = False
    reports = []
    color = sys.stdout.isatty() if color is None else color
    for path in files:
        result = check_file(path)
        diags = result.diagnostics
        failed |= diags.has_errors()
        if emit is not None:
            if emit == "ast":
                node = to_json(result.ast) if result.ast is not None else None
            else:
                node = resolved_json(result.resolved) if result.resolved is not None else None
            if node is None:
                click.echo(diags.render(color=False), err=True)
            click.echo(json.dumps(node, ensure_ascii=False, indent=1))
            continue
        if fmt == "json":
            reports.append({"file": path, "ok": not diags.has_errors(),
                            "errors": len(diags.errors), "warnings": len(diags.warnings),
                            "diagnostics": json.loads(diags.to_json())})
            continue
        if len(diags):
            click.echo(diags.render(color=color))
        if diags.has_errors() or result.resolved is None:
            click.echo(f"{path}: {len(diags.errors)} error(s), {len(diags.warnings)} warning(s)")
        elif not quiet:
            click.echo(result.summary())
    if fmt == "json" and emit is None:
        click.echo(json.dumps(reports, ensure_ascii=False, indent=2))
    sys.exit(1 if failed else 0)
