"""What ``econdsl check`` prints for a model: a summary of its shape, and the ``--emit resolved`` dump."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast
from .printer import print_expr, print_unit

if TYPE_CHECKING:
    from . import CheckResult
    from .resolve import Resolved


def feature_count(r: Resolved, e: ast.Expr) -> int:
    """Features one observation item contributes: a whole vector of population P (an unindexed quantity of
    P) counts size(P), ``onehot(i)`` the size of i's population, anything else 1."""
    a = e.args[0] if isinstance(e, ast.Call) and e.func == "onehot" and len(e.args) == 1 else None
    if isinstance(a, ast.Name | ast.Index):
        sym = r.symbols.get(a.id if isinstance(a, ast.Name) else a.base)
        if sym is not None and sym.levels is not None:  # a state declared `in 0:hi` or `in Pop`
            return sym.levels[1] + 1
        pop = r.population_of_index(a.id) if isinstance(a, ast.Name) else None
        return r.populations[pop].size if pop else 1
    for n in e.walk():
        if isinstance(n, ast.Name):
            sym = r.symbols.get(n.id)
            if sym is not None and sym.dims:
                size = 1
                for d in sym.dims:
                    size *= r.populations[d].size if d in r.populations else 1
                return size
    return 1


def observation_size(r: Resolved, agent: str) -> int:
    """Length of the observation vector of one agent of type ``agent``."""
    ag = r.agents[agent]
    return sum(feature_count(r, item) for d in ag.decls if isinstance(d, ast.Observe) for item in d.items)


def _dims(dims: tuple[str, ...]) -> str:
    return f"[{', '.join(dims)}]" if dims else ""


def summarize(result: CheckResult) -> str:
    r = result.resolved
    assert r is not None
    n_err = len(result.diagnostics.errors)
    status = "is clean" if not n_err else f"has {n_err} error(s)"
    lines = [f"{result.path}: model `{r.name}` {status} (horizon {r.horizon} step{'' if r.horizon == 1 else 's'})"]
    lines.append("  populations: " + ", ".join(f"{p.name}[{p.size}]" for p in r.populations.values()))
    by_kind: dict[str, list[str]] = {}
    for s in r.symbols.values():
        text = s.name + _dims(s.dims) + print_unit(s.unit)
        if s.kind == "const" and s.name in r.consts:
            text += f" = {r.consts[s.name]:g}"
        by_kind.setdefault(s.kind, []).append(text)
    for kind, label in (("const", "constants"), ("param", "parameters"), ("state", "states")):
        if by_kind.get(kind):
            lines.append(f"  {label} ({len(by_kind[kind])}): " + ", ".join(by_kind[kind]))
    lines.append("  actions (choices per head):")
    for agent, heads in r.heads.items():
        desc = []
        for h in heads:
            name = h.components[0] if len(h.components) == 1 else "(" + ", ".join(h.components) + ")"
            size = ("in " + " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in h.bounds)) if h.continuous else str(h.n)
            if h.per:
                desc.append(f"{name}[{h.per}] {size} × {r.populations[h.per].size} heads")
            else:
                desc.append(f"{name} {size}")
        lines.append(f"    {agent}: " + (", ".join(desc) or "none"))
    lines.append("  observation sizes: " + ", ".join(f"{a} {observation_size(r, a)}" for a in r.agents))
    n_q = sum(1 for e in r.equations if not e.is_next)
    lines.append(f"  step equations: {len(r.equations)} ({n_q} quantities, {len(r.equations) - n_q} transitions)")
    if r.externals:
        lines.append("  external flows: " + ", ".join(x.name for x in r.externals))
    warnings = result.diagnostics.warnings
    lines.append(f"  warnings: {len(warnings)}")
    unchecked = result.diagnostics.unchecked
    if unchecked:
        lines.append(f"  not checked ({len(unchecked)}): what the checks could not decide, so did not prove")
        for check, span, what in sorted(unchecked, key=lambda u: (u[1].line, u[1].col, u[0])):
            lines.append(f"    {check}, line {span.line}: {what}")
    return "\n".join(lines)


def resolved_json(r: Resolved) -> dict:
    """The ``--emit resolved`` dump: the flat model and its symbol table."""
    from .ast import to_json

    return {
        "name": r.name,
        "horizon": r.horizon,
        "populations": {p.name: {"size": p.size, "index": p.index, "indices": list(p.indices), "singleton": p.singleton}
                        for p in r.populations.values()},
        "consts": r.consts,
        "symbols": {s.name: {"kind": s.kind, "owner": s.owner, "dims": list(s.dims),
                             "unit": print_unit(s.unit)[2:] or None, "chooses": s.chooses}
                    for s in r.symbols.values()},
        "heads": {a: [{"components": list(h.components), "per": h.per, "sizes": list(h.sizes),
                       "values": [list(v) for v in h.values], "continuous": h.continuous,
                       "bounds": [list(b) for b in h.bounds]} for h in hs]
                  for a, hs in r.heads.items()},
        "observation_sizes": {a: observation_size(r, a) for a in r.agents},
        "equations": [("next " if e.is_next else "") + e.name + (f"[{', '.join(e.indices)}]" if e.indices else "")
                      + " = " + print_expr(e.value) for e in r.equations],
        "externals": {x.name: print_expr(x.value) for x in r.externals},
        "model": to_json(r.model),
    }
