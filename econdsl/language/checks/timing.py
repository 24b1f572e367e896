"""Timing: the step section runs top to bottom once per step, after every agent has acted.

Codes: E401 a cycle among step equations, E402 a quantity read before its equation (or a ``next``
value read at all), E403 an observation of an action or a step quantity (agents observe the state at
the start of the step, before anyone acts).
"""

from __future__ import annotations

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import Resolved
from ._sites import sites


def _reads(e: ast.Node):
    """(name, node) for every name an expression reads, including ``next(x)`` calls."""
    for n in e.walk():
        if isinstance(n, ast.Name):
            yield n.id, n
        elif isinstance(n, ast.Index):
            yield n.base, n


def check_timing(r: Resolved, diags: Diagnostics) -> None:
    order: dict[str, int] = {}
    deps: dict[str, set[str]] = {}
    for k, eq in enumerate(r.equations):
        sym = r.symbols.get(eq.name)
        if not eq.is_next and eq.name not in order and sym is not None and sym.decl is eq:
            order[eq.name] = k
            deps[eq.name] = {n for n, _ in _reads(eq.value) if _is_quantity(r, n)}

    for site in sites(r):
        for n in site.expr.walk():
            if isinstance(n, ast.Call) and n.func == "next":
                diags.add("E402", "the next value of a state cannot be read", n.span,
                          "read the state itself (its value at the start of the step), or the step quantity "
                          "that its transition uses")
        if site.ctx == "observe":
            for name, node in _reads(site.expr):
                sym = r.symbols.get(name)
                if sym is not None and sym.kind in ("action", "quantity"):
                    what = "an action" if sym.kind == "action" else "a step quantity"
                    diags.add("E403", f"`{name}` is {what}, only known after every agent has acted", node.span,
                              "observe states, parameters and constants; to see last step's value, keep it "
                              "in a state")
        if site.ctx not in ("step", "next"):
            continue
        eq = site.node
        assert isinstance(eq, ast.Equation)
        seen: set[str] = set()
        for name, node in _reads(site.expr):
            if name in seen or name not in order or name in site.bound:
                continue
            if order[name] < site.position:
                continue
            seen.add(name)
            cycle = None if eq.is_next else _cycle(eq.name, name, deps)
            if cycle is not None:
                path = " → ".join(cycle)
                diags.add("E401", f"`{eq.name}` depends on itself: {path}", node.span,
                          "break the cycle: one of these must use a state (last step's value) instead")
            else:
                diags.add("E402", f"`{name}` is used before its equation (line {r.equations[order[name]].span.line})",
                          node.span, "equations run in the order written: move its definition above this line")


def _is_quantity(r: Resolved, name: str) -> bool:
    sym = r.symbols.get(name)
    return sym is not None and sym.kind == "quantity"


def _cycle(start: str, via: str, deps: dict[str, set[str]]) -> list[str] | None:
    """A dependency path start → via → ... → start, if there is one."""
    if via == start:
        return [start, start]
    stack: list[tuple[str, list[str]]] = [(via, [start, via])]
    seen = {via}
    while stack:
        node, path = stack.pop()
        for d in sorted(deps.get(node, ())):
            if d == start:
                return path + [start]
            if d not in seen:
                seen.add(d)
                stack.append((d, path + [d]))
    return None
