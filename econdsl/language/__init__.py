"""The econdsl language front end: parse → resolve → check, each stage with a dumpable artifact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import ast
from .checks import run_checks
from .diagnostics import Diagnostics, EconError
from .resolve import Resolved, load_ast, resolve

__all__ = ["CheckResult", "EconError", "check_file", "check_model"]


@dataclass
class CheckResult:
    path: str
    ast: ast.Model | None  # the parsed file, before variants are applied
    resolved: Resolved | None
    diagnostics: Diagnostics

    @property
    def resolved_model(self) -> ast.Model | None:
        return self.resolved.model if self.resolved is not None else None

    def summary(self) -> str:
        from .summary import summarize

        return summarize(self)


def check_file(path: str | Path) -> CheckResult:
    """Run every front-end stage on a file; never raises for problems in the file."""
    from .parser import parse

    diags = Diagnostics()
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        diags.add("E104", f"cannot read `{path}`: {e.__class__.__name__}", ast.NOWHERE)
        return CheckResult(path, None, None, diags)
    tree = parse(text, path, Diagnostics())
    flat = load_ast(path, diags)
    if flat is None:
        return CheckResult(path, tree, None, diags)
    resolved = resolve(flat, diags, path)
    if not diags.has_errors():
        run_checks(resolved, diags)
    return CheckResult(path, tree, resolved, diags)


def check_model(path: str | Path) -> Resolved:
    """Parse, resolve and check; raise :class:`EconError` with every diagnostic if there is an error."""
    result = check_file(path)
    if result.diagnostics.has_errors() or result.resolved is None:
        raise EconError(result.diagnostics)
    return result.resolved
