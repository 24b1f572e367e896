"""Declared bounds hold from the start: values inside ``in [lo, hi]`` (E703).

``in [lo, hi]`` is a promise the domain and economics checks reason with (the runtime never clips to
it), so every value a declaration gives must keep it: a state's initial value, a parameter's value
(each entry of a list, a formula of the member's index or of other parameters, evaluated member by
member where it is a compile-time formula of the index) and the support of a parameter's distribution.
A value is accepted when intervals or SymPy (with the signs the intervals know) prove it inside; what
is provably outside, and what cannot be proven inside, is E703 at the value, as E701 reports an
argument it cannot prove inside a function's domain. Integer domains (``in lo:hi``, ``in Pop``) are
E311's (the discrete check).
"""

from __future__ import annotations

import math

import sympy

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import NotConstant, Resolved, eval_const
from . import _interval as I
from ._interval import Interval
from .domains import Domains, Env

MAX_MEMBERS = 4096  # a formula of the index is evaluated member by member up to this population size


def check_bounds(r: Resolved, diags: Diagnostics) -> None:
    checker = _Bounds(r, diags)
    for it in r.model.items:
        if isinstance(it, ast.Agent):
            for d in it.decls:
                checker.decl(d, it.name)
        elif isinstance(it, ast.State):  # an economy-wide state
            checker.decl(it, None)


def _end(v: float) -> str:
    return "Inf" if v == math.inf else "-Inf" if v == -math.inf else f"{v:g}"


def _ends(lo: float, hi: float) -> str:
    return f"[{_end(lo)}, {_end(hi)}]"


def _guard(lo: float, hi: float) -> str:
    """The expression that provably keeps a value inside [lo, hi]."""
    if hi == math.inf:
        return f"`max(..., {_end(lo)})`"
    if lo == -math.inf:
        return f"`min(..., {_end(hi)})`"
    return f"`clamp(..., {_end(lo)}, {_end(hi)})`"


class _Bounds:
    def __init__(self, r: Resolved, diags: Diagnostics):
        self.r, self.diags = r, diags
        self.domains = Domains(r, Diagnostics())  # argument domains inside values are check_domains' to report

    def decl(self, d: ast.Decl, agent: str | None) -> None:
        if not isinstance(d, ast.State | ast.Param) or d.bounds is None:
            return
        declared = self.domains._bounds(d.bounds)  # an end that is not a constant promises nothing
        lo, hi = declared.lo, declared.hi
        what = f"the initial value of `{d.name}`" if isinstance(d, ast.State) else f"the value of `{d.name}`"
        if lo > hi:
            self.diags.add("E703", f"the bounds {_ends(lo, hi)} of `{d.name}` are empty: no value can keep them",
                           d.bounds.span, "write the lower end first: `in [lo, hi]` with lo <= hi")
            return
        pop = self.r.populations.get(agent) if agent is not None else None
        index = (pop.index, pop.size) if pop is not None and pop.index else None
        env = Env(vars={index[0]: Interval(0, max(index[1] - 1, 0))} if index else {})
        value = d.init if isinstance(d, ast.State) else d.value
        if isinstance(d, ast.Param) and d.dist is not None:
            self._support(d, d.dist, lo, hi, env)
        elif isinstance(value, ast.Array):
            for k, item in enumerate(value.items):
                self._value(item, f"entry {k} of {what}", lo, hi, env, None, agent)
        elif value is not None:
            self._value(value, what, lo, hi, env, index, agent)

    # ------------------------------------------------------------ a value
    def _value(self, e: ast.Expr, what: str, lo: float, hi: float, env: Env,
               index: tuple[str, int] | None, agent: str | None) -> None:
        hint = (f"the checker reasons with the bounds (the runtime does not clip to them): make the value lie in "
                f"{_ends(lo, hi)}, e.g. {_guard(lo, hi)}, or widen the bounds")
        members = self._members(e, index)
        if members is not None:
            for m, v in enumerate(members):
                if not lo <= v <= hi:
                    where = f" for member {m} of {agent}" if len(set(members)) > 1 else ""
                    self.diags.add("E703", f"{what} is {v:g}{where}, outside its bounds {_ends(lo, hi)}", e.span, hint)
                    return
            return
        iv = self.domains._value_iv(e, env)
        if lo <= iv.lo and iv.hi <= hi:
            return
        if iv.hi < lo or iv.lo > hi:
            said = f"is {iv.lo:g}" if iv.is_point else f"lies in {iv}"
            self.diags.add("E703", f"{what} {said}, outside its bounds {_ends(lo, hi)}", e.span, hint)
        elif not self._proven(e, env, lo, hi):
            self.diags.add("E703", f"{what} is not provably inside its bounds {_ends(lo, hi)} (its values lie in {iv})",
                           e.span, hint)

    def _members(self, e: ast.Expr, index: tuple[str, int] | None) -> list[float] | None:
        """The value of every member when ``e`` is a compile-time formula of the member's index."""
        consts = {k: v for k, v in self.domains.consts.items() if k not in self.domains.annealed}
        try:
            if index is None:
                return [eval_const(e, consts, self.r.tables)]
            name, n = index
            if n > MAX_MEMBERS:
                return None
            return [eval_const(e, {**consts, name: float(m)}, self.r.tables) for m in range(n)]
        except (NotConstant, RecursionError, TypeError):
            return None

    def _proven(self, e: ast.Expr, env: Env, lo: float, hi: float) -> bool:
        """SymPy: ``e - lo`` and ``hi - e`` non-negative in one of the forms the domain check tries."""
        return any((lo == -math.inf or _nonneg(x - _exact(lo))) and (hi == math.inf or _nonneg(_exact(hi) - x))
                   for x in self.domains.sympy_forms(e, env))

    # ------------------------------------------------------------ a distribution
    def _support(self, d: ast.Param, dist: ast.Call, lo: float, hi: float, env: Env) -> None:
        """The values the distribution draws (every backend: ``lower.py``'s formulas of a uniform u in [0, 1))."""
        args = [self.domains._value_iv(a, env) for a in dist.args]
        if len(args) != 2:
            return  # E207 in lowering names the distributions and their parameters
        a, b = args
        if dist.func == "Uniform":
            support = I.hull(a, b)
        elif dist.func == "Normal":  # μ + σ·ndtri(u): any real number unless σ is 0
            support = I.add(a, I.mul(b, I.TOP))
        elif dist.func == "LogNormal":
            support = Interval(0, math.inf, False, True) if not (b.is_point and b.lo == 0) else I.exp(a)
        elif dist.func == "Pareto":  # scale · (1 - u)^(-1/shape): at least the scale for a positive shape
            support = I.mul(a, Interval(1, math.inf) if b.positive else Interval(0, math.inf, True, True))
        else:
            return
        if lo <= support.lo and support.hi <= hi:
            return
        self.diags.add("E703", f"`{dist.func}` draws values in {support}, outside the bounds {_ends(lo, hi)} of "
                       f"`{d.name}`", dist.span,
                       "the checker reasons with the bounds (draws are not clipped to them): declare bounds that "
                       "hold every draw (Normal: [-Inf, Inf]; LogNormal: [0, Inf]; Pareto(scale, shape): "
                       "[scale, Inf]; Uniform(lo, hi): [lo, hi]), or a distribution inside them")


def _exact(v: float) -> sympy.Expr:
    return sympy.Rational(repr(v))


def _nonneg(x: sympy.Expr) -> bool:
    if x.is_nonnegative:
        return True
    try:
        return bool(sympy.together(x).is_nonnegative) or bool(sympy.factor(x).is_nonnegative)
    except (TypeError, ValueError, RecursionError, sympy.PolynomialError):
        return False
