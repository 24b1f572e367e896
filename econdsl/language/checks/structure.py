"""Structure: transitions, rewards, used actions, unused declarations.

Codes: E501 a state without exactly one ``next`` transition, E502 an action that no reward or transition
depends on, E503 an agent type without exactly one reward, W501 an unused constant, parameter or
function. (E504 and E505 come from the names check and the resolver.)
"""

from __future__ import annotations

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import Resolved
from ._sites import constant_exprs, curriculum_consts, index_words, names_in, sites


def check_structure(r: Resolved, diags: Diagnostics) -> None:
    _transitions(r, diags)
    _rewards(r, diags)
    _actions_used(r, diags)
    _unused(r, diags)


def _transitions(r: Resolved, diags: Diagnostics) -> None:
    seen: dict[str, ast.Equation] = {}
    for eq in r.equations:
        if not eq.is_next:
            continue
        if eq.name in seen:
            diags.add("E501", f"`{eq.name}` has a second transition (the first is on line {seen[eq.name].span.line})",
                      eq.target_span, "a state changes exactly once per step: merge the two equations")
        seen[eq.name] = eq
    for s in r.symbols.values():
        if s.kind == "state" and s.name not in seen:
            diags.add("E501", f"the state `{s.name}` has no transition", s.decl.span,
                      f"add `next {index_words(r, s)} = ...` to the step section "
                      f"(`next {index_words(r, s)} = {index_words(r, s)}` keeps it constant)")


def _rewards(r: Resolved, diags: Diagnostics) -> None:
    for name, ag in r.agents.items():
        rewards = [d for d in ag.decls if isinstance(d, ast.Reward)]
        if not rewards:
            diags.add("E503", f"agent type `{name}` has no reward", ag.name_span,
                      "add `reward <expression>` to its block: what the agent maximises each step")
        for extra in rewards[1:]:
            diags.add("E503", f"agent type `{name}` has more than one reward", extra.span,
                      "combine them into one expression")


def _actions_used(r: Resolved, diags: Diagnostics) -> None:
    """An action is used when a reward or a transition depends on it, directly or through quantities."""
    defs: dict[str, list[ast.Expr]] = {}
    for eq in r.equations:
        if not eq.is_next:
            defs.setdefault(eq.name, []).append(eq.value)
    roots: list[ast.Expr] = [eq.value for eq in r.equations if eq.is_next]
    roots += [d.value for ag in r.agents.values() for d in ag.decls if isinstance(d, ast.Reward)]
    used: set[str] = set()
    stack = list(roots)
    while stack:
        e = stack.pop()
        for n in names_in(e):
            if n in used:
                continue
            used.add(n)
            stack.extend(defs.get(n, ()))
            fn = r.functions.get(n)
            if fn is not None:
                stack.append(fn.body)
    for heads in r.heads.values():
        for h in heads:
            for k, comp in enumerate(h.components):
                # A component with a single value is a fixed choice: it cannot matter, so it need not be used.
                if comp in used or (not h.continuous and h.sizes[k] == 1):
                    continue
                diags.add("E502", f"the action `{comp}` of `{h.agent}` is never used", h.decl.span,
                          "use it in a step equation that a reward or a transition depends on, or remove it")


def _unused(r: Resolved, diags: Diagnostics) -> None:
    used: set[str] = set()
    for site in sites(r):
        if site.ctx != "function":
            used.update(names_in(site.expr))
    for e in constant_exprs(r):
        used.update(names_in(e))
    for it in r.model.items:
        if isinstance(it, ast.Agent):
            for d in it.decls:
                if isinstance(d, ast.Param) and d.dist is not None:
                    used.update(names_in(d.dist))
    if r.curriculum is not None:
        # A constant that the curriculum anneals is used by the schedule.
        used.update(c.name for c in r.curriculum.items if isinstance(c, ast.Anneal))
    # Function bodies only count when the function itself is used (possibly by another function).
    pending = dict(r.functions)
    while True:
        ready = [f for name, f in pending.items() if name in used]
        if not ready:
            break
        for f in ready:
            del pending[f.name]
            used.update(names_in(f.body))
    for s in r.symbols.values():
        if s.kind in ("const", "param", "function") and s.name not in used:
            what = {"const": "constant", "param": "parameter", "function": "function"}[s.kind]
            diags.add("W501", f"the {what} `{s.name}` is never used", s.decl.span, "remove it, or use it")
    for name, c in curriculum_consts(r).items():
        if name not in used:
            diags.add("W501", f"the curriculum constant `{name}` is never used", c.span, "remove it, or use it")
