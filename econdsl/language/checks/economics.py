"""Economics: a ``utility`` increasing and concave in each input, a ``production`` non-decreasing in each.

The body is differentiated with SymPy, constants substituted. Each input ranges over the values its
call sites pass (``[0, ∞)`` if it is never called); parameters after ``;`` range over the bounds of the
arguments passed to them (``output(K[i], L[i]; α[i])`` with ``α in [0, 1]``). A derivative's sign is
proved by SymPy's assumptions (symbols carry the signs their ranges prove) or by interval arithmetic
over the derivative's expression tree. Codes: W801 (utility), W802 (production) when not provable.
"""

from __future__ import annotations

import math

import sympy

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import Resolved
from . import _interval as I
from ._interval import Interval
from ._sites import sites
from .domains import Domains, Env, _index_vars


class _Unsupported(Exception):
    pass


def _rational(v: float) -> sympy.Expr:
    if math.isinf(v):
        return sympy.oo if v > 0 else -sympy.oo
    return sympy.Rational(repr(v)) if v != int(v) else sympy.Integer(int(v))


class _Body:
    """A function body as a SymPy expression of its inputs and parameters."""

    def __init__(self, r: Resolved, symbols: dict[str, sympy.Symbol]):
        self.r, self.symbols = r, symbols

    def conv(self, e: ast.Expr, local: dict[str, sympy.Expr], depth: int = 0) -> sympy.Expr:
        if depth > 40:
            raise _Unsupported
        c = lambda x: self.conv(x, local, depth + 1)  # noqa: E731
        if isinstance(e, ast.Num):
            return _rational(e.value)
        if isinstance(e, ast.Name):
            if e.id in local:
                return local[e.id]
            if e.id in self.r.consts:
                return _rational(self.r.consts[e.id])
            raise _Unsupported
        if isinstance(e, ast.UnOp) and e.op in "+-":
            return -c(e.operand) if e.op == "-" else c(e.operand)
        if isinstance(e, ast.BinOp) and e.op in ("+", "-", "*", "/", "^"):
            a, b = c(e.left), c(e.right)
            return _SYMPY_BINOPS[e.op](a, b)
        if isinstance(e, ast.Call):
            args = [c(a) for a in e.args]
            if e.func in ("exp", "log", "sqrt", "abs") and len(args) == 1:
                return {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs}[e.func](args[0])
            if e.func in ("min", "max") and args:
                return (sympy.Min if e.func == "min" else sympy.Max)(*args)
            fn = self.r.functions.get(e.func)
            if fn is not None:
                params = [c(a) for a in e.params]
                inner = {p.name: v for p, v in zip(fn.inputs + fn.params, args + params, strict=False)}
                return self.conv(fn.body, inner, depth + 1)
        raise _Unsupported


def sign_of(expr: sympy.Expr, ranges: dict[sympy.Symbol, Interval]) -> Interval:
    """Interval of a SymPy expression with its symbols in the given ranges."""
    if expr.is_Number:
        return Interval.point(float(expr))
    if expr.is_Symbol:
        return ranges.get(expr, I.TOP)
    if expr.is_Add:
        out = Interval.point(0)
        for a in expr.args:
            out = I.add(out, sign_of(a, ranges))
        return out
    if expr.is_Mul:
        out = Interval.point(1)
        for a in expr.args:
            out = I.mul(out, sign_of(a, ranges))
        return out
    if expr.is_Pow:
        return I.power(sign_of(expr.base, ranges), sign_of(expr.exp, ranges))
    if isinstance(expr, sympy.exp):
        return I.exp(sign_of(expr.args[0], ranges))
    if isinstance(expr, sympy.log):
        return I.log(sign_of(expr.args[0], ranges))
    return I.TOP


def _symbol(name: str, iv: Interval) -> sympy.Symbol:
    kw: dict[str, bool] = {"real": True}
    if iv.positive:
        kw["positive"] = True
    elif iv.nonneg:
        kw["nonnegative"] = True
    return sympy.Symbol(name, **kw)


def _proves(expr: sympy.Expr, ranges: dict[sympy.Symbol, Interval], want: str) -> bool:
    """want: "nonneg" or "nonpos"."""
    for k in range(2):
        candidate = expr if k == 0 else sympy.simplify(expr)  # simplify only when the plain form fails
        if (candidate.is_nonnegative if want == "nonneg" else candidate.is_nonpositive):
            return True
        iv = sign_of(candidate, ranges)
        if (iv.nonneg if want == "nonneg" else iv.nonpos):
            return True
    return False


_SYMPY_BINOPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                 "/": lambda a, b: a / b, "^": lambda a, b: a ** b}


def _call_ranges(r: Resolved, d: Domains, fn: ast.Function) -> list[Interval | None]:
    """For each input and parameter of ``fn``, the hull of what its call sites pass (None: no call)."""
    n = len(fn.inputs) + len(fn.params)
    out: list[Interval | None] = [None] * n
    for s in sites(r):
        if s.ctx in ("function", "const", "dist", "bounds"):
            continue
        inner = _index_vars(r, s)
        for pop in r.populations.values():  # reduction variables around the call
            if pop.index:
                inner.setdefault(pop.index, Interval(0, max(pop.size - 1, 0)))
        for node in s.expr.walk():
            if isinstance(node, ast.Call) and node.func == fn.name:
                vals = [d.iv(a, Env(vars=inner)) for a in node.args + node.params]  # d reports nowhere
                for k, v in enumerate(vals[:n]):
                    out[k] = v if out[k] is None else I.hull(out[k], v)  # type: ignore[arg-type]
    return out


def check_economics(r: Resolved, diags: Diagnostics) -> None:
    fns = [f for f in r.functions.values() if f.kind in ("utility", "production")]
    if not fns:
        return
    d = Domains(r, Diagnostics())
    for fn in fns:
        ranges = _call_ranges(r, d, fn)
        fparams = fn.inputs + fn.params
        ivs = {}
        for k, p in enumerate(fparams):
            iv = ranges[k] if ranges[k] is not None else I.NONNEG
            if k < len(fn.inputs) and not iv.nonneg:
                iv = I.meet(iv, I.NONNEG)  # inputs are quantities: consumption, capital, labour
            ivs[p.name] = iv
        syms = {p.name: _symbol(f"x{k}", ivs[p.name]) for k, p in enumerate(fparams)}
        sym_ranges = {syms[n]: ivs[n] for n in syms}
        try:
            body = _Body(r, syms).conv(fn.body, dict(syms))
        except (_Unsupported, RecursionError, TypeError, ValueError, ZeroDivisionError):
            code = "W801" if fn.kind == "utility" else "W802"
            diags.add(code, f"cannot analyse the {fn.kind} `{fn.name}` symbolically", fn.span,
                      "use arithmetic, powers, exp, log, sqrt, min and max of its inputs and constants")
            continue
        for p in fn.inputs:
            x = syms[p.name]
            try:
                d1 = sympy.diff(body, x)
                if fn.kind == "utility":
                    if not _proves(d1, sym_ranges, "nonneg"):
                        diags.add("W801", f"utility `{fn.name}` is not provably increasing in `{p.name}` "
                                  f"(for {p.name} in {ivs[p.name]})", p.span,
                                  "more of a good should never lower utility; check signs and exponents")
                    elif not _proves(sympy.diff(d1, x), sym_ranges, "nonpos"):
                        diags.add("W801", f"utility `{fn.name}` is not provably concave in `{p.name}` "
                                  f"(for {p.name} in {ivs[p.name]})", p.span,
                                  "diminishing marginal utility: the exponent of a power utility should be ≤ 1")
                elif not _proves(d1, sym_ranges, "nonneg"):
                    bounds = ", ".join(f"{q.name} in {ivs[q.name]}" for q in fn.params)
                    diags.add("W802", f"production `{fn.name}` is not provably non-decreasing in `{p.name}`"
                              + (f" (with {bounds})" if bounds else ""), p.span,
                              "more input should never lower output; check the formula and its parameters' bounds")
            except (TypeError, ValueError, RecursionError):
                code = "W801" if fn.kind == "utility" else "W802"
                diags.add(code, f"cannot differentiate `{fn.name}` in `{p.name}`", p.span)
