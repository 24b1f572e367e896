"""Building IR functions: SSA emission with hash-consing (CSE), constant folding and simple algebra.

Both the lowering and the optimiser emit through :class:`Builder`, so every function they produce is
already free of duplicate expressions and of operations on constants.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from .ir import (
    ARITHMETIC,
    COMPARISONS,
    ELEMENTWISE,
    INT_LIMIT,
    Function,
    Op,
    Output,
    canonical,
    int_value,
    population,
)


def _is_int(v: float) -> bool:
    """A whole number that an "i" value can hold (larger ones stay "f": 1e38 is no int64 nor int32)."""
    return isinstance(v, (int, float)) and math.isfinite(v) and float(v) == int(v) and abs(v) < INT_LIMIT


def _pow(a: float, b: float) -> float:
    r = a ** b
    if isinstance(r, complex):
        return math.nan
    return float(r)


def _safe(fn):
    def run(*a):
        try:
            return fn(*a)
        except (ZeroDivisionError, ValueError, OverflowError):
            return None  # not folded: the backend computes it (and yields inf/nan like the hardware)
    return run


_FOLD = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": _pow, "neg": lambda a: -a,
    "min": min, "max": max, "log": math.log, "exp": math.exp, "sqrt": math.sqrt, "abs": abs,
    "floor": lambda a: float(math.floor(a)), "ceil": lambda a: float(math.ceil(a)),
    "ndtri": lambda a: NormalDist().inv_cdf(a),
    "lt": lambda a, b: float(a < b), "le": lambda a, b: float(a <= b), "gt": lambda a, b: float(a > b),
    "ge": lambda a, b: float(a >= b), "eq": lambda a, b: float(a == b), "ne": lambda a, b: float(a != b),
    "and": lambda a, b: float(bool(a) and bool(b)), "or": lambda a, b: float(bool(a) or bool(b)),
    "not": lambda a: float(not a), "float": lambda a: float(a), "int": lambda a: float(int_value(a)),
}
_FOLD = {k: _safe(v) for k, v in _FOLD.items()}


class Builder:
    """Emits ops into a :class:`Function`; ``emit`` returns the SSA name of the (possibly shared) value."""

    def __init__(self, name: str, populations: dict[str, int]):
        self.fn = Function(name)
        self.populations = populations
        self._n = 0
        self._memo: dict[tuple, str] = {}
        self.ops: dict[str, Op] = {}

    # ------------------------------------------------------------ helpers
    def canonical(self, dims) -> tuple[str, ...]:
        return canonical(self.populations, dims)

    def dims(self, v: str) -> tuple[str, ...]:
        return self.ops[v].dims

    def dtype(self, v: str) -> str:
        return self.ops[v].dtype

    def const_value(self, v: str) -> float | None:
        op = self.ops[v]
        if op.kind == "const" and not isinstance(op.attr("value"), tuple):
            return float(op.attr("value"))
        return None

    def output(self, kind: str, name: str, value: str, labels: tuple[str, ...] = (), onehot: int = 0,
               features: tuple[str, ...] = ()) -> None:
        self.fn.outputs.append(Output(kind, name, value, labels, onehot, features))

    # ------------------------------------------------------------ emission
    def _new(self, kind, args, dims, dtype, attrs, source, name) -> str:
        key = (kind, tuple(args), tuple(dims), dtype, tuple(attrs))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        out = f"v{self._n}"
        self._n += 1
        op = Op(out, kind, tuple(args), tuple(dims), dtype, tuple(attrs), source, name)
        self.fn.ops.append(op)
        self.ops[out] = op
        self._memo[key] = out
        return out

    def const(self, value, dtype: str = "f", dims: tuple[str, ...] = (), source: str = "") -> str:
        if isinstance(value, tuple):
            return self._new("const", (), dims, dtype, (("value", tuple(float(x) for x in value)),), source, "")
        value = float(value)
        if dtype == "i" and not _is_int(value):
            dtype = "f"
        return self._new("const", (), (), dtype, (("value", value),), source, "")

    def input(self, source_kind: str, name: str, dims: tuple[str, ...], dtype: str = "f", source: str = "") -> str:
        return self._new("input", (), dims, dtype, (("source", source_kind), ("name", name)), source, name)

    def raw(self, kind: str, args, dims, dtype, attrs=(), source: str = "", name: str = "") -> str:
        """Emit an op as given (no folding), only deduplicated."""
        return self._new(kind, args, self.canonical(dims), dtype, attrs, source, name)

    def iota(self, dim: str, source: str = "") -> str:
        return self._new("iota", (), (dim,), "i", (("dim", dim),), source, "")

    def cast(self, v: str, dtype: str, source: str = "") -> str:
        have = self.dtype(v)
        if have == dtype:
            return v
        if dtype == "f":
            return self.elementwise("float", (v,), source)
        if dtype == "b":
            return self.elementwise("ne", (self.cast(v, "f", source), self.const(0.0)), source)
        if dtype == "i":
            c = self.const_value(v)
            if c is not None and _is_int(c):
                return self.const(c, "i")
        raise TypeError(f"cannot use a {have} value as {dtype}")

    def to_int(self, v: str, lo: float, hi: float, source: str = "") -> str:
        """``int`` of a real that holds whole numbers in [lo, hi] (inside (-INT_LIMIT, INT_LIMIT): ir.py)."""
        return self.elementwise("int", (v,), source, attrs=(("lo", float(lo)), ("hi", float(hi))))

    def elementwise(self, kind: str, args, source: str = "", name: str = "", attrs: tuple = ()) -> str:
        """``kind(args)`` with dtype coercions, folding and algebra; ``attrs`` only for ``int`` (its range)."""
        arity, res = ELEMENTWISE[kind]
        args = list(args)
        assert len(args) == arity, (kind, args)
        # dtype coercions, so that lowering can pass what the expression has
        if kind in ARITHMETIC:
            args = [self.cast(a, "f", source) for a in args]
        elif kind in COMPARISONS:
            dts = {self.dtype(a) for a in args}
            if dts != {"i"} and "i" in dts:
                # an index compared with an integer constant stays integer; otherwise compare reals
                other = [a for a in args if self.dtype(a) != "i"][0]
                c = self.const_value(other)
                if c is not None and _is_int(c):
                    args = [self.const(c, "i") if a == other else a for a in args]
                else:
                    args = [self.cast(a, "f", source) for a in args]
            elif dts == {"b"} or dts == {"b", "f"}:
                args = [self.cast(a, "f", source) for a in args]
        elif kind == "int" and self.dtype(args[0]) == "b":
            args = [self.cast(args[0], "f", source)]
        elif kind in ("and", "or", "not"):
            args = [self.cast(a, "b", source) for a in args]
        elif kind == "where":
            args[0] = self.cast(args[0], "b", source)
            da, db = self.dtype(args[1]), self.dtype(args[2])
            if da != db or da == "b":
                target = "i" if {da, db} == {"i"} else "f"
                args[1], args[2] = self.cast(args[1], target, source), self.cast(args[2], target, source)
        dtype = res if res is not None else self.dtype(args[1])
        dims = self.canonical(d for a in args for d in self.dims(a))
        # constant folding
        consts = [self.const_value(a) for a in args]
        if all(c is not None for c in consts):
            r = _FOLD[kind](*consts) if kind != "where" else (consts[1] if consts[0] else consts[2])
            if r is not None:
                return self.const(r, "i" if dtype == "i" else "f") if dtype != "b" else self._bool_const(r)
        if kind == "where" and args[1] == args[2]:
            return self.broadcast(args[1], dims, source)
        if kind == "where" and consts[0] is not None:
            chosen = args[1] if consts[0] else args[2]
            return self.broadcast(chosen, dims, source)
        simplified = self._algebra(kind, args, consts, dims, source)
        if simplified is not None:
            return simplified
        if kind == "float" and self.dtype(args[0]) == "f":
            return args[0]
        if kind == "int" and self.dtype(args[0]) == "i":
            return args[0]
        return self._new(kind, args, dims, dtype, tuple(attrs), source, name)

    def _bool_const(self, r: float) -> str:
        # booleans are kept as comparisons of constants folded to 0/1 reals compared with 0.5
        return self._new("const", (), (), "b", (("value", float(bool(r))),), "", "")

    def _algebra(self, kind, args, consts, dims, source) -> str | None:
        """x+0, x-0, x*1, x/1, x^1 → x (broadcast if needed)."""
        a = args[0]
        b = args[1] if len(args) > 1 else None
        ca = consts[0]
        cb = consts[1] if len(consts) > 1 else None
        keep = None
        if kind == "add":
            keep = b if ca == 0 else (a if cb == 0 else None)
        elif kind == "sub" and cb == 0:
            keep = a
        elif kind == "mul":
            keep = b if ca == 1 else (a if cb == 1 else None)
        elif kind in ("div", "pow") and cb == 1:
            keep = a
        elif kind == "neg" and self.ops[a].kind == "neg":
            keep = self.ops[a].args[0]
        if keep is None:
            return None
        return self.broadcast(keep, dims, source)

    def broadcast(self, v: str, dims, source: str = "") -> str:
        dims = self.canonical(dims)
        if self.dims(v) == dims:
            return v
        assert set(self.dims(v)) <= set(dims), (self.dims(v), dims)
        return self._new("broadcast", (v,), dims, self.dtype(v), (), source, "")

    def reduce(self, op: str, v: str, dim: str, mask: str | None = None, source: str = "") -> str:
        have = set(self.dims(v)) | (set(self.dims(mask)) if mask else set())
        v = self.cast(v, "f", source)
        if mask is not None:
            mask = self.cast(mask, "b", source)
            c = self.const_value(mask)
            if c is not None:
                if c:
                    mask = None
                else:
                    empty = {"sum": 0.0, "prod": 1.0, "min": math.inf, "max": -math.inf, "mean": 0.0}[op]
                    return self.broadcast(self.const(empty), have - {dim}, source)
        if op in ("sum", "mean") and dim in self.dims(v):
            moved = self._distribute(op, v, dim, mask, source)
            if moved is not None:
                return moved
        if dim not in have:
            # the body does not vary along `dim` (and there is no mask on it): fold the reduction
            n = float(self.populations[population(dim)])
            if op == "sum":
                return self.elementwise("mul", (v, self.const(n)), source)
            if op == "prod":
                return self.elementwise("pow", (v, self.const(n)), source)
            return self.broadcast(v, have, source)
        dims = self.canonical(have - {dim})
        args = (v,) if mask is None else (v, mask)
        return self._new("reduce", args, dims, "f", (("op", op), ("dim", dim)), source, "")

    def _distribute(self, op: str, v: str, dim: str, mask: str | None, source: str) -> str | None:
        """Move factors and terms that do not vary along ``dim`` out of a sum or mean.

        ``sum(a[j] * x[j, i] for j)`` with ``a`` free of ``i`` is unchanged, but ``sum(x[j, i] * y[i] for j)``
        becomes ``y[i] * sum(x[j, i] for j)``, and ``sum((x - 1) / 0.9 for i)`` becomes
        ``(sum(x for i) - n) / 0.9``: fewer passes over pair tensors, and shared sums are found by CSE.
        """
        node = self.ops[v]
        k = node.kind
        if k not in ("mul", "div", "add", "sub", "neg"):
            return None
        args = node.args
        free = [dim not in self.dims(a) for a in args]
        if k == "neg":
            return self.elementwise("neg", (self.reduce(op, args[0], dim, mask, source),), source)
        if k == "mul" and (free[0] or free[1]):
            inner, outer = (args[1], args[0]) if free[0] else (args[0], args[1])
            return self.elementwise("mul", (self.reduce(op, inner, dim, mask, source), outer), source)
        if k == "div" and free[1] and not free[0]:
            return self.elementwise("div", (self.reduce(op, args[0], dim, mask, source), args[1]), source)
        if k in ("add", "sub") and mask is None and (free[0] != free[1]):
            return self.elementwise(k, (self.reduce(op, args[0], dim, None, source),
                                        self.reduce(op, args[1], dim, None, source)), source)
        return None

    def random(self, site: int, dims, source: str = "", name: str = "") -> str:
        """A fresh uniform(0, 1) per replica and point of ``dims`` (the IR op ``random``, draw site ``site``)."""
        return self._new("random", (), self.canonical(dims), "f", (("site", int(site)),), source, name)

    def lookup(self, table: tuple[float, ...], shape: tuple[int, ...], indices, source: str = "") -> str:
        """``table[i0, i1, …]`` (row-major) for integer indices; folded when every index is constant."""
        indices = [self.cast(i, "i", source) for i in indices]
        consts = [self.const_value(i) for i in indices]
        if all(c is not None for c in consts):
            flat = 0
            for c, n in zip(consts, shape, strict=True):
                flat = flat * n + min(max(int(c), 0), n - 1)
            return self.const(table[flat], "f")
        dims = self.canonical(d for i in indices for d in self.dims(i))
        attrs = (("table", tuple(float(x) for x in table)), ("shape", tuple(shape)))
        return self._new("lookup", tuple(indices), dims, "f", attrs, source, "")

    def relabel(self, v: str, mapping: dict[str, str], source: str = "") -> str:
        """``v`` with axes renamed (``from -> to``, see ``relabel`` in ir.py); identity pairs and axes ``v``
        does not have are dropped, so a value that needs no renaming is returned as it is."""
        have = self.dims(v)
        pairs = tuple((a, b) for a, b in mapping.items() if a in have and a != b)
        if not pairs:
            return v
        ren = dict(pairs)
        dims = self.canonical(ren.get(d, d) for d in have)
        assert len(dims) == len(have), (have, mapping)
        op = self.ops[v]
        if op.kind == "const":  # an array literal: the same values along the new axis
            return self.const(op.attr("value"), op.dtype, dims, source)
        if op.kind == "iota":  # the member index along the new axis
            return self.iota(ren[op.attr("dim")], source)
        if op.kind == "relabel":  # compose with the renaming that made v
            inner = self.ops[op.args[0]]
            first = dict(op.attr("axes"))
            return self.relabel(op.args[0], {a: ren.get(first.get(a, a), first.get(a, a)) for a in inner.dims},
                                source)
        return self._new("relabel", (v,), dims, self.dtype(v), (("axes", tuple(sorted(pairs))),), source, "")

    def gather(self, src: str, index: str, dim: str, source: str = "") -> str:
        index = self.cast(index, "i", source)
        dims = self.canonical((set(self.dims(src)) - {dim}) | set(self.dims(index)))
        return self._new("gather", (src, index), dims, self.dtype(src), (("dim", dim),), source, "")
