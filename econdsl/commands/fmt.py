"""``econdsl fmt FILE...``: rewrite .econ files in the canonical layout, keeping comments and blank lines.

Exit status: 0 when every file is formatted (or, with ``--check``/``--diff``, already was), 1 when a file has
syntax errors, cannot be formatted, or (``--check``, ``--diff``) would change; 2 for a usage error.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

import click

from ..language.formatter import FormatError, format_source


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one rename, keeping its permissions: an interrupted run leaves the old file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--check", is_flag=True, help="Write nothing; list the files that would change and exit 1 if any.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a unified diff of the changes.")
def fmt(files: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Format .econ files in place: one statement per line (broken after an operator or a comma when longer
    than 120 columns), four-space blocks, aligned trailing comments; every comment, blank-line group and
    parenthesis written is kept and the model is unchanged. `-` formats standard input to standard output."""
    failed = changed = False
    for name in files:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            click.echo(f"{name}: cannot read: {e.__class__.__name__}: {e}", err=True)
            failed = True
            continue
        label = "<stdin>" if name == "-" else name
        try:
            out, diags = format_source(text, label)
        except FormatError as e:
            click.echo(str(e), err=True)
            failed = True
            continue
        if out is None:
            click.echo(diags.render(), err=True)
            failed = True
            continue
        if name == "-" and not (check or show_diff):
            click.echo(out, nl=False)
            continue
        if out == text:
            continue
        changed = True
        if show_diff:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), out.splitlines(True),
                                                    f"a/{label}", f"b/{label}")), nl=False)
        elif check:
            click.echo(f"would reformat {label}")
        else:
            _write_atomic(Path(name), out)
            click.echo(f"reformatted {label}", err=True)
    sys.exit(1 if failed or ((check or show_diff) and changed) else 0)
