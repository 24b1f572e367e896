"""Domains: ``log``, ``sqrt`` and fractional powers of non-negative values; no division by zero.

Every runtime expression is evaluated over intervals built from the declared bounds (``state x in
[lo, hi]``, ``param`` bounds, literal values and distributions, action grids, constants), in step order
so that derived quantities get bounds too. ``ifelse(cond, a, b)`` and ``cond ? a : b`` evaluate ``a``
knowing ``cond`` (``S[j] > 0 && S[j] > B[j]``, or a boolean quantity such as ``ρ[i]`` whose equation
states it) and ``b`` knowing its negation. When intervals cannot prove a fact, SymPy tries, with
symbols that carry the sign the intervals do know. Codes: E701 (argument possibly outside the
function's domain), E702 (division by something that can be zero); the offending sub-expression is
underlined.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import sympy

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import NotConstant, Resolved, eval_const
from . import _interval as I
from ._interval import Interval
from ._sites import CURRICULUM_NAMES, Site, const_env, sites

_CMP = ("<", "<=", ">", ">=", "==", "!=")


@dataclass
class Env:
    vars: dict[str, Interval] = field(default_factory=dict)  # index variables, function parameters
    facts: dict[ast.Expr, Interval] = field(default_factory=dict)  # what guards establish
    nonzero: frozenset[ast.Expr] = frozenset()
    function: ast.Function | None = None  # inside this function's body (inlined at a call site)

    def child(self, **kw) -> Env:
        return replace(self, **kw)


def substitute(e: ast.Expr, mapping: dict[str, ast.Expr]) -> ast.Expr:
    """``e`` with the names in ``mapping`` replaced (not inside reductions that rebind them)."""
    if not mapping:
        return e
    if isinstance(e, ast.Name):
        return mapping.get(e.id, e)
    if isinstance(e, ast.Reduce):
        inner = {k: v for k, v in mapping.items() if k != e.var}
        return replace(e, body=substitute(e.body, inner),
                       cond=substitute(e.cond, inner) if e.cond is not None else None)
    changes = {}
    for name in ("indices", "args", "params", "items"):
        if hasattr(e, name):
            changes[name] = tuple(substitute(x, mapping) for x in getattr(e, name))
    for name in ("left", "right", "operand", "cond", "then", "other"):
        v = getattr(e, name, None)
        if isinstance(v, ast.Expr):
            changes[name] = substitute(v, mapping)
    return replace(e, **changes) if changes else e


class Domains:
    def __init__(self, r: Resolved, diags: Diagnostics):
        self.r, self.diags = r, diags
        self.symbols: dict[str, Interval] = {}
        self.defs: dict[str, ast.Equation] = {}
        self.reported: set[tuple[str, ast.Span]] = set()
        self.depth = 0
        self.consts = const_env(r)
        self.annealed: set[str] = set()  # constants the curriculum changes during training
        self._declared()

    # ------------------------------------------------------------ declared bounds
    def _const_iv(self, e: ast.Expr | None) -> Interval | None:
        if e is None:
            return None
        try:
            return Interval.point(eval_const(e, self.consts, self.r.tables))
        except (NotConstant, RecursionError):
            return None

    def _bounds(self, b: ast.Bounds | None) -> Interval:
        if b is None:
            return I.TOP
        lo, hi = self._const_iv(b.lo), self._const_iv(b.hi)
        return Interval(lo.lo if lo else -math.inf, hi.hi if hi else math.inf)

    def _declared(self) -> None:
        r = self.r
        for name, v in self.consts.items():
            self.symbols[name] = Interval.point(v)
        for name, table in r.tables.items():  # an entry of a vector or matrix constant
            self.symbols[name] = Interval(min(table.values), max(table.values))
        for name, pop in r.populations.items():
            ag = r.agents[name]
            idx_env = Env(vars={pop.index: Interval(0, pop.size - 1)} if pop.index else {})
            for d in ag.decls:
                if isinstance(d, ast.Param):
                    iv = self._bounds(d.bounds)
                    if d.value is not None:
                        iv = I.meet(iv, self._value_iv(d.value, idx_env))
                    elif d.dist is not None:
                        iv = I.meet(iv, self._dist_iv(d.dist))
                    self.symbols[d.name] = iv
                elif isinstance(d, ast.State):
                    self.symbols[d.name] = self._bounds(d.bounds)
                    lv = r.symbols[d.name].levels if d.name in r.symbols else None
                    if lv is not None:  # `in lo:hi` or `in Pop`
                        self.symbols[d.name] = I.meet(self.symbols[d.name], Interval(lv[0], lv[1]))
        for it in r.model.items:  # economy-wide states
            if isinstance(it, ast.State):
                self.symbols[it.name] = self._bounds(it.bounds)
                lv = r.symbols[it.name].levels if it.name in r.symbols else None
                if lv is not None:
                    self.symbols[it.name] = I.meet(self.symbols[it.name], Interval(lv[0], lv[1]))
        for heads in r.heads.values():
            for h in heads:
                for k, comp in enumerate(h.components):
                    if h.continuous:
                        self.symbols[comp] = Interval(*h.bounds[k])
                    elif h.values[k]:
                        self.symbols[comp] = Interval(min(h.values[k]), max(h.values[k]))
        if r.horizon is not None:
            self.symbols["t"] = Interval(0, max(r.horizon - 1, 0))
        for n in CURRICULUM_NAMES:
            self.symbols.setdefault(n, I.NONNEG)
        for c in r.curriculum.items if r.curriculum is not None else ():
            if isinstance(c, ast.Anneal) and c.name in r.consts:  # the default, then every annealed value
                self.annealed.add(c.name)
                self.symbols[c.name] = I.hull(self.symbols[c.name], self._value_iv(c.value, Env()))

    def _value_iv(self, e: ast.Expr, env: Env) -> Interval:
        if isinstance(e, ast.Array):
            ivs = [self._value_iv(x, env) for x in e.items]
            out = ivs[0] if ivs else I.TOP
            for x in ivs[1:]:
                out = I.hull(out, x)
            return out
        quiet = self.diags
        self.diags = Diagnostics()  # parameter formulas are checked (and reported) as sites
        try:
            return self.iv(e, env)
        finally:
            self.diags = quiet

    def _dist_iv(self, d: ast.Call) -> Interval:
        args = [self._const_iv(a) for a in d.args]
        if d.func == "Uniform" and len(args) == 2 and all(args):
            return I.hull(args[0], args[1])  # type: ignore[arg-type]  # lo + (hi - lo)·u: either order
        if d.func == "LogNormal":
            return Interval(0, math.inf, True)
        if d.func == "Pareto" and args and args[0] is not None:
            return Interval(args[0].lo, math.inf)
        return I.TOP

    # ------------------------------------------------------------ reporting
    def _report(self, code: str, msg: str, node: ast.Expr, env: Env, hint: str) -> None:
        key = (code, node.span)
        if key in self.reported:
            return
        self.reported.add(key)
        notes = []
        if env.function is not None:
            notes.append(f"in the body of `{env.function.name}`, with the arguments of the call being checked")
        self.diags.add(code, msg, node.span, hint, *notes)

    # ------------------------------------------------------------ guards
    def facts(self, cond: ast.Expr, truth: bool, env: Env) -> Env:
        """``env`` extended with what ``cond`` (or its negation) establishes."""
        facts = dict(env.facts)
        nonzero = set(env.nonzero)
        self._collect(cond, truth, env, facts, nonzero, 0)
        return env.child(facts=facts, nonzero=frozenset(nonzero))

    def _collect(self, c: ast.Expr, truth: bool, env: Env, facts: dict, nonzero: set, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(c, ast.UnOp) and c.op == "!":
            self._collect(c.operand, not truth, env, facts, nonzero, depth + 1)
            return
        if isinstance(c, ast.BinOp) and ((c.op == "&&" and truth) or (c.op == "||" and not truth)):
            self._collect(c.left, truth, env, facts, nonzero, depth + 1)
            self._collect(c.right, truth, env, facts, nonzero, depth + 1)
            return
        if isinstance(c, ast.Name | ast.Index):
            name = c.id if isinstance(c, ast.Name) else c.base
            eq = self.defs.get(name)
            if eq is not None:
                idx = c.indices if isinstance(c, ast.Index) else ()
                if len(idx) == len(eq.indices):
                    mapping = {n: x for n, x in zip(eq.indices, idx, strict=True) if not (
                        isinstance(x, ast.Name) and x.id == n)}
                    self._collect(substitute(eq.value, mapping), truth, env, facts, nonzero, depth + 1)
                    return
            if truth:
                nonzero.add(c)  # a truthy value is not zero
            return
        if not (isinstance(c, ast.BinOp) and c.op in _CMP):
            return
        op = c.op if truth else {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}[c.op]
        a, b = c.left, c.right
        if op in ("<", "<="):
            a, b, op = b, a, {"<": ">", "<=": ">="}[op]
        ia, ib = self.iv(a, env), self.iv(b, env)
        if op in (">", ">="):
            strict = op == ">"
            # a > b: a is above b's lowest value, b below a's highest
            self._add(facts, a, Interval(ib.lo, math.inf, strict or ib.lo_open, True))
            self._add(facts, b, Interval(-math.inf, ia.hi, True, strict or ia.hi_open))
        elif op == "==":
            self._add(facts, a, ib)
            self._add(facts, b, ia)
        elif op == "!=":
            if ib.is_point and ib.lo == 0:
                nonzero.add(a)
            if ia.is_point and ia.lo == 0:
                nonzero.add(b)

    @staticmethod
    def _add(facts: dict, e: ast.Expr, iv: Interval) -> None:
        facts[e] = I.meet(facts[e], iv) if e in facts else iv

    # ------------------------------------------------------------ evaluation
    def iv(self, e: ast.Expr, env: Env) -> Interval:
        out = self._iv(e, env)
        if e in env.facts:
            out = I.meet(out, env.facts[e])
        if e in env.nonzero and out.lo == 0 and out.hi > 0:
            out = Interval(0, out.hi, True, out.hi_open)
        elif e in env.nonzero and out.hi == 0 and out.lo < 0:
            out = Interval(out.lo, 0, out.lo_open, True)
        return out

    def _name_iv(self, name: str, env: Env) -> Interval:
        if name in env.vars:
            return env.vars[name]
        return self.symbols.get(name, I.TOP)

    def _iv(self, e: ast.Expr, env: Env) -> Interval:
        if isinstance(e, ast.Num):
            return Interval.point(e.value)
        if isinstance(e, ast.Inf):
            return Interval(math.inf, math.inf, True, True)
        if isinstance(e, ast.Name):
            return self._name_iv(e.id, env)
        if isinstance(e, ast.Index):
            for x in e.indices:
                self.iv(x, env)
            return self._name_iv(e.base, env) if e.base not in env.vars else I.TOP
        if isinstance(e, ast.UnOp):
            a = self.iv(e.operand, env)
            return I.UNIT if e.op == "!" else I.neg(a) if e.op == "-" else a
        if isinstance(e, ast.BinOp):
            return self._binop(e, env)
        if isinstance(e, ast.Ternary):
            self.iv(e.cond, env)
            return I.hull(self.iv(e.then, self.facts(e.cond, True, env)),
                          self.iv(e.other, self.facts(e.cond, False, env)))
        if isinstance(e, ast.Call):
            return self._call(e, env)
        if isinstance(e, ast.Reduce):
            return self._reduce(e, env)
        if isinstance(e, ast.Draw):
            return self._draw(e, env)
        if isinstance(e, ast.Array):
            out = None
            for x in e.items:
                v = self.iv(x, env)
                out = v if out is None else I.hull(out, v)
            return out or I.TOP
        return I.TOP

    def _binop(self, e: ast.BinOp, env: Env) -> Interval:
        if e.op in ("&&", "||"):
            self.iv(e.left, env)
            # the right operand of `&&` is only relevant when the left holds
            self.iv(e.right, self.facts(e.left, e.op == "&&", env))
            return I.UNIT
        a, b = self.iv(e.left, env), self.iv(e.right, env)
        if e.op in _CMP:
            return I.UNIT
        if e.op == "+":
            return I.add(a, b)
        if e.op == "-":
            return I.sub(a, b)
        if e.op == "*":
            return I.mul(a, b)
        if e.op == "/":
            if not b.nonzero and not self._sympy(e.right, env, "nonzero"):
                self._report("E702", f"`{_text(e.right)}` can be zero here (its values lie in {b})", e.right, env,
                             f"guard the division, e.g. `ifelse({_text(e.right)} > 0, ..., 0)`, or declare a "
                             "positive lower bound")
            return I.div(a, b)
        if e.op == "^":
            integer = b.is_point and b.lo == int(b.lo)
            if not integer and not a.nonneg and not self._sympy(e.left, env, "nonneg"):
                self._report("E701", f"fractional power of `{_text(e.left)}`, which can be negative (its values lie "
                             f"in {a})", e.left, env,
                             f"declare bounds that keep it non-negative, or use `max({_text(e.left)}, 0)`")
            elif b.lo < 0 and not a.nonzero and not self._sympy(e.left, env, "nonzero"):
                self._report("E702", f"`{_text(e.left)}` can be zero and is raised to a negative power", e.left, env,
                             "keep the base away from zero, or guard it with `ifelse`")
            return I.power(a, b)
        return I.TOP

    def _call(self, e: ast.Call, env: Env) -> Interval:
        f = e.func
        if f == "ifelse" and len(e.args) == 3:
            c, a, b = e.args
            self.iv(c, env)
            return I.hull(self.iv(a, self.facts(c, True, env)), self.iv(b, self.facts(c, False, env)))
        if f == "size" and len(e.args) == 1 and isinstance(e.args[0], ast.Name):
            pop = self.r.populations.get(e.args[0].id)
            return Interval.point(pop.size) if pop else I.TOP
        args = [self.iv(a, env) for a in e.args]
        params = [self.iv(a, env) for a in e.params]
        if f in ("log", "sqrt") and len(args) == 1:
            if not args[0].nonneg and not self._sympy(e.args[0], env, "nonneg"):
                self._report("E701", f"`{f}` of `{_text(e.args[0])}`, which can be negative (its values lie in "
                             f"{args[0]})", e.args[0], env,
                             "declare bounds that keep it non-negative, or guard it with `max(..., 0)`")
            return I.log(args[0]) if f == "log" else I.sqrt(args[0])
        if f == "exp" and len(args) == 1:
            return I.exp(args[0])
        if f == "abs" and len(args) == 1:
            return I.absolute(args[0])
        if f in ("floor", "ceil") and len(args) == 1:
            a = args[0]
            return Interval(math.floor(a.lo) if math.isfinite(a.lo) else a.lo,
                            math.ceil(a.hi) if math.isfinite(a.hi) else a.hi)
        if f in ("min", "max") and args:
            out = args[0]
            for x in args[1:]:
                out = I.minimum(out, x) if f == "min" else I.maximum(out, x)
            return out
        if f == "clamp" and len(args) == 3:
            return I.maximum(args[1], I.minimum(args[0], args[2]))
        if f == "onehot":
            return I.UNIT
        fn = self.r.functions.get(f)
        if fn is not None and self.depth < 20:
            self.depth += 1
            try:
                vars_ = {p.name: v for p, v in zip(fn.inputs + fn.params, args + params, strict=False)}
                return self.iv(fn.body, Env(vars=vars_, function=fn))
            finally:
                self.depth -= 1
        return I.TOP

    def _draw(self, e: ast.Draw, env: Env) -> Interval:
        """A draw's parameters must lie in their domains (E710, E711); its value ranges over the support."""
        args = [self.iv(a, env) for a in e.args]
        if e.dist in ("Normal", "LogNormal") and len(args) == 2:
            if not args[1].positive and not self._sympy(e.args[1], env, "positive"):
                self._report("E710", f"the standard deviation of `{e.dist}` {_bound_text(args[1])}", e.args[1],
                             env, "it must be positive: declare bounds, or use `max(σ, 0.01)`")
            return I.TOP if e.dist == "Normal" else Interval(0, math.inf, True, True)
        if e.dist == "Uniform" and len(args) == 2:
            if args[0].hi > args[1].lo:
                self._report("E710", "the lower end of `Uniform(lo, hi)` can exceed its upper end", e, env,
                             "make sure lo <= hi under the declared bounds")
            return I.hull(args[0], args[1])
        if e.dist == "Bernoulli" and len(args) == 1:
            self._probability(e.args[0], args[0], env)
            return Interval(0, 1)
        if e.dist == "Categorical" and len(e.args) > 1:
            for a, iv in zip(e.args, args, strict=True):
                self._probability(a, iv, env)
            total = e.args[0]
            for a in e.args[1:]:
                total = ast.BinOp("+", total, a, span=e.span)
            try:
                one = sympy.simplify(_ToSympy(self, env).conv(total) - 1) == 0
            except (_Unsupported, RecursionError, TypeError, ValueError):
                one = False
            if not one and not all(iv.is_point for iv in args):
                self._report("E711", "the probabilities of `Categorical` are not provably summing to 1", e, env,
                             "give the last category `1 - (p1 + ...)`")
            return Interval(0, len(e.args) - 1)
        if e.dist == "Categorical" and len(e.args) == 1:
            table = self.r.tables.get(e.args[0].base if isinstance(e.args[0], ast.Index) else
                                      getattr(e.args[0], "id", ""))
            return Interval(0, table.shape[-1] - 1) if table is not None else I.TOP
        return I.TOP

    def _probability(self, node: ast.Expr, iv: Interval, env: Env) -> None:
        if iv.lo < 0 or iv.hi > 1:
            self._report("E710", f"the probability {_bound_text(iv)}, outside [0, 1]", node, env,
                         "declare bounds, or use `clamp(p, 0, 1)`")

    def _reduce(self, e: ast.Reduce, env: Env) -> Interval:
        pop = self.r.populations.get(e.over)
        n = pop.size if pop else 1
        inner = env.child(vars={**env.vars, e.var: Interval(0, max(n - 1, 0))})
        if e.cond is not None:
            self.iv(e.cond, inner)
            inner = self.facts(e.cond, True, inner)
        body = self.iv(e.body, inner)
        if e.op == "sum":
            out = I.scale(I.hull(body, Interval.point(0)) if e.cond is not None else body, n)
            attained = self._attained_term(e, env, inner)
            if attained is not None and n >= 1:  # one member's term lies in `attained`, the others in `out / n`
                others = I.hull(body, Interval.point(0)) if e.cond is not None else body
                out = I.meet(out, I.add(attained, I.scale(others, n - 1)) if n > 1 else attained)
            return out
        if e.op == "prod":
            return I.power(body, Interval.point(n)) if body.nonneg else I.TOP
        return body  # mean, min, max lie within the range of the body

    # ------------------------------------------------------------ members that attain an extreme
    def _attained_term(self, e: ast.Reduce, env: Env, inner: Env) -> Interval | None:
        """The interval of the term of ``sum(... for k in P)`` for a member that certainly exists: the filter,
        or the condition of an ``ifelse`` body, holds for at least one k (``p[k] == min(p[m] for m in P)``).
        None when no such member is known."""
        if e.cond is not None:
            return self.iv(e.body, self.facts(e.cond, True, inner)) if self._attained(e.cond, e.var, e.over) else None
        body = e.body
        if isinstance(body, ast.Call) and body.func == "ifelse" and len(body.args) == 3:
            cond, then = body.args[0], body.args[1]
        elif isinstance(body, ast.Ternary):
            cond, then = body.cond, body.then
        else:
            return None
        return self.iv(then, self.facts(cond, True, inner)) if self._attained(cond, e.var, e.over) else None

    def _attained(self, c: ast.Expr, var: str, pop: str) -> bool:
        """Whether ``c`` holds for at least one ``var`` in ``pop``: ``x[var] == m``, ``x[var] <= m`` (or the
        mirror image) where ``m`` is ``min(x[k] for k in pop)`` without a filter (``>=`` and ``max`` alike).
        ``x[var]`` must be a plain value, read from the same buffer as the reduction reads, so that the
        member holding the minimum compares equal to it exactly, in floating point too."""
        if not (isinstance(c, ast.BinOp) and c.op in ("==", "<=", ">=")):
            return False
        flip = {"==": "==", "<=": ">=", ">=": "<="}
        for x, m, op in ((c.left, c.right, c.op), (c.right, c.left, flip[c.op])):
            red = self._extreme(m)
            if red is None or red.over != pop or red.cond is not None or op not in ("==", "<=" if red.op == "min"
                                                                                     else ">="):
                continue
            if isinstance(x, ast.Index) and any(isinstance(i, ast.Name) and i.id == var for i in x.indices) \
                    and substitute(red.body, {red.var: ast.Name(var)}) == x:
                return True
        return False

    def _extreme(self, m: ast.Expr, depth: int = 0) -> ast.Reduce | None:
        """``m`` as a ``min``/``max`` reduction, looking through scalar step quantities (``pmin = min(...)``)."""
        if isinstance(m, ast.Reduce):
            return m if m.op in ("min", "max") else None
        if isinstance(m, ast.Name) and depth < 8:
            eq = self.defs.get(m.id)
            if eq is not None and not eq.indices:
                return self._extreme(eq.value, depth + 1)
        return None

    # ------------------------------------------------------------ SymPy fallback
    def _sympy(self, e: ast.Expr, env: Env, want: str) -> bool:
        """Try to prove ``e`` non-negative or non-zero with SymPy's assumptions."""
        return any(bool({"nonneg": x.is_nonnegative, "positive": x.is_positive}.get(want, x.is_nonzero))
                   for x in self.sympy_forms(e, env))

    def sympy_forms(self, e: ast.Expr, env: Env) -> Iterator[sympy.Expr]:
        """``e`` in SymPy (symbols carry the signs the intervals know), each form a proof may try in turn:
        first with step quantities as atoms (their intervals may carry guard facts), then with them replaced
        by their equations, which keeps the correlation of `inc - tax` with `tax = τ * inc`."""
        for expand in (False, True):
            try:
                yield _ToSympy(self, env, expand).conv(e)
            except (_Unsupported, RecursionError, TypeError, ValueError):
                continue


class _Unsupported(Exception):
    pass


class _ToSympy:
    """AST → SymPy, one symbol per distinct leaf, each carrying the sign its interval proves."""

    MAX_EXPANSIONS = 32

    def __init__(self, d: Domains, env: Env, expand: bool = False):
        self.d, self.env, self.expand = d, env, expand
        self.atoms: dict[ast.Expr, sympy.Expr] = {}
        self.expansions = 0

    def _definition(self, e: ast.Expr) -> ast.Expr | None:
        """The right-hand side of the step quantity ``e`` with its indices substituted, when expanding."""
        if not self.expand or self.expansions >= self.MAX_EXPANSIONS or not isinstance(e, ast.Name | ast.Index):
            return None
        name = e.id if isinstance(e, ast.Name) else e.base
        eq = self.d.defs.get(name)
        idx = e.indices if isinstance(e, ast.Index) else ()
        if eq is None or name in self.env.vars or len(eq.indices) != len(idx):
            return None
        rebound = {n.var for n in eq.value.walk() if isinstance(n, ast.Reduce)}
        if any(isinstance(n, ast.Name) and n.id in rebound for x in idx for n in x.walk()):
            return None  # substituting would capture an index in a reduction of the definition
        self.expansions += 1
        return substitute(eq.value, {n: x for n, x in zip(eq.indices, idx, strict=True)
                                     if not (isinstance(x, ast.Name) and x.id == n)})

    def _atom(self, e: ast.Expr) -> sympy.Expr:
        if e not in self.atoms:
            iv = self.d.iv(e, self.env)
            if iv.is_point and math.isfinite(iv.lo):
                self.atoms[e] = sympy.Rational(repr(iv.lo))  # a constant: its value, exactly
                return self.atoms[e]
            kw: dict[str, bool] = {"real": True}
            if iv.positive:
                kw["positive"] = True
            elif iv.nonneg:
                kw["nonnegative"] = True
            elif iv.negative:
                kw["negative"] = True
            elif iv.nonpos:
                kw["nonpositive"] = True
            self.atoms[e] = sympy.Symbol(f"a{len(self.atoms)}", **kw)
        return self.atoms[e]

    def conv(self, e: ast.Expr) -> sympy.Expr:
        if isinstance(e, ast.Num):
            return sympy.Float(e.value) if e.value != int(e.value) else sympy.Integer(int(e.value))
        if isinstance(e, ast.UnOp) and e.op == "-":
            return -self.conv(e.operand)
        if isinstance(e, ast.BinOp) and e.op in ("+", "-", "*", "/", "^"):
            a, b = self.conv(e.left), self.conv(e.right)
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                    "^": lambda: a ** b}[e.op]()
        if isinstance(e, ast.Call) and e.func in ("exp", "log", "sqrt", "abs") and len(e.args) == 1:
            f = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs}[e.func]
            return f(self.conv(e.args[0]))
        definition = self._definition(e)
        if definition is not None:
            return self.conv(definition)
        if isinstance(e, ast.Name | ast.Index | ast.Call | ast.Reduce | ast.Ternary):
            return self._atom(e)
        raise _Unsupported


def _bound_text(iv: Interval) -> str:
    """``is 2`` or ``can be anything in [lo, hi]``."""
    if iv.is_point:
        return f"is {iv.lo:g}"
    if iv.lo > -math.inf or iv.hi < math.inf:
        return f"can be anything in [{iv.lo:g}, {iv.hi:g}]"
    return "can be any number"


def _text(e: ast.Expr) -> str:
    from ..printer import print_expr

    s = print_expr(e)
    return s if len(s) <= 60 else s[:57] + "..."


def check_domains(r: Resolved, diags: Diagnostics) -> None:
    d = _step_domains(r, diags)
    for s in sites(r):
        if s.ctx in ("step", "next", "function", "const", "dist", "bounds"):
            continue  # step equations are done; function bodies are checked at their call sites
        d.iv(s.expr, Env(vars=_index_vars(r, s)))



def _step_domains(r: Resolved, diags: Diagnostics) -> Domains:
    """Declared ranges, then the range of every step quantity in step order (checking each equation)."""
    d = Domains(r, diags)
    for s in sites(r):
        if s.ctx in ("step", "next"):
            eq = s.node
            assert isinstance(eq, ast.Equation)
            env = Env(vars=_index_vars(r, s))
            iv = d.iv(s.expr, env)
            if not eq.is_next and eq.name not in d.defs:
                d.defs[eq.name] = eq
                d.symbols[eq.name] = iv
    return d


def value_domains(r: Resolved) -> dict[str, Interval]:
    """The range of every constant, parameter, state, action and step quantity (for hover in editors)."""
    return _step_domains(r, Diagnostics()).symbols


def _index_vars(r: Resolved, s: Site) -> dict[str, Interval]:
    out = {}
    for var, pop in s.bound.items():
        p = r.populations.get(pop)
        if p is not None:
            out[var] = Interval(0, max(p.size - 1, 0))
    return out
