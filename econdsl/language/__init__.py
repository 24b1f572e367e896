"""The econdsl language front end: parse → resolve → check, each stage with a dumpable artifact."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from . import ast
from .checks import run_checks
from .diagnostics import Diagnostics, EconError
from .resolve import Resolved, flatten, resolve

__all__ = ["CheckResult", "EconError", "check_file", "check_model", "check_text"]


@dataclass
class CheckResult:
    path: str
    ast: ast.Model | None  # the parsed file, before variants are applied
    resolved: Resolved | None
    diagnostics: Diagnostics

    def summary(self) -> str:
        from .summary import summarize

        return summarize(self)


def check_file(path: str | Path) -> CheckResult:
    """Run every front-end stage on a file; never raises for problems in the file."""
    from .sources import read_source

    diags = Diagnostics()
    path = str(path)
    text = read_source(path, diags)
    if text is None:
        return CheckResult(path, None, None, diags)
    return check_text(text, path)


def check_text(text: str, path: str | Path) -> CheckResult:
    """Like :func:`check_file` for a source held in memory (an editor's unsaved buffer); ``path`` names it,
    and its imports are read relative to it."""
    from .parser import parse

    diags = Diagnostics()
    path = str(path)
    tree = resolved = None
    stage = "parse"
    try:
        tree = parse(text, path, diags)
        if tree is None:
            return CheckResult(path, None, None, diags)
        stage = "resolve"
        flat = flatten(tree, path, diags)
        if flat is None:
            return CheckResult(path, tree, None, diags)
        resolved = resolve(flat, diags, path)
        stage = "check"
        run_checks(resolved, diags)
    except RecursionError:
        diags.nested_too_deeply(path)
    except Exception as e:  # noqa: BLE001 - a checker bug must still end in a diagnostic, not a traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        diags.add("E100", f"internal error while trying to {stage} the model: {e.__class__.__name__}: {e} "
                  f"({Path(where.filename).name}:{where.lineno})", ast.Span(path, 1, 1, 1, 2),
                  "this is a bug in econdsl; please report it with the model file")
    return CheckResult(path, tree, resolved, diags)


def check_model(path: str | Path) -> Resolved:
    """Parse, resolve and check; raise :class:`EconError` with every diagnostic if there is an error."""
    result = check_file(path)
    if result.diagnostics.has_errors() or result.resolved is None:
        raise EconError(result.diagnostics)
    return result.resolved
