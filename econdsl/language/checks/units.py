"""Units: optional annotations (``::money``, ``::money/goods``, ``::hours``), checked soundly.

The rule: a name declared without a unit (a constant, parameter, state or action) is a pure number, as
number literals are; so a quantity whose unit matters must say it. Step quantities take the unit of
their right-hand side. Number literals, the member index (``j`` in ``param w = 1 + j / 10``), ``t`` and
the curriculum's ``e``/``age`` are numbers written in the model: in sums, comparisons and declared
values they take the unit their context needs (``max(x, 0)``, ``param wtp::money/goods = 1 + 9 * c / 49``);
in products they are pure numbers. A function argument without a unit takes the unit of what each call
passes, and the body is checked per call.

A dimensioned value raised to a fractional or symbolic power (Cobb–Douglas ``K^(1-α) * L^α``) has no
unit in the vocabulary: its unit is unknown and agrees with anything, and the place is listed under
"not checked". A dimensioned value raised to an infinite or NaN power is an error (E110): the result
is 0, 1 or infinite in every unit. Codes: E601 mismatch, E602 a unit where a pure number is needed
(exponents, ``log``/``exp`` arguments), E603 a unit outside the vocabulary, E110 an infinite power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ast
from ..diagnostics import Diagnostics, did_you_mean
from ..printer import print_expr
from ..resolve import NotConstant, Resolved, eval_const
from ._sites import CURRICULUM_NAMES, Site, sites

VOCABULARY = ("money", "goods", "hours", "capital", "utils", "period")

U = tuple[tuple[str, int], ...]  # a unit: sorted (base, power) pairs; () is dimensionless
ONE: U = ()


@dataclass(frozen=True)
class Typed:
    unit: U | None  # None: unknown
    literal: bool = False  # a plain number: agrees with any unit in sums


UNKNOWN = Typed(None)

# Draws: the names of the two parameters that share the draw's unit, and why the others are pure numbers.
_LOCATION_SCALE = {"Normal": ("mean", "standard deviation"), "Uniform": ("lower bound", "upper bound")}
_PROBABILITY_HINT = "a probability is a pure number: divide by a reference quantity of the same unit first"
_PURE_DRAW_HINT = {
    "LogNormal": "`LogNormal(μ, σ)` is `exp(Normal(μ, σ))`: μ and σ are on the log scale, pure numbers, and so "
                 "is the draw; multiply the draw by a level in the unit you need (`y[j] = ȳ * ε[j]`)",
    "Bernoulli": _PROBABILITY_HINT,
    "Categorical": _PROBABILITY_HINT,
}


def show(u: U | None) -> str:
    if u is None:
        return "an unknown unit"
    if not u:
        return "a pure number"
    num = [n if p == 1 else f"{n}^{p}" for n, p in u if p > 0]
    den = [n if p == -1 else f"{n}^{-p}" for n, p in u if p < 0]
    text = "*".join(num) or "1"
    if den:
        text += "/" + "/".join(den)
    return f"`{text}`"


def of(unit: ast.Unit | None) -> U | None:
    """The unit of an annotation; None for no annotation or one outside the vocabulary (E603)."""
    if unit is None:
        return None
    return tuple(sorted((n, p) for n, p in unit.factors if n in VOCABULARY and p != 0)) if all(
        n in VOCABULARY for n, _ in unit.factors) else None


def declared(unit: ast.Unit | None) -> U | None:
    """The unit a declaration gives its name: no annotation is a pure number; None only for a unit
    outside the vocabulary (already E603)."""
    return ONE if unit is None else of(unit)


def _mul(a: U, b: U, sign: int = 1) -> U:
    out: dict[str, int] = dict(a)
    for n, p in b:
        out[n] = out.get(n, 0) + sign * p
    return tuple(sorted((n, p) for n, p in out.items() if p != 0))


def check_units(r: Resolved, diags: Diagnostics) -> None:
    for n in r.model.walk():
        if isinstance(n, ast.Unit):
            for name, _ in n.factors:
                if name not in VOCABULARY:
                    diags.add("E603", f"`{name}` is not a unit", n.span,
                              did_you_mean(name, VOCABULARY) or "units: " + ", ".join(VOCABULARY) + ", 1")
    inf = _infer_steps(r, diags)
    # every value with a declared unit: sites, plus the model-level constants (which sites() leaves out)
    model_consts = [Site(it.value, "const", node=it) for it in r.model.items if isinstance(it, ast.Const)]
    for s in [*sites(r), *model_consts]:
        if s.ctx in ("step", "next"):
            continue
        t = inf.infer(s.expr, s)
        node = s.node
        want = None
        if (s.ctx in ("param", "init", "bounds") and isinstance(node, ast.Param | ast.State)
                or s.ctx == "const" and isinstance(node, ast.Const)):
            want = declared(node.unit)
        elif s.ctx == "function" and isinstance(node, ast.Function):
            want = of(node.unit)  # a function without a result unit returns what its body computes
        if _disagrees(t, want):
            diags.add("E601", f"`{node.name}` is declared in {show(want)}, but its value is in "  # type: ignore[union-attr]
                      f"{show(t.unit)}", s.expr.span, "convert the value, or fix the unit annotation")


def _infer_steps(r: Resolved, diags: Diagnostics) -> _Infer:
    """Infer the unit of every step quantity, in step order, checking each transition against its state."""
    inf = _Infer(r, diags)
    step_sites = [s for s in sites(r) if s.ctx in ("step", "next")]
    for s in step_sites:
        eq = s.node
        assert isinstance(eq, ast.Equation)
        t = inf.infer(s.expr, s)
        if eq.is_next:
            sym = r.symbols.get(eq.name)
            want = declared(sym.unit) if sym is not None and sym.kind == "state" else None
            if _disagrees(t, want):
                diags.add("E601", f"`{eq.name}` is in {show(want)}, but its transition gives {show(t.unit)}",
                          eq.value.span, "convert the right-hand side, or fix the unit annotation")
        elif eq.name not in inf.quantities:
            inf.quantities[eq.name] = t
    return inf


def quantity_units(r: Resolved) -> dict[str, str]:
    """The inferred unit of each step quantity, as text (``money/goods``; ``1`` for a pure number), for hover
    in editors; quantities of unknown unit are left out."""
    inf = _infer_steps(r, Diagnostics())
    return {name: show(t.unit).strip("`") if t.unit else "1" for name, t in inf.quantities.items()
            if t.unit is not None}


def _disagrees(t: Typed, want) -> bool:
    """A value of known unit (not a bare literal) where a different unit is declared."""
    return want is not None and t.unit is not None and not t.literal and t.unit != want


class _Infer:
    def __init__(self, r: Resolved, diags: Diagnostics):
        self.r, self.diags = r, diags
        self.quantities: dict[str, Typed] = {}
        self.arguments: dict[str, Typed] = {}  # inside a function body inferred for one call
        self.depth = 0
        self.inside: set[str] = set()  # the functions whose bodies are being inferred

    def _unknown(self, node: ast.Expr, why: str) -> Typed:
        """An unknown unit that arises from known ones: the place is listed as not checked."""
        text = print_expr(node)
        text = text if len(text) <= 40 else text[:37] + "..."
        self.diags.not_checked("units", node.span, f"`{text}` has no unit: {why}")
        return UNKNOWN

    def _same(self, node: ast.Node, what: str, parts: list[Typed]) -> Typed:
        """All parts must agree; the result is the first known unit."""
        known = [p for p in parts if p.unit is not None and not p.literal]
        for p in known[1:]:
            if p.unit != known[0].unit:
                self.diags.add("E601", f"{what} mixes {show(known[0].unit)} and {show(p.unit)}", node.span,
                               "both sides must have the same unit: convert one (multiply by a price, a wage ...)")
                return UNKNOWN
        if known:
            return Typed(known[0].unit)
        if parts and all(p.literal for p in parts):
            return Typed(ONE, True)
        return UNKNOWN

    def _pure(self, node: ast.Expr, t: Typed, what: str,
              hint: str = "divide by a reference quantity of the same unit first") -> None:
        if t.unit is not None and t.unit != ONE and not t.literal:
            self.diags.add("E602", f"{what} must be a pure number, but this is in {show(t.unit)}", node.span, hint)

    def _symbol_unit(self, name: str, site: Site, bound: set[str]) -> Typed:
        if name in bound:
            return Typed(ONE, True)  # a member number, written in the model like a literal
        fn = site.node if isinstance(site.node, ast.Function) else None
        if fn is not None:
            for p in fn.inputs + fn.params:
                if p.name == name:
                    if p.unit is not None:
                        return Typed(of(p.unit))
                    # unannotated: the unit of the argument of the call being checked; unknown (checked at
                    # each call) when the body is checked on its own
                    return self.arguments.get(name, UNKNOWN)
        if site.ctx in ("curriculum", "anneal", "allow") and name in CURRICULUM_NAMES or name == "t":
            return Typed(ONE, True)  # iteration and step counters
        sym = self.r.symbols.get(name)
        if sym is None:
            return UNKNOWN
        if sym.kind == "quantity":
            return self.quantities.get(name, UNKNOWN)
        if sym.kind in ("const", "param", "state", "action"):
            return Typed(declared(sym.unit))
        return UNKNOWN

    def infer(self, e: ast.Expr, site: Site, bound: frozenset[str] = frozenset()) -> Typed:
        b = set(site.bound) | bound
        if isinstance(e, ast.Num):
            return Typed(ONE, True)
        if isinstance(e, ast.Inf):
            return Typed(None, True)
        if isinstance(e, ast.Name):
            return self._symbol_unit(e.id, site, b)
        if isinstance(e, ast.Index):
            for ix in e.indices:
                self.infer(ix, site, bound)
            return self._symbol_unit(e.base, site, b)
        if isinstance(e, ast.UnOp):
            t = self.infer(e.operand, site, bound)
            return Typed(ONE) if e.op == "!" else t
        if isinstance(e, ast.BinOp):
            return self._binop(e, site, bound)
        if isinstance(e, ast.Ternary):
            self.infer(e.cond, site, bound)
            return self._same(e, "the two branches of `?:`", [self.infer(e.then, site, bound),
                                                            self.infer(e.other, site, bound)])
        if isinstance(e, ast.Call):
            return self._call(e, site, bound)
        if isinstance(e, ast.Reduce):
            inner = bound | {e.var}
            t = self.infer(e.body, site, inner)
            if e.cond is not None:
                self.infer(e.cond, site, inner)
            if e.op == "prod":
                if t.unit is None or t.unit == ONE:
                    return Typed(t.unit)
                return self._unknown(e, f"a product of values in {show(t.unit)}")
            return Typed(t.unit)
        if isinstance(e, ast.Array):
            return self._same(e, "the list", [self.infer(x, site, bound) for x in e.items])
        if isinstance(e, ast.Draw):
            return self._draw(e, site, bound)
        return UNKNOWN

    def _draw(self, e: ast.Draw, site: Site, bound: frozenset[str]) -> Typed:
        """A ``Normal`` or ``Uniform`` draw has the unit of its location (μ; lo and hi), and its scale (σ)
        must have that unit too; ``LogNormal``'s parameters are on the log scale and the probabilities of
        ``Bernoulli`` and ``Categorical`` are pure numbers, so those parameters and draws are pure numbers."""
        args = [self.infer(a, site, bound) for a in e.args]
        if e.dist in _LOCATION_SCALE and len(args) == 2:
            first, second = _LOCATION_SCALE[e.dist]
            a, b = args
            if a.unit is not None and b.unit is not None and not a.literal and not b.literal and a.unit != b.unit:
                self.diags.add("E601", f"`{e.dist}` draws in the unit of its {first}, and its {second} must have "
                               f"it too: here the {first} is in {show(a.unit)} and the {second} in {show(b.unit)}",
                               e.span, f"give the {first} and the {second} the same unit (annotate the constant or "
                               f"parameter that lacks it), or convert one of them")
                return UNKNOWN
            return Typed(a.unit, a.literal and b.literal) if a.unit is not None and not a.literal else b
        hint = _PURE_DRAW_HINT.get(e.dist)
        if hint is not None:
            for a, t in zip(e.args, args, strict=True):
                self._pure(a, t, f"a parameter of `{e.dist}`", hint)
        return Typed(ONE)

    def _binop(self, e: ast.BinOp, site: Site, bound: frozenset[str]) -> Typed:
        lt, rt = self.infer(e.left, site, bound), self.infer(e.right, site, bound)
        if e.op in ("+", "-"):
            return self._same(e, f"`{e.op}`", [lt, rt])
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            self._same(e, "the comparison", [lt, rt])
            return Typed(ONE)
        if e.op in ("&&", "||"):
            return Typed(ONE)
        if e.op in ("*", "/"):
            if lt.unit is None or rt.unit is None:
                return UNKNOWN
            return Typed(_mul(lt.unit, rt.unit, 1 if e.op == "*" else -1), lt.literal and rt.literal)
        if e.op == "^":
            self._pure(e.right, rt, "an exponent")
            if lt.unit == ONE:
                return Typed(ONE, lt.literal and rt.literal)
            if lt.unit is None:
                return UNKNOWN
            try:
                k = eval_const(e.right, self.r.consts)
            except NotConstant:
                return self._unknown(e, f"{show(lt.unit)} to a power that is not a constant")
            if not math.isfinite(k):  # 0 or infinite whatever the unit: no unit could describe it
                self.diags.add("E110", f"a value in {show(lt.unit)} raised to the power {k:g} has no unit",
                               e.span, "make the base a pure number first (divide it by a reference quantity of "
                               "its unit), or use a finite exponent")
                return UNKNOWN
            if k != int(k):  # a dimensioned base to a fractional power has no unit
                return self._unknown(e, f"{show(lt.unit)} to the power {k:g}")
            return Typed(tuple((n, p * int(k)) for n, p in lt.unit if p * int(k) != 0))
        return UNKNOWN

    def _call(self, e: ast.Call, site: Site, bound: frozenset[str]) -> Typed:
        args = [self.infer(a, site, bound) for a in e.args]
        params = [self.infer(a, site, bound) for a in e.params]
        f = e.func
        if f in ("log", "exp"):
            for a, t in zip(e.args, args, strict=True):
                self._pure(a, t, f"the argument of `{f}`")
            return Typed(ONE)
        if f == "sqrt" and len(args) == 1:
            u = args[0].unit
            if u is None:
                return UNKNOWN
            if all(p % 2 == 0 for _, p in u):
                return Typed(tuple((n, p // 2) for n, p in u), args[0].literal)
            return self._unknown(e, f"the square root of {show(u)}")
        if f in ("abs", "floor", "ceil", "next") and len(args) == 1:
            return args[0]
        if f in ("min", "max"):
            return self._same(e, f"`{f}`", args)
        if f == "clamp":
            return self._same(e, "`clamp`", args)
        if f == "ifelse" and len(args) == 3:
            return self._same(e, "the two branches of `ifelse`", args[1:])
        if f in ("onehot", "size"):
            return Typed(ONE)
        fn = self.r.functions.get(f)
        if fn is None:
            return UNKNOWN
        passed: dict[str, Typed] = {}
        for a, t, p in zip(e.args + e.params, args + params, fn.inputs + fn.params, strict=False):
            want = of(p.unit)
            if _disagrees(t, want):
                self.diags.add("E601", f"`{fn.name}` takes `{p.name}` in {show(want)}, but this is in {show(t.unit)}",
                               a.span, "convert the argument, or fix the unit annotation")
            if p.unit is None:
                passed[p.name] = t
        result = self._body(fn, passed, e)
        return Typed(of(fn.unit)) if fn.unit is not None else result

    def _body(self, fn: ast.Function, passed: dict[str, Typed], call: ast.Call) -> Typed:
        """The unit of ``fn``'s body with the units this call passes to its unannotated arguments. Problems
        that only these units cause are reported at the call (the body's own are reported at the body)."""
        if self.depth > 20 or fn.name in self.inside:
            return UNKNOWN  # a recursive function (E207): its unit is not inferred again
        site = Site(fn.body, "function", node=fn)
        outer = self.diags, self.arguments
        own, here = Diagnostics(), Diagnostics()
        self.depth += 1
        self.inside.add(fn.name)
        try:
            self.diags, self.arguments = own, {}
            self.infer(fn.body, site)
            self.diags, self.arguments = here, passed
            t = self.infer(fn.body, site)
        finally:
            self.depth -= 1
            self.inside.discard(fn.name)
            self.diags, self.arguments = outer
        for d in here.items:
            if d not in own.items and d.is_error:
                self.diags.add(d.code, f"with the units of these arguments, the body of `{fn.name}`: {d.message}",
                               call.span, d.hint)
        for u in here.unchecked:
            self.diags.not_checked(*u)
        return t
