"""Shapes and indices: every quantity indexed by the right number of indices of the right populations.

Codes: E301 wrong number of indices, E302 index of the wrong population, E303 reduction over the wrong
population (or not using its variable), E304 an index that is not a member of the indexed population (a
member chosen from another population, or a number such as a state), E305 an
index not bound where it is used, E306 array literal length vs population size.

A bare quantity of a population (``observe p`` in a Consumer block) means the whole vector; that is
legal in ``observe`` only (and for the agent's own action components in ``allow``).
"""

from __future__ import annotations

from .. import ast
from ..diagnostics import Diagnostics
from ..printer import print_expr
from ..resolve import MAX_GRID, Resolved, Symbol
from ._sites import CURRICULUM_NAMES, Site, index_words, sites
from .discrete import levels


def check_shapes(r: Resolved, diags: Diagnostics) -> None:
    for site in sites(r):
        _Walker(r, diags, site).visit(site.expr, dict(site.bound), frozenset())
    for eq in r.equations:
        sym = r.symbols.get(eq.name)
        if eq.is_next and sym is not None and sym.kind == "state":
            _check_target(r, diags, eq, sym)
        elif not eq.is_next:
            _check_pairs(r, diags, eq)
    for ag in r.agents.values():
        pop = r.populations.get(ag.name)
        if pop is None:
            continue
        for d in ag.decls:
            value = d.value if isinstance(d, ast.Param) else d.init if isinstance(d, ast.State) else None
            if isinstance(value, ast.Array):
                if pop.singleton:
                    diags.add("E306", f"`{d.name}` belongs to the single agent `{ag.name}`: give one value, "
                              f"not a list of {len(value.items)}", value.span)
                elif len(value.items) != pop.size:
                    diags.add("E306", f"`{d.name}` lists {len(value.items)} values, but `{ag.name}` has "
                              f"{pop.size} members", value.span, "give exactly one value per member")


def _check_target(r: Resolved, diags: Diagnostics, eq: ast.Equation, sym: Symbol) -> None:
    if len(eq.indices) != len(sym.dims):
        want = index_words(r, sym)
        diags.add("E301", f"`{eq.name}` has {_count(len(sym.dims))} but `next {eq.name}` gives "
                  f"{len(eq.indices)}", eq.target_span, f"write `next {want}`")
        return
    for ix, dim in zip(eq.indices, sym.dims, strict=True):
        pop = r.population_of_index(ix)
        if pop is not None and pop != dim:
            diags.add("E302", f"`{eq.name}` is a quantity of {dim}, but `{ix}` is the index of {pop}",
                      eq.target_span, f"write `next {index_words(r, sym)}`")


def _check_pairs(r: Resolved, diags: Diagnostics, eq: ast.Equation) -> None:
    """``x[j, j] = ...``: one index twice on the left defines nothing for the other pairs."""
    for k, ix in enumerate(eq.indices):
        if ix in eq.indices[:k]:
            pop = r.population_of_index(ix)
            names = r.populations[pop].indices if pop in r.populations else ()
            other = next((n for n in names if n not in eq.indices), None)
            hint = (f"for one value per pair of members write `{eq.name}[{ix}, {other}]`" if other else
                    f"for one value per pair of members name a second index (`agent {pop}[n] index {ix}, {ix}2`)"
                    if pop else "give each position its own index")
            diags.add("E305", f"`{eq.name}` is indexed twice by `{ix}` on the left", eq.target_span, hint)
            return


def _count(n: int) -> str:
    return "no index" if n == 0 else "1 index" if n == 1 else f"{n} indices"


class _Walker:
    def __init__(self, r: Resolved, diags: Diagnostics, site: Site):
        self.r, self.diags, self.site = r, diags, site

    def visit(self, e: ast.Expr, bound: dict[str, str], red: frozenset[str]) -> None:
        """``bound``: index variable -> population; ``red``: the variables bound by reductions."""
        if isinstance(e, ast.Name):
            self._name(e, bound)
        elif isinstance(e, ast.Index):
            self._index(e, bound, red)
        elif isinstance(e, ast.Reduce):
            if e.over in self.r.populations:
                inner = dict(bound)
                inner[e.var] = e.over
                used = any(n == e.var for n in _read_names(e.body)) or (
                    e.cond is not None and any(n == e.var for n in _read_names(e.cond)))
                if not used:
                    self.diags.add("E303", f"`{e.op}` over {e.over} does not use its variable `{e.var}`", e.span,
                                   f"index a quantity of {e.over} with `{e.var}`, or use `size({e.over})`")
                self.visit(e.body, inner, red | {e.var})
                if e.cond is not None:
                    self.visit(e.cond, inner, red | {e.var})
        elif isinstance(e, ast.Call) and e.func == "size":
            return
        elif isinstance(e, ast.Call) and e.func == "onehot" and not (self.site.ctx == "observe" and
                                                                      e is self.site.expr):
            # a vector of columns, not a number: the compiler takes it only as one whole observed item
            self.diags.add("E206", "`onehot` is only allowed as a whole observed item", e.span,
                           "observe it on its own (`observe x[j], onehot(j)`), not inside a formula")
        elif isinstance(e, ast.Call) and e.func == "onehot" and len(e.args) == 1:
            a = e.args[0]
            lv = levels(self.r, a, bound)
            if not (isinstance(a, ast.Name) and a.id in bound) and not (
                    isinstance(a, ast.Index | ast.Name) and lv is not None and lv[0] >= 0):
                self.diags.add("E302", "`onehot` takes an index variable or a state declared `in 0:hi` or "
                               "`in Pop`", a.span, "write `onehot(i)` with the agent's index")
            else:
                self._onehot_columns(e, lv, bound)
                self.visit(a, bound, red)
        else:
            for c in e.children():
                if isinstance(c, ast.Expr):
                    self.visit(c, bound, red)

    def _onehot_columns(self, e: ast.Call, lv: tuple[int, int] | None, bound: dict[str, str]) -> None:
        """One column per value: at most MAX_GRID, as many as an action's choices (E704)."""
        a = e.args[0]
        pop = self.r.populations.get(bound[a.id]) if isinstance(a, ast.Name) and a.id in bound else None
        n = pop.size if pop is not None else (lv[1] + 1 if lv is not None else 0)
        if n > MAX_GRID:
            self.diags.add("E704", f"`{print_expr(e)}` would be {n:,} observation columns, above the limit of "
                           f"{MAX_GRID:,}", e.span, f"observe `{print_expr(a)}` as a number instead")

    def _unbound(self, name: str, span: ast.Span) -> None:
        pop = self.r.population_of_index(name)
        ctx = self.site.ctx
        if ctx in ("step", "next"):
            hint = f"bind it on the left (`x[{name}] = ...`) or reduce over it (`sum(... for {name} in {pop})`)"
        elif self.site.agent is not None and self.site.agent in self.r.populations:
            own = self.r.populations[self.site.agent].index
            hint = (f"inside `{self.site.agent}` only its own index `{own}` is bound" if own
                    else f"`{self.site.agent}` has no index; reduce over {pop} instead")
        else:
            hint = f"reduce over it: `sum(... for {name} in {pop})`"
        self.diags.add("E305", f"the index `{name}` of {pop} is not bound here", span, hint)

    def _name(self, e: ast.Name, bound: dict[str, str]) -> None:
        if e.id in bound:
            return
        sym = self.r.symbols.get(e.id)
        if sym is None:
            if self.r.population_of_index(e.id) is not None and not self._local(e.id):
                self._unbound(e.id, e.span)
            return
        if not sym.dims or sym.kind == "function":
            return
        if self.site.ctx == "observe":
            return  # the whole vector
        if self.site.ctx == "allow" and sym.kind == "action" and sym.owner == self.site.agent:
            return  # the agent's own choice, member by member
        if self.site.ctx in ("curriculum", "anneal", "allow", "const", "dist", "bounds", "function"):
            return  # the names check reports names these contexts cannot read
        dims = ", ".join(sym.dims)
        self.diags.add("E301", f"`{e.id}` is indexed by {dims} but is used without an index", e.span,
                       f"write `{index_words(self.r, sym)}`" + (
                           "; only `observe` may use a whole vector" if self.site.agent else ""))

    def _local(self, name: str) -> bool:
        """Names that a context binds itself (curriculum iteration names, function parameters)."""
        if self.site.ctx in ("curriculum", "anneal", "allow") and name in CURRICULUM_NAMES:
            return True
        node = self.site.node
        return isinstance(node, ast.Function) and any(p.name == name for p in node.inputs + node.params)

    def _index(self, e: ast.Index, bound: dict[str, str], red: frozenset[str]) -> None:
        for ix in e.indices:
            self.visit(ix, bound, red)
        sym = self.r.symbols.get(e.base)
        if sym is None or not sym.dims or e.base in bound:
            return  # undeclared, scalar or an index: the names check reports those
        if len(e.indices) != len(sym.dims):
            self.diags.add("E301", f"`{e.base}` has {_count(len(sym.dims))} ({', '.join(sym.dims)}), "
                           f"not {len(e.indices)}", e.span, f"write `{index_words(self.r, sym)}`")
            return
        for ix, dim in zip(e.indices, sym.dims, strict=True):
            self._index_expr(e, ix, dim, bound, red)

    def _index_expr(self, e: ast.Index, ix: ast.Expr, dim: str, bound: dict[str, str], red: frozenset[str]) -> None:
        want = self.r.populations.get(dim)
        if want is None:
            return  # a position whose index was not a population's (E204 at the definition)
        if isinstance(ix, ast.Name) and ix.id in bound:
            have = bound[ix.id]
            if have == dim:
                return
            if ix.id in red:
                self.diags.add("E303", f"the reduction variable `{ix.id}` runs over {have}, but `{e.base}` is "
                               f"a quantity of {dim}", ix.span,
                               f"reduce over {dim}" + (f" with `{want.index}`" if want and want.index else ""))
            else:
                self.diags.add("E302", f"`{e.base}` is a quantity of {dim}, but `{ix.id}` is the index of {have}",
                               ix.span, f"use an index of {dim}" + (f" (`{want.index}`)" if want and want.index
                                                                    else "") + ", or reduce over it first")
            return
        chooser = _chooser(self.r, ix)
        if chooser is not None:
            name, pop = chooser
            if pop != dim:
                verb = "holds" if self.r.symbols[name].kind == "state" else "chooses"
                self.diags.add("E304", f"`{name}` {verb} a member of {pop}, so it cannot index `{e.base}`, a "
                               f"quantity of {dim}", ix.span,
                               f"`{name}` may index quantities of {pop} only")
            return
        if isinstance(ix, ast.Num):
            if want is not None and (ix.value != int(ix.value) or not 0 <= ix.value < want.size):
                self.diags.add("E302", f"index {ix.text or ix.value} is out of range for {dim} "
                               f"(members 0 to {want.size - 1})", ix.span)
            return
        if self._reported_elsewhere(ix):
            return
        # Any other value (a state, a parameter, a step quantity, arithmetic) is a number, not a member:
        # the compiler could only round it, and a real value between members has no meaning as an index.
        own = f" (`{want.index}`)" if want is not None and want.index else ""
        self.diags.add("E304", f"`{print_expr(ix)}` is not a member of {dim}, so it cannot index `{e.base}`",
                       ix.span, f"an index must be a member of {dim}: an index variable of {dim}{own}, an "
                       f"action or a state declared `in {dim}`, or an integer")

    def _reported_elsewhere(self, ix: ast.Expr) -> bool:
        """Unbound index names (E305) and undeclared names (E201) are reported by their own checks."""
        if not isinstance(ix, ast.Name | ast.Index):
            return False
        name = ix.id if isinstance(ix, ast.Name) else ix.base
        return self.r.symbols.get(name) is None or self.r.population_of_index(name) is not None


def _chooser(r: Resolved, ix: ast.Expr) -> tuple[str, str] | None:
    """If ``ix`` is an action that chooses a member of a population, (its name, that population)."""
    name = ix.base if isinstance(ix, ast.Index) else ix.id if isinstance(ix, ast.Name) else None
    sym = r.symbols.get(name) if name else None
    if sym is not None and sym.chooses is not None:
        return sym.name, sym.chooses
    return None


def _read_names(e: ast.Expr):
    for n in e.walk():
        if isinstance(n, ast.Name):
            yield n.id
