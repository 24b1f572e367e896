"""Lists, matrices and strings where the compiler takes one number (E308).

A list ``[a, b, ...]`` means one value per member only as the whole value of a parameter or of a state's
initial value inside an agent block, with entries that are compile-time numbers (the length is
check_shapes' E306). A list or matrix is a table only as the value of a model `const` (resolve.py's
tables), and a string is a value only in the `train` section; neither of those is a site. Anywhere else
the compiler has no meaning for them: report them here, located, instead of letting a model that checks
clean fail in lowering (the fuzz campaign found ``[j] * hours[j]`` doing so).
"""

from __future__ import annotations

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import NotConstant, Resolved, eval_const
from ._sites import Site, sites

_TABLE_HINT = "for a table of numbers, declare `const v = [a, b, c]` (or `[a b; c d]`) and read one entry `v[k]`"


def check_literals(r: Resolved, diags: Diagnostics) -> None:
    annealed = {c.name for c in r.curriculum.items if isinstance(c, ast.Anneal)} if r.curriculum else set()
    consts = {k: v for k, v in r.consts.items() if k not in annealed}  # annealed constants change in training
    for site in sites(r):
        e = site.expr
        if isinstance(e, ast.Array) and site.ctx in ("param", "init"):
            _per_member_list(r, e, site, consts, diags)
        else:
            _report_literals(e, diags, site)


def _per_member_list(r: Resolved, e: ast.Array, site: Site, consts: dict[str, float], diags: Diagnostics) -> None:
    name = getattr(site.node, "name", "")
    if site.agent is None:
        diags.add("E308", f"`{name}` is an economy-wide state: it has one value, not a list of {len(e.items)}",
                  e.span, "give one value, or declare the state inside an agent block to have one per member")
        return
    for x in e.items:
        if _report_literals(x, diags, site):
            continue
        try:
            eval_const(x, consts, r.tables)
        except NotConstant as err:
            if _reported_inside(diags, x.span):
                continue  # e.g. a state in a parameter's value (E206): one problem, one diagnostic
            diags.add("E308", f"the values listed for `{name}` must be compile-time numbers: {err.reason}",
                      err.node.span, "list numbers and constants; for a formula of the member, write it with "
                      "the index (`= 1 + 2 * j`) instead of a list")


def _report_literals(e: ast.Expr, diags: Diagnostics, site: Site) -> bool:
    """Report every list, matrix or string inside ``e`` (the outermost one of a nest); True if any."""
    if isinstance(e, ast.Array | ast.Matrix | ast.Str):
        diags.add("E308", _message(e, site), e.span, _hint(e, site))
        return True
    found = False
    for c in e.children():
        if isinstance(c, ast.Expr):
            found = _report_literals(c, diags, site) or found
    return found


def _message(e: ast.Expr, site: Site) -> str:
    if isinstance(e, ast.Str):
        return "a string is not a number: it can only be the value of a `train` setting"
    what = "a list" if isinstance(e, ast.Array) else "a matrix"
    if site.ctx in ("param", "init") and e is site.expr:
        return f"{what} cannot be the value of `{getattr(site.node, 'name', '')}`"
    return f"{what} cannot be used inside a formula: it is not one number"


def _hint(e: ast.Expr, site: Site) -> str:
    if isinstance(e, ast.Array) and site.ctx in ("param", "init"):
        return ("a list gives one value per member only as the whole value of a `param` or `state` "
                "(`param w = [16, 24, 32]`); " + _TABLE_HINT)
    if isinstance(e, ast.Str):
        return "write a number"
    return _TABLE_HINT


def _reported_inside(diags: Diagnostics, span: ast.Span) -> bool:
    """Whether an error already points inside ``span`` (same file)."""
    lo, hi = (span.line, span.col), (span.end_line, span.end_col)
    return any(d.is_error and d.span.file == span.file and lo <= (d.span.line, d.span.col) <= hi
               for d in diags.items)
