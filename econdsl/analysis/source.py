"""Canonical source text of AST fragments, for showing expressions in diffs and reports.

All printing is the language front end's (``econdsl/language/printer.py``), so a diff shows exactly the
text the printer gives the model; this module only adapts it to the fragments a diff shows.
"""

from __future__ import annotations

from ..language import ast, printer


def expr(e: ast.Node | None) -> str:
    """The canonical source form of an expression, bounds or unit ('' for None)."""
    if e is None:
        return ""
    if isinstance(e, ast.Bounds):
        return f"in [{printer.print_expr(e.lo)}, {printer.print_expr(e.hi)}]"
    if isinstance(e, ast.Unit):
        return printer.print_unit(e)
    return printer.print_expr(e)
