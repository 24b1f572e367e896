"""Lowering: a checked :class:`Resolved` model → an IR :class:`Program` (see ``ir.py`` for the contract).

Function, utility and production calls are inlined; reductions, masked reductions, gathers by
action-chosen indices, joint and per-member action heads, parameter draws, observations and rewards
become IR ops. Constants are folded while emitting (``builder.py``), except those a curriculum
``anneal``\\ s, which stay runtime scalars. Problems the checks did not catch become diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..language import ast
from ..language.checks.discrete import levels, row_form
from ..language.diagnostics import Diagnostics, EconError
from ..language.resolve import ActionHead, Resolved
from .builder import Builder
from .ir import FLOAT32_WHOLE, Buffer, Head, Program, axis, per_axis, population

_UNARY = {"log": "log", "exp": "exp", "sqrt": "sqrt", "abs": "abs", "floor": "floor", "ceil": "ceil"}
_BINOPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow", "==": "eq", "!=": "ne", "<": "lt",
           "<=": "le", ">": "gt", ">=": "ge", "&&": "and", "||": "or"}
_MAX_INLINE_DEPTH = 32


class LowerError(Exception):
    """One problem, already added to the diagnostics; aborts the current declaration only."""


@dataclass
class Scope:
    """What names mean while lowering one expression."""

    axes: dict[str, str] = field(default_factory=dict)  # index variable -> axis (population, role)
    locals: dict[str, str] = field(default_factory=dict)  # function input/parameter -> SSA value
    where: str = "step"  # "init" | "step" | "observe" | "external"
    depth: int = 0


class Lowering:
    def __init__(self, r: Resolved, diags: Diagnostics):
        self.r = r
        self.diags = diags
        self.pops = {name: p.size for name, p in r.populations.items()}
        self.singletons = tuple(name for name, p in r.populations.items() if p.singleton)
        self.runtime = self._runtime_consts()
        self.heads: list[Head] = []
        self.head_of: dict[str, tuple[ActionHead, int, int]] = {}  # component -> (head, component, column)
        self._layout_heads()
        self.quantities: dict[str, str] = {}
        self.obs_quantities: dict[str, str] = {}  # step quantities of earlier stages, lowered into observe
        self.init_vals: dict[str, str] = {}
        self.uniforms: dict[str, tuple[str, ...]] = {}
        self.sites: list[str] = []  # draw sites of the step, by site id (the name each draw defines)
        self.failed: set[str] = set()  # declarations whose lowering failed (already diagnosed)

    # ------------------------------------------------------------ setup
    def _runtime_consts(self) -> dict[str, float]:
        out: dict[str, float] = {}
        cur = self.r.curriculum
        if cur is not None:
            for item in cur.items:
                if isinstance(item, ast.Anneal) and item.name in self.r.consts:
                    out[item.name] = self.r.consts[item.name]
        return out

    def _layout_heads(self) -> None:
        for agent, heads in self.r.heads.items():
            col, real_col = 0, 0  # discrete and continuous heads number their columns separately
            for h in heads:
                per = self.pops[h.per] if h.per else 1
                if h.continuous:
                    ncol = per * len(h.components)
                    self.heads.append(Head(agent, h.decl.name, real_col, h.per, 0, ncol, h.components, (),
                                           self.src(h.decl.span), continuous=True, bounds=h.bounds))
                    for k, comp in enumerate(h.components):
                        self.head_of[comp] = (h, k, real_col + k * per)
                    real_col += ncol
                    continue
                self.heads.append(Head(agent, h.decl.name, col, h.per, h.n, per, h.components, h.values,
                                       self.src(h.decl.span)))
                for k, comp in enumerate(h.components):
                    self.head_of[comp] = (h, k, col)
                col += per

    def error(self, code: str, msg: str, span: ast.Span, hint: str | None = None) -> LowerError:
        self.diags.add(code, msg, span, hint)
        return LowerError(msg)

    def src(self, span: ast.Span) -> str:
        return f"{span.file}:{span.line}" if span is not ast.NOWHERE else ""

    def text(self, node: ast.Node) -> str:
        s = node.span
        src = self.r.sources.get(s.file) or self.r.model.source
        if src and s.line and s.line == s.end_line:
            lines = src.splitlines()
            if s.line <= len(lines):
                return lines[s.line - 1][s.col - 1:s.end_col - 1]
        return type(node).__name__.lower()

    def own_dims(self, agent: str) -> tuple[str, ...]:
        if agent in self.singletons:
            return ()
        return (agent,)

    def agent_axes(self, agent: str) -> dict[str, str]:
        p = self.r.populations[agent]
        return {p.index: agent} if p.index else {}

    # ------------------------------------------------------------ expressions
    def expr(self, b: Builder, e: ast.Expr, sc: Scope) -> str:
        s = self.src(e.span)
        if isinstance(e, ast.Num):
            return b.const(e.value, "i" if float(e.value).is_integer() and "." not in (e.text or "")
                           and "e" not in (e.text or "").lower() else "f")
        if isinstance(e, ast.Inf):
            return b.const(math.inf)
        if isinstance(e, ast.Str):
            raise self.error("E206", "a string is not a value", e.span)
        if isinstance(e, ast.Name):
            return self.name(b, e.id, e, sc)
        if isinstance(e, ast.Index):
            return self.index(b, e, sc)
        if isinstance(e, ast.UnOp):
            v = self.expr(b, e.operand, sc)
            if e.op == "-":
                return b.elementwise("neg", (v,), s)
            if e.op == "!":
                return b.elementwise("not", (v,), s)
            return v
        if isinstance(e, ast.BinOp):
            x, y = self.expr(b, e.left, sc), self.expr(b, e.right, sc)
            return b.elementwise(_BINOPS[e.op], (x, y), s)
        if isinstance(e, ast.Ternary):
            c, x, y = (self.expr(b, a, sc) for a in (e.cond, e.then, e.other))
            return b.elementwise("where", (c, x, y), s)
        if isinstance(e, ast.Reduce):
            return self.reduction(b, e, sc)
        if isinstance(e, ast.Call):
            return self.call(b, e, sc)
        if isinstance(e, ast.Array):
            raise self.error("E306", "a list is only allowed as the whole value of a `param` or `state`", e.span)
        raise self.error("E206", f"cannot compile a `{type(e).__name__}` here", e.span)

    def name(self, b: Builder, nm: str, e: ast.Node, sc: Scope) -> str:
        s = self.src(e.span)
        if nm in sc.locals:
            return sc.locals[nm]
        if nm in sc.axes:
            return b.iota(sc.axes[nm], s)
        if nm == "t":
            return b.input("time", "t", (), "f", s)
        if nm in self.runtime:
            return b.input("runtime_const", nm, (), "f", s)
        if nm in self.r.consts:
            v = self.r.consts[nm]
            return b.const(v, "i" if float(v).is_integer() else "f")
        sym = self.r.symbols.get(nm)
        if sym is None:
            pop = self.r.population_of_index(nm)
            if pop is not None:  # an index used outside the declaration that binds it
                return b.iota(pop, s)
            raise self.error("E201", f"`{nm}` is not declared", e.span)
        if nm in self.failed:  # its own diagnostic is reported; a use of it is not a second problem
            raise LowerError(f"`{nm}` could not be compiled")
        if sym.kind in ("state", "param"):
            if sc.where == "init":
                if nm not in self.init_vals:
                    raise self.error("E402", f"`{nm}` is used before it is initialised", e.span,
                                     "parameters and initial states may use earlier ones only")
                return self.init_vals[nm]
            v = b.input(sym.kind, nm, sym.dims, "f", s)
            # a state declared `in lo:hi` or `in Pop` holds whole numbers (the checker proves it, E311); one
            # whose range goes beyond ±2^24 stays real: a float32 buffer does not hold it exactly, so an
            # integer read would differ from float64's, and no index or one-hot (E704) is that large
            lv = sym.levels
            whole = lv is not None and -FLOAT32_WHOLE <= lv[0] and lv[1] <= FLOAT32_WHOLE
            return b.to_int(v, lv[0], lv[1], s) if whole else v
        if sym.kind == "action":
            # with stages, an observation may read the actions of earlier stages (the timing check
            # decides which; the verifier checks the program)
            if sc.where != "step" and not (sc.where == "observe" and self.r.stages):
                raise self.error("E403", f"`{nm}` is an action; it is not known here", e.span)
            return self.action(b, nm, s)
        if sym.kind == "quantity":
            if sc.where == "observe" and self.r.stages:
                return self.observed_quantity(b, nm, e)
            if sc.where == "observe" or sc.where == "init":
                raise self.error("E403", f"`{nm}` is a step quantity; it is not known here", e.span,
                                 "observe states, parameters and constants")
            if nm not in self.quantities:
                raise self.error("E402", f"`{nm}` is used before it is defined", e.span)
            return self.quantities[nm]
        raise self.error("E206", f"`{nm}` is a {sym.kind}, not a value", e.span)

    def observed_quantity(self, b: Builder, nm: str, e: ast.Node) -> str:
        """A step quantity of an earlier stage, observed: its equation lowered again into ``observe``."""
        if nm not in self.obs_quantities:
            eq = next(q for q in self.r.equations if q.name == nm and not q.is_next)
            if isinstance(eq.value, ast.Draw):
                raise self.error("E403", f"`{nm}` is a random draw of the step; it cannot be observed", e.span,
                                 "observe a quantity computed from it in a state instead")
            self.obs_quantities[nm] = self.expr(b, eq.value, Scope(self.equation_axes(eq), {}, "observe"))
        return self.obs_quantities[nm]

    def equation_axes(self, eq: ast.Equation) -> dict[str, str]:
        """Index variable of the equation's target -> its axis."""
        pops = []
        for ix in eq.indices:
            pop = self.r.population_of_index(ix)
            if pop is None:
                raise self.error("E204", f"`{ix}` is not the index of any population", eq.target_span)
            pops.append(pop)
        return dict(zip(eq.indices, storage_axes(tuple(pops)), strict=True))

    def action(self, b: Builder, comp: str, s: str) -> str:
        head, k, col = self.head_of[comp]
        dims = self.own_dims(head.agent) + ((per_axis(head.agent, head.per),) if head.per else ())
        if head.continuous:
            attrs = (("agent", head.agent), ("column", col), ("per", head.per), ("real", True))
            return b.raw("action", (), dims, "f", attrs, s, comp)
        stride = math.prod(head.sizes[k + 1:])
        chooses = isinstance(head.decl.grids[k], ast.GridPopulation)
        if not chooses and len(head.values[k]) == 1:
            # a grid of one value is a constant, whatever the policy picks (the head keeps its column)
            return b.const(float(head.values[k][0]), "f", (), s)
        attrs = (("agent", head.agent), ("column", col), ("per", head.per), ("stride", stride),
                 ("size", head.sizes[k]), ("table", tuple(float(x) for x in head.values[k])))
        return b.raw("action", (), dims, "i" if chooses else "f", attrs, s, comp)

    def index(self, b: Builder, e: ast.Index, sc: Scope) -> str:
        if e.base in sc.locals:
            raise self.error("E206", f"`{e.base}` is a function argument; it cannot be indexed", e.span)
        table = self.r.tables.get(e.base)
        if table is not None:
            if len(e.indices) != len(table.shape):
                raise self.error("E310", f"`{e.base}` takes {len(table.shape)} index(es)", e.span)
            idx = []
            for ix in e.indices:
                try:
                    idx.append(b.cast(self.expr(b, ix, sc), "i", self.src(ix.span)))
                except TypeError:
                    raise self.error("E310", f"the index of `{e.base}` is not a whole number", ix.span) from None
            return b.lookup(table.values, table.shape, idx, self.src(e.span))
        sym = self.r.symbols.get(e.base)
        if sym is None or sym.kind not in ("state", "param", "action", "quantity"):
            raise self.error("E206", f"`{e.base}` cannot be indexed", e.base_span)
        dims = sym.dims
        if len(e.indices) != len(dims):
            raise self.error("E301", f"`{e.base}` has {len(dims)} index(es), {len(e.indices)} given", e.span)
        v = self.name(b, e.base, e, sc)
        # Each position is a storage axis of the value (storage_axes); an index variable renames it to
        # the variable's axis, any other index (a chosen member, a literal, a repeated variable) gathers
        # along it. Gathered axes are first renamed to roles no index uses, so that an index over the
        # same population (`v[partner[j]]` with partner, v over W) is a different axis from the one read.
        store = storage_axes(dims)
        rename: dict[str, str] = {}
        gathers: list[tuple[str, str, ast.Expr]] = []  # (population, index value, index expression)
        for d, s_ax, ix in zip(dims, store, e.indices, strict=True):
            target = None
            if isinstance(ix, ast.Name) and ix.id in sc.axes and ix.id not in sc.locals:
                if population(sc.axes[ix.id]) != d:
                    raise self.error("E302", f"`{e.base}` is indexed over `{d}`, but `{ix.id}` ranges over "
                                     f"`{population(sc.axes[ix.id])}`", ix.span)
                target = sc.axes[ix.id]
            elif isinstance(ix, ast.Name) and ix.id not in sc.locals and self.r.population_of_index(ix.id) == d \
                    and ix.id not in self.r.symbols:
                target = d
            if target is not None and target not in rename.values():
                rename[s_ax] = target
                continue
            iv = self.expr(b, ix, sc)
            try:
                iv = b.cast(iv, "i", self.src(ix.span))
            except TypeError:
                raise self.error("E304", f"the index of `{e.base}` along `{d}` is not a member of `{d}`",
                                 ix.span) from None
            gathers.append((s_ax, iv, ix))
        taken = set(rename.values()) | {a for _, iv, _ in gathers for a in b.dims(iv)}
        along = []
        for s_ax, iv, ix in gathers:
            free = next(axis(population(s_ax), r) for r in range(len(taken) + 2)
                        if axis(population(s_ax), r) not in taken)
            taken.add(free)
            rename[s_ax] = free
            along.append((free, iv, ix))
        v = b.relabel(v, rename, self.src(e.span))
        for free, iv, _ix in along:
            if free in b.dims(v):  # (a quantity that does not vary along this axis needs no gather)
                v = b.gather(v, iv, free, self.src(e.span))
        return v

    def reduction(self, b: Builder, e: ast.Reduce, sc: Scope) -> str:
        if e.over not in self.pops:
            raise self.error("E204", f"`{e.over}` is not a population", e.over_span)
        if e.over in self.singletons:
            raise self.error("E303", f"`{e.over}` is a single agent; there is nothing to reduce over", e.over_span)
        # The variable gets the first role of the population that no index variable or function argument
        # mentioned in the body or condition is on: `sum(v[k] for k in W if v[k] < v[j])` puts k on a
        # second axis of W (j holds the first), a reduction that does not refer to j keeps the first.
        parts = [e.body] + ([e.cond] if e.cond is not None else [])
        used = {ax for name, ax in sc.axes.items()
                if name != e.var and any(self._mentions(x, name) for x in parts)}
        used |= {d for name, val in sc.locals.items() if name != e.var and any(self._mentions(x, name) for x in parts)
                 for d in b.dims(val)}
        over = next(axis(e.over, r) for r in range(len(used) + 1) if axis(e.over, r) not in used)
        inner = Scope({**sc.axes, e.var: over}, {k: v for k, v in sc.locals.items() if k != e.var}, sc.where,
                      sc.depth)
        body = self.expr(b, e.body, inner)
        mask = self.expr(b, e.cond, inner) if e.cond is not None else None
        return b.reduce(e.op, body, over, mask, self.src(e.span))

    @staticmethod
    def _mentions(e: ast.Node, name: str) -> bool:
        return any(isinstance(n, ast.Name) and n.id == name for n in e.walk())

    def call(self, b: Builder, e: ast.Call, sc: Scope) -> str:
        s = self.src(e.span)
        f = e.func
        if f in self.r.functions:
            return self.inline(b, e, sc)
        if f == "size":
            if len(e.args) == 1 and isinstance(e.args[0], ast.Name) and e.args[0].id in self.pops:
                return b.const(float(self.pops[e.args[0].id]), "i")
            raise self.error("E207", "`size` takes a population name", e.span)
        if f == "onehot":
            raise self.error("E206", "`onehot` is only allowed as an observed item", e.span)
        args = [self.expr(b, a, sc) for a in e.args]
        if f in _UNARY and len(args) == 1:
            return b.elementwise(_UNARY[f], args, s)
        if f in ("min", "max") and len(args) >= 2:
            v = args[0]
            for a in args[1:]:
                v = b.elementwise(f, (v, a), s)
            return v
        if f == "clamp" and len(args) == 3:
            return b.elementwise("min", (b.elementwise("max", (args[0], args[1]), s), args[2]), s)
        if f == "ifelse" and len(args) == 3:
            return b.elementwise("where", tuple(args), s)
        raise self.error("E207", f"cannot call `{f}` with {len(args)} argument(s)", e.span)

    def inline(self, b: Builder, e: ast.Call, sc: Scope) -> str:
        fn = self.r.functions[e.func]
        if sc.depth > _MAX_INLINE_DEPTH:
            raise self.error("E207", f"`{e.func}` calls itself (recursion is not supported)", e.span)
        if len(e.args) != len(fn.inputs) or len(e.params) != len(fn.params):
            raise self.error("E207", f"`{e.func}` takes {len(fn.inputs)} argument(s) and {len(fn.params)} "
                             f"parameter(s)", e.span)
        bound = {p.name: self.expr(b, a, sc) for p, a in zip(fn.inputs + fn.params, e.args + e.params, strict=True)}
        return self.expr(b, fn.body, Scope({}, bound, sc.where, sc.depth + 1))

    # ------------------------------------------------------------ functions
    def fit(self, b: Builder, v: str, dims: tuple[str, ...], span: ast.Span, what: str) -> str:
        if not set(b.dims(v)) <= set(dims):
            extra = ", ".join(sorted(set(b.dims(v)) - set(dims)))
            raise self.error("E305", f"{what} varies over `{extra}`, which it is not indexed by", span,
                             "bind the index on the left, or reduce over it")
        return b.broadcast(v, dims, self.src(span))

    def lower_init(self) -> tuple[Builder, list[Buffer]]:
        b = Builder("init", self.pops)
        buffers: list[Buffer] = []
        # declarations in source order: an agent block's, or an economy-wide state (no owner, dims ())
        blocks = [(it.name, it.decls) if isinstance(it, ast.Agent) else (None, (it,))
                  for it in self.r.model.items if isinstance(it, ast.Agent | ast.State)]
        for agent, decls in blocks:
            if agent is not None and agent not in self.r.agents:
                continue
            own = self.own_dims(agent) if agent is not None else ()
            sc = Scope(self.agent_axes(agent) if agent is not None else {}, {}, "init")
            for d in decls:
                try:
                    if isinstance(d, ast.Param):
                        v = self.param(b, agent, d, sc)
                        kind = "param"
                    elif isinstance(d, ast.State) and isinstance(d.init, ast.Array):
                        v = self.per_member(b, agent, d.name, d.init, sc)
                        kind = "state"
                    elif isinstance(d, ast.State):
                        v = self.fit(b, b.cast(self.expr(b, d.init, sc), "f"), own, d.span,
                                     f"the initial value of `{d.name}`")
                        kind = "state"
                    else:
                        continue
                except LowerError:
                    self.failed.add(d.name)
                    continue
                self.init_vals[d.name] = v
                buffers.append(Buffer(d.name, kind, own, "f", agent, _unit_text(d.unit)))
                b.output(kind, d.name, v)
        return b, buffers

    def param(self, b: Builder, agent: str, d: ast.Param, sc: Scope) -> str:
        own = self.own_dims(agent)
        s = self.src(d.span)
        if d.dist is not None:
            dist, args = d.dist.func, [self.expr(b, a, sc) for a in d.dist.args]
            if dist not in ("Uniform", "Normal", "LogNormal", "Pareto") or len(args) != 2:
                raise self.error("E207", f"unknown distribution `{dist}` with {len(args)} argument(s)", d.dist.span,
                                 "Uniform(lo, hi), Normal(mean, sd), LogNormal(mu, sigma), Pareto(scale, shape)")
            stream = f"u{len(self.uniforms)}"
            self.uniforms[stream] = own
            u = b.input("uniform", stream, own, "f", s)
            a0, a1 = args
            if dist == "Uniform":
                v = b.elementwise("add", (a0, b.elementwise("mul", (b.elementwise("sub", (a1, a0), s), u), s)), s)
            elif dist in ("Normal", "LogNormal"):
                v = b.elementwise("add", (a0, b.elementwise("mul", (a1, b.elementwise("ndtri", (u,), s)), s)), s)
                if dist == "LogNormal":
                    v = b.elementwise("exp", (v,), s)
            else:  # Pareto(scale, shape): scale · (1 - u)^(-1/shape)
                one_minus = b.elementwise("sub", (b.const(1.0), u), s)
                expo = b.elementwise("neg", (b.elementwise("div", (b.const(1.0), a1), s),), s)
                v = b.elementwise("mul", (a0, b.elementwise("pow", (one_minus, expo), s)), s)
            return self.fit(b, v, own, d.span, f"the distribution of `{d.name}`")
        if isinstance(d.value, ast.Array):
            return self.per_member(b, agent, d.name, d.value, sc)
        if d.value is None:
            raise self.error("E206", f"`{d.name}` has no value", d.span)
        return self.fit(b, b.cast(self.expr(b, d.value, sc), "f"), own, d.span, f"the value of `{d.name}`")

    def per_member(self, b: Builder, agent: str | None, name: str, values: ast.Array, sc: Scope) -> str:
        """``[a, b, c]``: one constant per member of the agent (a parameter's value or a state's initial one)."""
        own = self.own_dims(agent) if agent is not None else ()
        if not own or len(values.items) != self.pops[agent]:
            raise self.error("E306", f"`{name}` has {len(values.items)} values for "
                             f"{self.pops[agent] if own else 1} member(s)", values.span)
        consts = [b.const_value(self.expr(b, x, sc)) for x in values.items]
        if any(c is None for c in consts):
            raise self.error("E206", "array literal entries must be constants", values.span)
        return b.const(tuple(consts), "f", own, self.src(values.span))

    def lower_step(self) -> Builder:
        b = Builder("step", self.pops)
        for eq in self.r.equations:
            try:
                axes = self.equation_axes(eq)
                sc = Scope(axes, {}, "step")
                target = tuple(axes[ix] for ix in eq.indices)
                if isinstance(eq.value, ast.Draw):
                    v = self.draw(b, eq.value, sc, b.canonical(target), eq.name)
                else:
                    v = self.expr(b, eq.value, sc)
                if eq.is_next:
                    sym = self.r.symbols.get(eq.name)
                    if sym is None or sym.kind != "state":
                        raise self.error("E504", f"`next {eq.name}`: `{eq.name}` is not a state", eq.target_span)
                    if b.canonical(target) != sym.dims:
                        raise self.error("E305", f"`next {eq.name}` must be indexed like the state", eq.target_span)
                    v = self.fit(b, b.cast(v, "f"), sym.dims, eq.span, f"`next {eq.name}`")
                    b.output("state", eq.name, v)
                else:
                    if len(set(eq.indices)) != len(eq.indices):
                        raise self.error("E305", f"`{eq.name}` is indexed twice by one index", eq.target_span)
                    self.fit(b, v, b.canonical(target), eq.span, f"`{eq.name}`")
                    self.quantities[eq.name] = v  # unbroadcast, so that folding sees constants
                    b.output("quantity", eq.name, b.broadcast(v, b.canonical(target)))
            except LowerError:
                if not eq.is_next:
                    self.failed.add(eq.name)
                continue
        for agent, ag in self.r.agents.items():
            for d in ag.decls:
                if isinstance(d, ast.Reward):
                    try:
                        v = self.expr(b, d.value, Scope(self.agent_axes(agent), {}, "step"))
                        v = self.fit(b, b.cast(v, "f"), self.own_dims(agent), d.span, f"the reward of `{agent}`")
                        b.output("reward", agent, v)
                    except LowerError:
                        pass
        for ex in self.r.externals:
            try:
                v = self.fit(b, b.cast(self.expr(b, ex.value, Scope({}, {}, "step")), "f"), (), ex.span,
                             f"external `{ex.name}`")
                b.output("external", ex.name, v)
            except LowerError:
                pass
        return b

    def draw(self, b: Builder, d: ast.Draw, sc: Scope, dims: tuple[str, ...], name: str) -> str:
        """``x ~ Dist(...)``: one ``random`` uniform per point of ``dims``, transformed by inversion."""
        s = self.src(d.span)
        u = b.random(len(self.sites), dims, s, name)
        self.sites.append(name)
        if d.dist == "Categorical":
            return self.categorical(b, d, sc, u, s)
        args = [self.expr(b, a, sc) for a in d.args]
        if d.dist in ("Normal", "LogNormal") and len(args) == 2:
            v = b.elementwise("add", (args[0], b.elementwise("mul", (args[1], b.elementwise("ndtri", (u,), s)), s)), s)
            return b.elementwise("exp", (v,), s) if d.dist == "LogNormal" else v
        if d.dist == "Uniform" and len(args) == 2:
            span = b.elementwise("sub", (args[1], args[0]), s)
            return b.elementwise("add", (args[0], b.elementwise("mul", (span, u), s)), s)
        if d.dist == "Bernoulli" and len(args) == 1:
            hit = b.elementwise("lt", (u, args[0]), s)
            return b.elementwise("where", (hit, b.const(1.0, "i"), b.const(0.0, "i")), s)
        raise self.error("E712", f"cannot draw from `{d.dist}` with {len(args)} parameter(s)", d.span)

    def categorical(self, b: Builder, d: ast.Draw, sc: Scope, u: str, s: str) -> str:
        """The category is the number of cumulative probabilities ``c_0 … c_{n-2}`` that ``u`` reaches
        (the last category takes what is left). A matrix row's cumulative sums are made at compile time."""
        form = row_form(self.r, d)
        if form is not None:
            name, row = form
            table = self.r.tables[name]
            n = table.shape[-1]
            cum: list[float] = []
            for k in range(0, len(table.values), n):
                acc = 0.0
                for x in table.values[k:k + n]:
                    acc += x
                    cum.append(acc)
            idx = [b.cast(self.expr(b, row, sc), "i", s)] if row is not None else []
            bounds = [b.lookup(tuple(cum), table.shape, (*idx, b.const(float(m), "i")), s) for m in range(n - 1)]
        else:
            probs = [self.expr(b, a, sc) for a in d.args]
            bounds, acc = [], None
            for p in probs[:-1]:
                acc = p if acc is None else b.elementwise("add", (acc, p), s)
                bounds.append(acc)
        k = b.const(0.0)
        for c in bounds:
            k = b.elementwise("add", (k, b.elementwise("float", (b.elementwise("ge", (u, c), s),), s)), s)
        return b.to_int(k, 0, len(bounds), s)

    def lower_observe(self) -> Builder:
        b = Builder("observe", self.pops)
        for agent, ag in self.r.agents.items():
            own = self.own_dims(agent)
            sc = Scope(self.agent_axes(agent), {}, "observe")
            for d in ag.decls:
                if not isinstance(d, ast.Observe):
                    continue
                for item in d.items:
                    try:
                        self.obs_item(b, agent, own, item, sc)
                    except LowerError:
                        continue
        return b

    def obs_item(self, b: Builder, agent: str, own: tuple[str, ...], item: ast.Expr, sc: Scope) -> None:
        label = _clean_label(self.text(item))
        if isinstance(item, ast.Call) and item.func == "onehot":
            if len(item.args) != 1:
                raise self.error("E207", "`onehot` takes one argument", item.span)
            v = self.expr(b, item.args[0], sc)
            op = b.ops[v]
            lv = levels(self.r, item.args[0], self.agent_axes(agent))
            if op.kind == "iota":
                n = self.pops[population(op.attr("dim"))]
            elif op.dtype == "i" and lv is not None and lv[0] >= 0:
                n = lv[1] + 1  # a state declared `in 0:hi` or `in Pop`: one column per value
            else:
                raise self.error("E206", "`onehot` takes the index of a population member (e.g. `onehot(i)`) or "
                                 "a state declared `in 0:hi` or `in Pop`",
                                 item.span)
            if not set(op.dims) <= set(own):
                raise self.error("E305", "`onehot` of another population's index", item.span)
            b.output("obs", agent, v, tuple(f"{label}[{k}]" for k in range(n)), n)
            return
        v = b.cast(self.expr(b, item, sc), "f")
        # An item that mentions the agent's own index (`B_f[i]`) is aligned with the agent's row; any
        # other dims (an unindexed `p`, even of the agent's own population) are feature columns.
        index = self.r.populations[agent].index
        aligned = set(own) if index and self._mentions(item, index) else set()
        feats = tuple(d for d in b.dims(v) if d not in aligned)
        labels = [label]
        for d in feats:
            labels = [f"{lab}[{k}]" if len(feats) == 1 else f"{lab}{'[' if lab == label else ','}{k}"
                      for lab in labels for k in range(self.pops[population(d)])]
        if len(feats) > 1:
            labels = [lab + "]" for lab in labels]
        b.output("obs", agent, v, tuple(labels), 0, feats)

    def run(self) -> Program:
        init, buffers = self.lower_init()
        step = self.lower_step()
        observe = self.lower_observe()
        return Program(
            model=self.r.name, populations=dict(self.pops), singletons=self.singletons,
            agents=list(self.r.agents), horizon=self.r.horizon or 1, buffers=buffers, heads=self.heads,
            runtime_consts=dict(self.runtime), uniforms=dict(self.uniforms), init=init.fn, step=step.fn,
            observe=observe.fn, consts={k: v for k, v in self.r.consts.items() if k not in self.runtime},
            source_files=tuple(sorted(self.r.sources)),
            stages=tuple((st.name, st.agents) for st in self.r.stages),
        )


def storage_axes(pops: tuple[str, ...]) -> tuple[str, ...]:
    """The axes of a value declared over ``pops`` (one per position): a population's first occurrence is
    its first role, a repeat its next role (``x[j, k]`` with j, k in W is stored over ``(W, W~1)``)."""
    return tuple(axis(p, pops[:k].count(p)) for k, p in enumerate(pops))


def _unit_text(u: ast.Unit | None) -> str:
    if u is None:
        return ""
    return "*".join(n if p == 1 else f"{n}^{p}" for n, p in u.factors)


def _clean_label(s: str) -> str:
    """Observation labels are data for humans: keep them printable and short."""
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return " ".join(s.split())[:60]


def lower(resolved: Resolved, diags: Diagnostics | None = None) -> Program:
    """Lower a checked model; raise :class:`EconError` with every diagnostic if it cannot be compiled."""
    diags = diags if diags is not None else Diagnostics()
    diags.sources.update(resolved.sources)
    prog = Lowering(resolved, diags).run()
    if diags.has_errors():
        raise EconError(diags)
    return prog
