"""Timing: the step section runs top to bottom once per step, after every agent has acted.

Codes: E401 a cycle among step equations, E402 a quantity read before its equation (or a ``next``
value read at all), E403 an observation of an action or a step quantity (agents observe the state at
the start of the step, before anyone acts; with stages, an agent type also observes the actions and
quantities of the stages before its own), E405 an equation of a stage that reads an action chosen in a
later stage, E406 a stage that lists no agent type, E407 an invalid stage list (an unknown agent type,
one listed twice, an acting type in no stage, two stages of one name).
"""

from __future__ import annotations

from .. import ast
from ..diagnostics import Diagnostics, did_you_mean
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
    check_stages(r, diags)
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
                    _observed_in_time(r, diags, site.agent, name, sym, node, order)
        if site.ctx not in ("step", "next"):
            continue
        eq = site.node
        assert isinstance(eq, ast.Equation)
        if r.stages and not eq.is_next:
            here = r.stage_index(eq.stage)
            for name, node in _reads(site.expr):
                sym = r.symbols.get(name)
                if sym is not None and sym.kind == "action" and r.agent_stage(sym.owner) > here:
                    later = r.stages[r.agent_stage(sym.owner)].name
                    diags.add("E405", f"`{name}` is chosen by `{sym.owner}` in stage `{later}`, after stage "
                              f"`{eq.stage}` where `{eq.name}` is computed", node.span,
                              f"move the equation of `{eq.name}` below `stage {later}:`")
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


def _observed_in_time(r: Resolved, diags: Diagnostics, agent: str | None, name: str, sym, node: ast.Node,
                      order: dict[str, int]) -> None:
    """E403 unless ``name`` (an action or step quantity) is known in a stage before ``agent``'s own."""
    if sym.kind == "action":
        known = r.agent_stage(sym.owner)
        what = f"an action of `{sym.owner}`"
    else:
        eq = r.equations[order[name]] if name in order else None
        known = r.stage_index(eq.stage) if eq is not None else len(r.stages)
        what = "a step quantity"
    mine = r.agent_stage(agent) if agent else 0
    if r.stages and known < mine:
        return
    if not r.stages:
        hint = "observe states, parameters and constants; to see last step's value, keep it in a state"
        if sym.kind == "action" and sym.owner != agent:
            hint += (f"; to see this period's, split the step into stages (`stage first: {sym.owner}`, then "
                     f"`stage second: {agent}`)")
        elif sym.kind == "quantity":
            hint += (f"; to see this period's, split the step into stages and let `{agent}` act after the "
                     "agent types whose actions it depends on")
        diags.add("E403", f"`{name}` is {what}, only known after every agent has acted", node.span, hint)
        return
    when = r.stages[known].name if known < len(r.stages) else "the last"
    later = r.stages[known + 1].name if known + 1 < len(r.stages) else None
    diags.add("E403", f"`{name}` is {what}, known from stage `{when}` on, but `{agent}` acts in stage "
              f"`{r.stages[mine].name}`", node.span,
              f"`{agent}` may observe it if it acts in stage `{later}`" if later else
              f"`{agent}` may observe it if it acts in a stage after `{when}`")


def check_stages(r: Resolved, diags: Diagnostics) -> None:
    """E406 an empty stage, E407 an invalid stage list."""
    seen_stage: dict[str, ast.Stage] = {}
    seen_agent: dict[str, ast.Stage] = {}
    for st in r.stages:
        if st.name in seen_stage:
            diags.add("E407", f"stage `{st.name}` is declared twice (first on line {seen_stage[st.name].span.line})",
                      st.span, "give each stage its own name")
        seen_stage[st.name] = st
        if not st.agents:
            diags.add("E406", f"stage `{st.name}` lists no agent type", st.span,
                      f"list the agent types that act in it (`stage {st.name}: Firm`), or remove it")
        for a in st.agents:
            if a not in r.agents:
                diags.add("E407", f"stage `{st.name}` lists `{a}`, which is not an agent type", st.span,
                          did_you_mean(a, r.agents) or "agent types: " + ", ".join(r.agents))
            elif a in seen_agent:
                diags.add("E407", f"`{a}` acts in two stages, `{seen_agent[a].name}` and `{st.name}`", st.span,
                          "an agent type acts once per period: list it in one stage")
            else:
                seen_agent[a] = st
    if r.stages:
        for a in r.agents:
            if r.heads.get(a) and a not in seen_agent:
                diags.add("E407", f"`{a}` acts, but no stage lists it", r.stages[0].span,
                          f"add it to the stage it acts in (`stage {r.stages[0].name}: "
                          f"{', '.join(r.stages[0].agents + (a,))}`)")


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
