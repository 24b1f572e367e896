"""Whole-number values: vector and matrix constants indexed by them, and states that hold them.

A value is *integer-valued* when the checker can prove it is a whole number in a known range
(:func:`levels`): an integer literal, a state declared ``in lo:hi`` or ``in Pop``, an action that chooses
a member of a population or whose grid holds whole numbers only, and ``ifelse``/``min``/``max``/
``clamp``/``+``/``-`` of such values. Vector and matrix constants may be indexed only by such values,
inside their lengths (E310); the initial value and the transition of a state declared ``in lo:hi`` or
``in Pop`` must be such values inside its range (E311). The compiler relies on both: it reads these
states as member indices without rounding.
"""

from __future__ import annotations

import math

from .. import ast
from ..diagnostics import Diagnostics, did_you_mean
from ..resolve import DRAWS, NotConstant, Resolved, eval_const
from ._sites import const_env, sites

Levels = tuple[int, int]


def levels(r: Resolved, e: ast.Expr, bound: dict[str, str] | None = None) -> Levels | None:
    """The whole numbers ``lo..hi`` that ``e`` provably takes, or None if it may not be a whole number."""
    bound = bound or {}
    if isinstance(e, ast.Num):
        return (int(e.value), int(e.value)) if float(e.value).is_integer() else None
    if isinstance(e, ast.Name) and e.id in bound:
        return (0, r.populations[bound[e.id]].size - 1)
    if isinstance(e, ast.Name | ast.Index):
        name = e.id if isinstance(e, ast.Name) else e.base
        sym = r.symbols.get(name)
        if sym is None:
            return None
        if sym.levels is not None:
            return sym.levels
        if sym.kind == "const" and name in r.consts and float(r.consts[name]).is_integer():
            return (int(r.consts[name]), int(r.consts[name]))
        if sym.kind == "action":
            return _action_levels(r, sym)
        if sym.kind == "quantity" and isinstance(sym.decl, ast.Equation):
            eq = sym.decl
            return levels(r, eq.value, {ix: r.population_of_index(ix) for ix in eq.indices
                                        if r.population_of_index(ix)})
        return None
    if isinstance(e, ast.Draw):
        if e.dist == "Bernoulli":
            return (0, 1)
        n = categories(r, e)
        return (0, n - 1) if e.dist == "Categorical" and n else None
    if isinstance(e, ast.UnOp) and e.op == "-":
        a = levels(r, e.operand, bound)
        return (-a[1], -a[0]) if a else None
    if isinstance(e, ast.BinOp) and e.op in ("+", "-"):
        a, b = levels(r, e.left, bound), levels(r, e.right, bound)
        if a is None or b is None:
            return None
        return (a[0] + b[0], a[1] + b[1]) if e.op == "+" else (a[0] - b[1], a[1] - b[0])
    if isinstance(e, ast.Ternary):
        return _hull(levels(r, e.then, bound), levels(r, e.other, bound))
    if isinstance(e, ast.Array) and e.items:  # one value per member (a state's initial values)
        each = [levels(r, x, bound) for x in e.items]
        return None if None in each else (min(lv[0] for lv in each), max(lv[1] for lv in each))
    if isinstance(e, ast.Reduce) and e.over in r.populations and e.op in ("sum", "min", "max"):
        body = levels(r, e.body, {**bound, e.var: e.over})
        n = r.populations[e.over].size
        if body is None:
            return None
        if e.op != "sum":
            return body
        lo, hi = (min(0, n * body[0]), max(0, n * body[1])) if e.cond is not None else (n * body[0], n * body[1])
        return (lo, hi)
    if isinstance(e, ast.Call) and not e.params:
        args = [levels(r, a, bound) for a in e.args]
        if e.func == "ifelse" and len(args) == 3:
            return _hull(args[1], args[2])
        if any(a is None for a in args):
            return None
        if e.func in ("min", "max") and args:
            pick = min if e.func == "min" else max
            return (pick(a[0] for a in args), pick(a[1] for a in args))
        if e.func == "clamp" and len(args) == 3:
            (xl, xh), (ll, _), (_, hh) = args
            return (min(max(xl, ll), hh), max(min(xh, hh), ll))
    return None


def _hull(a: Levels | None, b: Levels | None) -> Levels | None:
    return (min(a[0], b[0]), max(a[1], b[1])) if a is not None and b is not None else None


def _action_levels(r: Resolved, sym) -> Levels | None:
    if sym.chooses is not None:
        pop = r.populations.get(sym.chooses)  # None: an undeclared population (E204 says so)
        return (0, pop.size - 1) if pop is not None else None
    for head in r.heads.get(sym.owner or "", []):
        if sym.name in head.components and not head.continuous:
            vals = head.values[head.components.index(sym.name)]
            if vals and all(float(v).is_integer() for v in vals):
                return (int(min(vals)), int(max(vals)))
    return None


def row_form(r: Resolved, d: ast.Draw) -> tuple[str, ast.Expr | None] | None:
    """``Categorical(P[i, :])`` → (``P``, ``i``); ``Categorical(p)`` with a vector constant → (``p``, None)."""
    if d.dist != "Categorical" or len(d.args) != 1:
        return None
    a = d.args[0]
    if isinstance(a, ast.Index) and a.base in r.tables and len(a.indices) == 2 and \
            isinstance(a.indices[1], ast.Colon) and not isinstance(a.indices[0], ast.Colon):
        return a.base, a.indices[0]
    if isinstance(a, ast.Name) and a.id in r.tables and len(r.tables[a.id].shape) == 1:
        return a.id, None
    return None


def categories(r: Resolved, d: ast.Draw) -> int | None:
    """The number of categories of a ``Categorical`` draw."""
    form = row_form(r, d)
    if form is not None:
        return r.tables[form[0]].shape[-1]
    return len(d.args) if d.args else None


def check_discrete(r: Resolved, diags: Diagnostics) -> None:
    rows: set[int] = set()  # the `P[i, :]` of `Categorical(P[i, :])` draws
    wholes: set[int] = set()  # the vector constants of `Categorical(p)` draws
    for eq in r.equations:
        if isinstance(eq.value, ast.Draw):
            _draw(r, diags, eq.value)
            form = row_form(r, eq.value)
            if form is not None:
                (rows if form[1] is not None else wholes).add(id(eq.value.args[0]))
    for site in sites(r):
        for node in site.expr.walk():
            if isinstance(node, ast.Index) and id(node) in rows:
                _table_index(r, diags, ast.Index(node.base, node.indices[:1], span=node.span), site.bound, True)
            elif isinstance(node, ast.Index) and node.base in r.tables and node.base not in site.bound:
                _table_index(r, diags, node, site.bound)
            elif isinstance(node, ast.Index):
                for ix in node.indices:
                    if isinstance(ix, ast.Colon):
                        diags.add("E310", "`:` (a whole row) is only allowed in `Categorical(P[i, :])`", ix.span,
                                  "index one entry, or draw a category from a row of a matrix constant")
            elif isinstance(node, ast.Name) and node.id in r.tables and site.ctx != "observe" and \
                    id(node) not in wholes:
                diags.add("E310", f"`{node.id}` is a {_what(r, node.id)}; use one entry at a time", node.span,
                          f"write `{node.id}[k]`" if len(r.tables[node.id].shape) == 1 else f"write `{node.id}[k, l]`")
    states = [(d, ag.name) for ag in r.agents.values() for d in ag.decls if isinstance(d, ast.State)]
    states += [(it, None) for it in r.model.items if isinstance(it, ast.State)]  # economy-wide
    for d, agent in states:
        if d.name in r.symbols and r.symbols[d.name].levels is not None:
            index = r.populations[agent].index if agent in r.populations else None
            _within(r, diags, d.init, r.symbols[d.name].levels, f"the initial value of `{d.name}`",
                    {index: agent} if index else {})
    for eq in r.equations:
        sym = r.symbols.get(eq.name)
        if eq.is_next and sym is not None and sym.kind == "state" and sym.levels is not None:
            bound = {ix: r.population_of_index(ix) for ix in eq.indices if r.population_of_index(ix)}
            _within(r, diags, eq.value, sym.levels, f"`next {eq.name}`", bound)


def _what(r: Resolved, name: str) -> str:
    shape = r.tables[name].shape
    return f"vector of {shape[0]}" if len(shape) == 1 else f"{shape[0]}×{shape[1]} matrix"


def _table_index(r: Resolved, diags: Diagnostics, e: ast.Index, bound: dict[str, str], rows: bool = False) -> None:
    shape = r.tables[e.base].shape[:1] if rows else r.tables[e.base].shape
    if len(e.indices) != len(shape):
        diags.add("E310", f"`{e.base}` is a {_what(r, e.base)}: it takes {len(shape)} "
                  f"ind{'ex' if len(shape) == 1 else 'ices'}, not {len(e.indices)}", e.span)
        return
    for ix, n in zip(e.indices, shape, strict=True):
        if isinstance(ix, ast.Colon):
            diags.add("E310", "`:` (a whole row) is only allowed in `Categorical(P[i, :])`", ix.span,
                      "index one entry, or draw a category from a row of a matrix constant")
            continue
        lv = levels(r, ix, bound)
        if lv is None:
            diags.add("E310", f"the index of `{e.base}` is not provably a whole number", ix.span,
                      "index by a state declared `in lo:hi` or `in Pop`, a whole-number literal or action, "
                      "or a `Categorical` draw")
        elif lv[0] < 0 or lv[1] > n - 1:
            diags.add("E310", f"the index of `{e.base}` can be {lv[0]}..{lv[1]}, outside 0..{n - 1}", ix.span,
                      f"`{e.base}` has {n} entries along this index, numbered from 0")


def _within(r: Resolved, diags: Diagnostics, e: ast.Expr, want: Levels, what: str, bound: dict[str, str]) -> None:
    lv = levels(r, e, bound)
    if lv is None:
        diags.add("E311", f"{what} is not provably a whole number in {want[0]}..{want[1]}", e.span,
                  "use whole-number values (literals, such states or actions, `clamp(x, lo, hi)`)")
    elif lv[0] < want[0] or lv[1] > want[1]:
        diags.add("E311", f"{what} can be {lv[0]}..{lv[1]}, outside {want[0]}..{want[1]}", e.span,
                  f"keep it inside the range, e.g. `clamp(..., {want[0]}, {want[1]})`")


def _draw(r: Resolved, diags: Diagnostics, d: ast.Draw) -> None:
    """The distribution exists and gets its parameters (E712); probability tables are rows that sum to 1
    (E711). Parameter domains that depend on the step (σ > 0, p in [0, 1]) are the domains check's."""
    if d.dist not in DRAWS:
        diags.add("E712", f"`{d.dist}` is not a distribution a step can draw from", d.span,
                  did_you_mean(d.dist, DRAWS) or "distributions: " + ", ".join(DRAWS))
        return
    want = DRAWS[d.dist]
    if want is not None and len(d.args) != want:
        diags.add("E712", f"`{d.dist}` takes {want} parameter{'s' if want != 1 else ''}, not {len(d.args)}", d.span,
                  {"Normal": "Normal(mean, sd)", "LogNormal": "LogNormal(mu, sigma)", "Uniform": "Uniform(lo, hi)",
                   "Bernoulli": "Bernoulli(p)"}[d.dist])
        return
    if d.dist != "Categorical":
        return
    if not d.args:
        diags.add("E712", "`Categorical` needs the probabilities of its categories", d.span,
                  "write `Categorical(p1, p2, p3)` or `Categorical(P[i, :])` with a matrix constant P")
        return
    form = row_form(r, d)
    if form is not None:
        table = r.tables[form[0]]
        n = table.shape[-1]
        rows = [table.values[k:k + n] for k in range(0, len(table.values), n)]
        for k, row in enumerate(rows):
            bad = [x for x in row if not 0 <= x <= 1]
            if bad or abs(math.fsum(row) - 1) > 1e-9:
                what = f"row {k} of `{form[0]}`" if len(table.shape) == 2 else f"`{form[0]}`"
                why = f"entry {bad[0]:g} is outside [0, 1]" if bad else f"its entries sum to {math.fsum(row):.12g}"
                diags.add("E711", f"{what} is not a probability distribution: {why}",
                          d.args[0].span, "each row of a transition matrix holds probabilities that sum to 1")
                return
        return
    if len(d.args) == 1:
        diags.add("E712", "`Categorical` with one argument takes a row of a matrix constant, `P[i, :]`, or a vector "
                  "constant", d.args[0].span, "or give the probabilities one by one: `Categorical(p1, p2, p3)`")
        return
    env = const_env(r)
    try:
        probs = [eval_const(a, env) for a in d.args]
    except NotConstant:
        return  # the domains check proves the sum symbolically
    bad = [(a, x) for a, x in zip(d.args, probs, strict=True) if not 0 <= x <= 1]
    if bad:
        diags.add("E710", f"the probability {bad[0][1]:g} is outside [0, 1]", bad[0][0].span)
    elif abs(math.fsum(probs) - 1) > 1e-9:
        diags.add("E711", f"the probabilities of `Categorical` sum to {math.fsum(probs):.12g}, not 1", d.span,
                  "the category probabilities must sum to 1")
