"""Canonical source text of AST fragments, for showing expressions in diffs and reports.

The language front end owns the full pretty-printer (``econdsl/language/printer.py``); when it is present,
expressions go through it so that a diff shows exactly what ``econdsl fmt`` would print. Until then this
module prints expressions itself with the grammar's precedence table, adding only the parentheses that
the grammar needs.
"""

from __future__ import annotations

import math

from ..language import ast

try:  # the language helper's printer, when it has landed
    from ..language import printer as _printer  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on what has landed
    _printer = None

# Binding strength of each construct, from econ.lark (higher binds tighter).
_PREC = {"?:": 0, "||": 1, "&&": 2, "!": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "^": 8}
_CMP = {"==", "!=", "<", "<=", ">", ">="}


def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.Ternary):
        return 0
    if isinstance(e, ast.BinOp):
        return _PREC["cmp"] if e.op in _CMP else _PREC.get(e.op, 9)
    if isinstance(e, ast.UnOp):
        return _PREC["!"] if e.op == "!" else _PREC["neg"]
    if isinstance(e, ast.Num) and e.value < 0:
        return _PREC["neg"]
    return 10


def _num(v: float, text: str = "") -> str:
    if text:
        return text
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _wrap(e: ast.Expr, need: int) -> str:
    s = expr(e)
    return f"({s})" if _prec(e) < need else s


def expr(e: ast.Node | None) -> str:
    """The canonical source form of an expression (or grid, unit, bounds)."""
    if e is None:
        return ""
    if _printer is not None and hasattr(_printer, "print_expr") and isinstance(e, ast.Expr):
        return _printer.print_expr(e)  # pragma: no cover - depends on what has landed
    if isinstance(e, ast.Num):
        return _num(e.value, e.text)
    if isinstance(e, ast.Str):
        return f'"{e.value}"'
    if isinstance(e, ast.Inf):
        return "Inf"
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Index):
        return f"{e.base}[{', '.join(expr(i) for i in e.indices)}]"
    if isinstance(e, ast.Call):
        args = ", ".join(expr(a) for a in e.args)
        if e.params:
            args += "; " + ", ".join(expr(p) for p in e.params)
        return f"{e.func}({args})"
    if isinstance(e, ast.Reduce):
        cond = f" if {expr(e.cond)}" if e.cond is not None else ""
        return f"{e.op}({expr(e.body)} for {e.var} in {e.over}{cond})"
    if isinstance(e, ast.BinOp):
        p = _prec(e)
        if e.op == "^":  # right-associative; the exponent is a `factor` (may carry a sign)
            return f"{_wrap(e.left, p + 1)}^{_wrap(e.right, _PREC['neg'])}"
        if e.op in _CMP:  # comparisons do not chain
            return f"{_wrap(e.left, p + 1)} {e.op} {_wrap(e.right, p + 1)}"
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, ast.UnOp):
        p = _prec(e)
        return f"{e.op}{_wrap(e.operand, p)}"
    if isinstance(e, ast.Ternary):
        return f"{_wrap(e.cond, 1)} ? {expr(e.then)} : {expr(e.other)}"
    if isinstance(e, ast.Array):
        return "[" + ", ".join(expr(i) for i in e.items) + "]"
    if isinstance(e, ast.Unit):
        return unit(e)
    if isinstance(e, ast.Bounds):
        return f"in [{expr(e.lo)}, {expr(e.hi)}]"
    if isinstance(e, ast.GridSet):
        return "{" + ", ".join(expr(v) for v in e.values) + "}"
    if isinstance(e, ast.GridRange):
        mid = f"{expr(e.step)}:" if e.step is not None else ""
        return f"{expr(e.start)}:{mid}{expr(e.stop)}"
    if isinstance(e, ast.GridPopulation):
        return e.population
    if isinstance(e, ast.GridInterval):
        return f"[{expr(e.lo)}, {expr(e.hi)}]"
    raise TypeError(f"no source form for {type(e).__name__}")


def unit(u: ast.Unit | None) -> str:
    """``::money/goods``-style text of a unit ('' when there is none)."""
    if u is None:
        return ""
    num = [n if p == 1 else f"{n}^{p}" for n, p in u.factors if p > 0]
    den = [n if p == -1 else f"{n}^{-p}" for n, p in u.factors if p < 0]
    text = "*".join(num) or "1"
    if den:
        text += "/" + "/".join(den)
    return "::" + text


def grids(d: ast.Action) -> str:
    """The domain of an action as written: ``{0, 500} × 0:10``."""
    parts = []
    for g in d.grids:
        s = expr(g)
        parts.append(f"({s})" if isinstance(g, ast.GridRange) and len(d.grids) > 1 else s)
    return " × ".join(parts)
