"""Every expression of a resolved model with the context it is read in, shared by the checks.

A :class:`Site` is one root expression (an equation's right-hand side, a reward, an observation, a
parameter formula ...) together with where it stands: its kind of context, the agent block it is in,
the indices bound there, and for step equations their position. Checks walk sites instead of the
model so that each one sees exactly the same scopes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import ast
from ..resolve import NotConstant, Resolved, eval_const

# Names bound inside curriculum items: the training iteration and the iterations since the agent type
# started training.
CURRICULUM_NAMES = ("e", "age")


@dataclass(frozen=True)
class Site:
    """One root expression and its context.

    ctx: const | param | dist | bounds | init | observe | reward | function | step | next | external |
    curriculum | allow | anneal.
    """

    expr: ast.Expr
    ctx: str
    agent: str | None = None
    bound: dict[str, str] = field(default_factory=dict)  # index variable -> population
    position: int = -1  # order of a step equation
    node: ast.Node | None = None  # the declaration or equation the expression belongs to


def curriculum_consts(r: Resolved) -> dict[str, ast.Const]:
    """Constants declared inside the curriculum section (schedule parameters such as ``N_a``)."""
    if r.curriculum is None:
        return {}
    return {c.name: c for c in r.curriculum.items if isinstance(c, ast.Const)}


def const_env(r: Resolved) -> dict[str, float]:
    """The model's constants plus every curriculum constant that evaluates to a number."""
    env = dict(r.consts)
    for name, c in curriculum_consts(r).items():
        try:
            env[name] = eval_const(c.value, env)
        except NotConstant:
            pass
    return env


def equation_bound(r: Resolved, eq: ast.Equation) -> dict[str, str]:
    """The indices bound by an equation's left-hand side, mapped to their populations."""
    out = {}
    for ix in eq.indices:
        pop = r.population_of_index(ix)
        if pop is not None:
            out[ix] = pop
    return out


def agent_bound(r: Resolved, agent: str) -> dict[str, str]:
    pop = r.populations.get(agent)
    return {pop.index: agent} if pop is not None and pop.index else {}


def sites(r: Resolved) -> Iterator[Site]:
    """Every root expression of the model, in source order within each section."""
    for it in r.model.items:
        if isinstance(it, ast.Function):
            yield Site(it.body, "function", node=it)
        elif isinstance(it, ast.Agent):
            bound = agent_bound(r, it.name)
            for d in it.decls:
                yield from _decl_sites(d, it.name, bound)
        elif isinstance(it, ast.State):  # an economy-wide state
            yield from _decl_sites(it, None, {})
    for k, eq in enumerate(r.equations):
        yield Site(eq.value, "next" if eq.is_next else "step", None, equation_bound(r, eq), k, eq)
    for ex in r.externals:
        yield Site(ex.value, "external", node=ex)
    if r.curriculum is not None:
        for c in r.curriculum.items:
            if isinstance(c, ast.Const):
                yield Site(c.value, "const", node=c)
            elif isinstance(c, ast.TrainFrom):
                yield Site(c.start, "curriculum", c.agent, node=c)
            elif isinstance(c, ast.Anneal):
                yield Site(c.value, "anneal", node=c)
            elif isinstance(c, ast.Allow):
                yield Site(c.cond, "allow", c.agent, node=c)
            elif isinstance(c, ast.Entropy):
                yield Site(c.value, "curriculum", c.agent, node=c)


def _decl_sites(d: ast.Decl, agent: str | None, bound: dict[str, str]) -> Iterator[Site]:
    if isinstance(d, ast.Param):
        if d.bounds is not None:
            yield Site(d.bounds.lo, "bounds", agent, node=d)
            yield Site(d.bounds.hi, "bounds", agent, node=d)
        if d.value is not None:
            yield Site(d.value, "param", agent, bound, node=d)
        if d.dist is not None:
            for a in d.dist.args:
                yield Site(a, "dist", agent, node=d)
    elif isinstance(d, ast.State):
        yield Site(d.init, "init", agent, bound, node=d)
        if d.bounds is not None:
            yield Site(d.bounds.lo, "bounds", agent, node=d)
            yield Site(d.bounds.hi, "bounds", agent, node=d)
    elif isinstance(d, ast.Observe):
        for item in d.items:
            yield Site(item, "observe", agent, bound, node=d)
    elif isinstance(d, ast.Reward):
        yield Site(d.value, "reward", agent, bound, node=d)


def constant_exprs(r: Resolved) -> Iterator[ast.Expr]:
    """Expressions evaluated at compile time that :func:`sites` leaves out (sizes, grids, horizon)."""
    for it in r.model.items:
        if isinstance(it, ast.Const):
            yield it.value
        elif isinstance(it, ast.Horizon):
            yield it.value
        elif isinstance(it, ast.Agent):
            if it.size is not None:
                yield it.size
            for d in it.decls:
                if isinstance(d, ast.Action):
                    for g in d.grids:
                        yield from (c for c in g.children() if isinstance(c, ast.Expr))


def names_in(e: ast.Node) -> Iterator[str]:
    """Every name read by an expression: plain names, indexed bases, called functions."""
    for n in e.walk():
        if isinstance(n, ast.Name):
            yield n.id
        elif isinstance(n, ast.Index):
            yield n.base
        elif isinstance(n, ast.Call):
            yield n.func


def index_words(r: Resolved, sym) -> str:
    """``p[i]``: a symbol written with the index names of its populations (``k`` where none is declared)."""
    if not sym.dims:
        return sym.name
    idx = []
    for k, d in enumerate(sym.dims):  # a population's second position takes its second index name (`x[j, k]`)
        names = r.populations[d].indices if d in r.populations else ()
        nth = sym.dims[:k].count(d)
        idx.append(names[nth] if nth < len(names) else "k")
    return f"{sym.name}[{', '.join(idx)}]"
