"""``allow`` conditions on continuous actions: bounds that narrow an interval (``allow Firm if p <= 10 + e``).

A condition on a continuous component ``x`` must be a conjunction (``&&``) of comparisons of ``x`` with an
expression that does not mention it: ``x <= hi``, ``x < hi``, ``x >= lo``, ``x > lo``, or the same with
``x`` on the right. The curriculum evaluates the expressions at each iteration and intersects them with
the declared interval (``<`` and ``<=`` give the same bound: the action is continuous).
"""

from __future__ import annotations

from . import ast

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _mentions(e: ast.Expr, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in e.walk())


def _conjuncts(e: ast.Expr) -> list[ast.Expr]:
    if isinstance(e, ast.BinOp) and e.op == "&&":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def interval_limits(cond: ast.Expr, components: tuple[str, ...]) -> list[tuple[str, str, ast.Expr]] | ast.Expr:
    """The limits ``cond`` puts on continuous ``components``: (component, "lo" | "hi", expression) each.
    Returns the offending sub-expression instead when ``cond`` is not a conjunction of such limits."""
    out: list[tuple[str, str, ast.Expr]] = []
    comps = set(components)
    for c in _conjuncts(cond):
        if not (isinstance(c, ast.BinOp) and c.op in _FLIP):
            return c
        op, left, right = c.op, c.left, c.right
        if not (isinstance(left, ast.Name) and left.id in comps):
            left, right, op = right, left, _FLIP[op]
        if not (isinstance(left, ast.Name) and left.id in comps) or _mentions(right, comps):
            return c
        out.append((left.id, "hi" if op in ("<", "<=") else "lo", right))
    return out
