"""Interval arithmetic with open or closed ends: the bounds of a value that the domain checks reason with.

An :class:`Interval` over-approximates the set of values an expression can take; open ends matter for
proofs such as "a denominator cannot be zero" (``(0, ∞)`` excludes zero, ``[0, ∞)`` does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True)
class Interval:
    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    hi_open: bool = False

    @staticmethod
    def point(v: float) -> Interval:
        return Interval(v, v)

    def __str__(self) -> str:
        lo = "-∞" if self.lo == -INF else f"{self.lo:g}"
        hi = "∞" if self.hi == INF else f"{self.hi:g}"
        left = "(" if self.lo_open or self.lo == -INF else "["
        right = ")" if self.hi_open or self.hi == INF else "]"
        return f"{left}{lo}, {hi}{right}"

    # ------------------------------------------------------------ predicates
    @property
    def nonneg(self) -> bool:
        return self.lo >= 0

    @property
    def positive(self) -> bool:
        return self.lo > 0 or (self.lo == 0 and self.lo_open)

    @property
    def nonpos(self) -> bool:
        return self.hi <= 0

    @property
    def negative(self) -> bool:
        return self.hi < 0 or (self.hi == 0 and self.hi_open)

    @property
    def nonzero(self) -> bool:
        return self.positive or self.negative

    @property
    def is_point(self) -> bool:
        return self.lo == self.hi and math.isfinite(self.lo)


TOP = Interval()
UNIT = Interval(0.0, 1.0)
NONNEG = Interval(0.0, INF)


def _min_end(cands: list[tuple[float, bool]]) -> tuple[float, bool]:
    v = min(c[0] for c in cands)
    return v, all(c[1] for c in cands if c[0] == v)


def _max_end(cands: list[tuple[float, bool]]) -> tuple[float, bool]:
    v = max(c[0] for c in cands)
    return v, all(c[1] for c in cands if c[0] == v)


def _make(lo: tuple[float, bool], hi: tuple[float, bool]) -> Interval:
    if math.isnan(lo[0]) or math.isnan(hi[0]):
        return TOP
    return Interval(lo[0], hi[0], lo[1] or lo[0] == -INF, hi[1] or hi[0] == INF)


def hull(a: Interval, b: Interval) -> Interval:
    return _make(_min_end([(a.lo, a.lo_open), (b.lo, b.lo_open)]), _max_end([(a.hi, a.hi_open), (b.hi, b.hi_open)]))


def meet(a: Interval, b: Interval) -> Interval:
    """The intersection; when the two do not overlap (inconsistent facts) ``a`` is kept."""
    if a.lo > b.lo or (a.lo == b.lo and a.lo_open):
        lo = (a.lo, a.lo_open)
    else:
        lo = (b.lo, b.lo_open)
    if a.hi < b.hi or (a.hi == b.hi and a.hi_open):
        hi = (a.hi, a.hi_open)
    else:
        hi = (b.hi, b.hi_open)
    if lo[0] > hi[0]:
        return a
    return _make(lo, hi)


def add(a: Interval, b: Interval) -> Interval:
    lo = a.lo + b.lo if not (a.lo == -INF or b.lo == -INF) else -INF
    hi = a.hi + b.hi if not (a.hi == INF or b.hi == INF) else INF
    return _make((lo, a.lo_open or b.lo_open), (hi, a.hi_open or b.hi_open))


def neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo, a.hi_open, a.lo_open)


def sub(a: Interval, b: Interval) -> Interval:
    return add(a, neg(b))


def _times(x: float, ox: bool, y: float, oy: bool) -> tuple[float, bool]:
    if (x == 0 and not ox) or (y == 0 and not oy):
        return 0.0, False  # an exact zero times anything is zero
    if x == 0 or y == 0:
        return 0.0, True
    return x * y, ox or oy


def mul(a: Interval, b: Interval) -> Interval:
    cands = [_times(x, ox, y, oy) for x, ox in ((a.lo, a.lo_open), (a.hi, a.hi_open))
             for y, oy in ((b.lo, b.lo_open), (b.hi, b.hi_open))]
    return _make(_min_end(cands), _max_end(cands))


def _inv(x: float) -> float:
    return 0.0 if math.isinf(x) else (INF if x == 0 else 1.0 / x)


def recip(b: Interval) -> Interval:
    """1/b; a zero end is left out (the division check reports it separately)."""
    if b.lo >= 0 and b.hi > 0:
        return Interval(_inv(b.hi), _inv(b.lo), b.hi_open or b.hi == INF, b.lo_open or b.lo == 0)
    if b.hi <= 0 and b.lo < 0:
        return neg(recip(neg(b)))
    return TOP


def div(a: Interval, b: Interval) -> Interval:
    return mul(a, recip(b))


def power(a: Interval, b: Interval) -> Interval:
    if b.is_point and b.lo == int(b.lo):
        k = int(b.lo)
        if k == 0:
            return Interval.point(1.0)
        if k < 0:
            return recip(power(a, Interval.point(-k)))
        if a.nonneg or k % 2 == 1:
            return _make((_pw(a.lo, k), a.lo_open), (_pw(a.hi, k), a.hi_open))
        m = max(abs(a.lo), abs(a.hi))
        low = 0.0 if a.lo <= 0 <= a.hi else min(abs(a.lo), abs(a.hi)) ** k
        return _make((low, False), (_pw(m, k), False))
    if not a.nonneg:
        return TOP
    cands = [(_pw(x, y), ox or oy) for x, ox in ((a.lo, a.lo_open), (a.hi, a.hi_open))
             for y, oy in ((b.lo, b.lo_open), (b.hi, b.hi_open))]
    return _make(_min_end(cands), _max_end(cands))


def _pw(x: float, y: float) -> float:
    try:
        if x == 0:
            return INF if y < 0 else (1.0 if y == 0 else 0.0)
        if math.isinf(x):
            return INF if y > 0 else (1.0 if y == 0 else 0.0)
        if math.isinf(y):
            return (INF if x > 1 else 0.0) if y > 0 else (0.0 if x > 1 else INF)
        return math.pow(x, y)
    except (OverflowError, ValueError):
        return INF


def monotone(a: Interval, f, increasing: bool = True) -> Interval:
    """Image of an interval under a monotone function."""
    def safe(x: float) -> float:
        try:
            return f(x)
        except (OverflowError, ValueError):
            return INF if x > 0 else -INF
    lo, hi = safe(a.lo), safe(a.hi)
    if increasing:
        return _make((lo, a.lo_open), (hi, a.hi_open))
    return _make((hi, a.hi_open), (lo, a.lo_open))


def exp(a: Interval) -> Interval:
    r = monotone(a, lambda x: 0.0 if x == -INF else math.exp(x))
    return Interval(r.lo, r.hi, r.lo_open or r.lo == 0, r.hi_open)


def log(a: Interval) -> Interval:
    if not a.positive and a.lo <= 0:
        return Interval(-INF, -INF if a.hi <= 0 else math.log(a.hi) if a.hi != INF else INF, True, a.hi_open)
    return monotone(a, lambda x: INF if x == INF else math.log(x))


def sqrt(a: Interval) -> Interval:
    b = meet(a, NONNEG) if a.hi >= 0 else NONNEG
    return monotone(b, lambda x: INF if x == INF else math.sqrt(x))


def absolute(a: Interval) -> Interval:
    if a.nonneg:
        return a
    if a.nonpos:
        return neg(a)
    return _make((0.0, False), _max_end([(-a.lo, a.lo_open), (a.hi, a.hi_open)]))


def minimum(a: Interval, b: Interval) -> Interval:
    return _make(_min_end([(a.lo, a.lo_open), (b.lo, b.lo_open)]), _min_end([(a.hi, a.hi_open), (b.hi, b.hi_open)]))


def maximum(a: Interval, b: Interval) -> Interval:
    return _make(_max_end([(a.lo, a.lo_open), (b.lo, b.lo_open)]), _max_end([(a.hi, a.hi_open), (b.hi, b.hi_open)]))


def scale(a: Interval, n: int) -> Interval:
    """The sum of ``n`` values each in ``a``."""
    return mul(a, Interval.point(float(n)))
