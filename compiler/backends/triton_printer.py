"""Print an IR :class:`~econdsl.compiler.ir.Program` as a Triton module: one fused kernel per entry point.

Kernel design (the launch glue and the config table are ``triton_backend.py``):

- **R replicas per program** (constexpr ``R``, chosen per model and replica count by the config table or
  ``triton.autotune``): ``e = program_id · R + arange(R)`` is tensor axis 0 of every value, so a small model
  fills the program's lanes with replicas. Replicas past ``E`` (the last program's) read the last replica's
  inputs (``e`` is clamped) and store nothing (every store is masked by ``me``). Reductions over a population
  stay inside the program (deterministic, no cross-program atomics) and per-replica scalars are stored once.
- **One tensor axis per IR axis** after the replica axis. With the program's axes ``(A0, A1, …)``
  (populations, and further roles of a population where a value varies twice over it, ``Program.axes()``)
  every value is a tensor of rank ``1 + len(axes)`` whose axis ``k + 1`` has the padded size ``B_k`` (next
  power of two of ``n_k``) if the value has axis ``k`` in its dims and 1 otherwise. A ``relabel`` is a
  ``tl.permute`` of these tensor axes. Broadcasting by dimension name (the IR rule) is then ordinary Triton
  broadcasting, and a reduction over ``dim`` is ``tl.sum(…, axis=k + 1, keep_dims=True)``.
- **Loops over a large population** (``tiled=True``, :func:`tile_axis`): its axis has the constexpr size
  ``BT`` and every value that varies along it is computed one block of ``BT`` members at a time inside loops;
  reductions and gathers over it are accumulated across blocks (``triton_schedule.py``). Registers are then
  bounded by ``BT`` × the other axes' padded sizes × ``R``, whatever the population's size.
- **Padding lanes are masked at every point where lanes meet**: loads, stores, reductions (the padded
  members are replaced by the reduction's identity) and gathers.
- **Gathers by an action-chosen index** (``w[employer[j]]``) are compare-and-reduce over the gathered axis:
  ``sum(where(index == iota, src, 0))``: no indirect loads (also works in the Triton interpreter).
- **Layout.** Every buffer is ``[E, *sizes]`` row-major, and the last IR axis is the last tensor axis, the
  one Triton's blocked layouts make fastest across the threads of a warp (``order = [rank-1, …, 0]``). So the
  contiguous memory axis is the contiguous register axis: for the consumers' demand block (actions
  ``[E, consumers, columns]``, the firm index a column) consecutive threads read consecutive bytes of one
  consumer's row, consecutive consumers follow at the row stride, one replica's block is contiguous and the
  ``R`` replicas of a program are adjacent blocks. Member-major (not replica-innermost) because the trainer
  produces and stores actions and observations per replica; a transposed copy would cost a pass per step.
- **Fusion.** ``step_observe`` is the step followed by the observation of the next state in the same
  kernel: the observation reads the next states from registers, not from memory.
- **Outputs** of one dtype class go into one flat buffer (``[n_slots_total * E]``), each output a
  contiguous ``[E, *sizes]`` slice; quantities come last and are written only when ``WRITE_Q`` is set.

The source is built only from the IR: identifiers are mangled (``x12``, ``pb3`` …); the `.econ` names and
``file:line`` appear in comments only, after sanitising.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..ir import INT_LIMIT, INT_MAX, Function, Op, Output, Program, per_axis, population, real_key
from .triton_schedule import Loop, Stmt, schedule, statement

# Tables and array literals up to this many entries become nested tl.where; longer ones are read from a
# small constant table in memory (``pk``).
INLINE_TABLE = 16


def _pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _safe(text: str) -> str:
    """Text allowed in a comment: printable, no line breaks, bounded length (keeping the end, where
    ``file:line`` is)."""
    s = "".join(ch if ch.isprintable() and ch not in "\r\n\x0b\x0c\x85\u2028\u2029" else "?" for ch in text)
    return s if len(s) <= 100 else "..." + s[-97:]


def _num(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INF" if v > 0 else "-INF"
    return repr(v)


@dataclass(frozen=True)
class Slot:
    """One output of a kernel inside a flat output buffer of dtype class ``cls``: elements
    ``[offset * E, (offset + numel) * E)`` viewed as ``[E, *shape]``."""

    kind: str  # state | param | reward | quantity | external
    name: str
    cls: str  # "f" | "b" | "i"
    offset: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class KernelPlan:
    """What the launcher must pass to a kernel, in order, and how to read its outputs."""

    name: str
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (source, name) per pointer argument
    actions: list[str] = field(default_factory=list)  # action tensors read: agent type, or ir.real_key of one
    slots: list[Slot] = field(default_factory=list)
    obs: list[str] = field(default_factory=list)  # agent types with an observation tensor argument
    obs_split: bool = False  # two observation arguments per type: shared [E, n_shared] and own [E, n, n_own]
    flat_sizes: dict[str, int] = field(default_factory=dict)  # cls -> per-env elements (all slots)
    flat_sizes_noq: dict[str, int] = field(default_factory=dict)  # same without quantities


@dataclass
class ModuleSource:
    source: str
    kernels: dict[str, KernelPlan]
    tables: list[float]  # contents of the constant table ``pk``
    tiled: str | None = None  # the axis looped over in blocks of the constexpr ``BT``, if any


PRELUDE = '''\
import triton
import triton.language as tl

INF = tl.constexpr(float("inf"))
NAN = tl.constexpr(float("nan"))


@triton.jit
def _mul(a, b):
    return a * b


@triton.jit
def _min_nan(a, b):  # tl.min drops NaN (minnum); the IR's min over a NaN member is NaN, as torch's amin
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _max_nan(a, b):
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _ndtri(p):
    # Inverse standard normal CDF: Wichura's AS241 (PPND16, relative error ~1e-16), the algorithm of the
    # reference backend's NormalDist.inv_cdf, written in the same operation order so float64 agrees to an
    # ulp. Called on float64 values whatever the program's dtype: in float32 rational approximations lose
    # ~100 ulp to cancellation (found by the generated-model property test).
    q = p - 0.5
    r = 0.180625 - q * q
    num_c = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r
                  + 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r
                + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r
              + 1.3314166789178437745e+2) * r + 3.3871328727963666080e+0) * q
    den_c = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r
                  + 3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r
                + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r
              + 4.2313330701600911252e+1) * r + 1.0)
    pt = tl.where(q <= 0.0, p, 1.0 - p)
    s = tl.sqrt(-tl.log(pt))
    s_mid = s - 1.6
    num_mid = (((((((7.74545014278341407640e-4 * s_mid + 2.27238449892691845833e-2) * s_mid
                  + 2.41780725177450611770e-1) * s_mid + 1.27045825245236838258e+0) * s_mid
                + 3.64784832476320460504e+0) * s_mid + 5.76949722146069140550e+0) * s_mid
              + 4.63033784615654529590e+0) * s_mid + 1.42343711074968357734e+0)
    den_mid = (((((((1.05075007164441684324e-9 * s_mid + 5.47593808499534494600e-4) * s_mid
                  + 1.51986665636164571966e-2) * s_mid + 1.48103976427480074590e-1) * s_mid
                + 6.89767334985100004550e-1) * s_mid + 1.67638483018380384940e+0) * s_mid
              + 2.05319162663775882187e+0) * s_mid + 1.0)
    s_far = s - 5.0
    num_far = (((((((2.01033439929228813265e-7 * s_far + 2.71155556874348757815e-5) * s_far
                  + 1.24266094738807843860e-3) * s_far + 2.65321895265761230930e-2) * s_far
                + 2.96560571828504891230e-1) * s_far + 1.78482653991729133580e+0) * s_far
              + 5.46378491116411436990e+0) * s_far + 6.65790464350110377720e+0)
    den_far = (((((((2.04426310338993978564e-15 * s_far + 1.42151175831644588870e-7) * s_far
                  + 1.84631831751005468180e-5) * s_far + 7.86869131145613259100e-4) * s_far
                + 1.48753612908506148525e-2) * s_far + 1.36929880922735805310e-1) * s_far
              + 5.99832206555887937690e-1) * s_far + 1.0)
    tail = tl.where(s <= 5.0, num_mid / den_mid, num_far / den_far)
    tail = tl.where(q < 0.0, -tail, tail)
    return tl.where(tl.abs(q) <= 0.425, num_c / den_c, tail)
'''


class _KernelWriter:
    """Writes one kernel: a prelude of axis indices and masks, then one line per IR op, then stores."""

    def __init__(self, printer: ModulePrinter, name: str, doc: str):
        self.p = printer
        self.prog = printer.prog
        self.plan = KernelPlan(name)
        self.doc = doc
        self.stmts: list[Stmt] = []
        self.names: dict[str, str] = {}  # (scope-qualified) SSA name -> kernel variable
        self.dtypes: dict[str, str] = {}  # kernel variable -> IR dtype
        self.dims: dict[str, tuple[str, ...]] = {}  # kernel variable -> dims
        self.loaded: dict[tuple[str, str], str] = {}  # (source, name) -> kernel variable
        self.counter = 0
        self.input_args: dict[tuple[str, str], str] = {}
        self.action_args: dict[str, str] = {}
        self.slots: dict[str, int] = {"f": 0, "b": 0, "i": 0}
        self.raw_actions: dict[tuple[str, int, object], str] = {}
        self.words: dict[str, list[str]] = {}  # rng pointer -> the kernel variables of its words and seed
        self.current: dict[str, Op] = {}

    # ------------------------------------------------------------------ helpers
    def fresh(self) -> str:
        self.counter += 1
        return f"x{self.counter}"

    def emit(self, line: str, comment: str = "", guard: str | None = None, more: tuple[str, ...] = ()) -> None:
        self.stmts.append(statement(line, _safe(comment) if comment else "", guard, more))

    def accumulate(self, var: str, start: str, update: str, comment: str) -> None:
        """``var`` combined over the blocks of the tiled axis: ``start`` before the loop, ``update`` per block."""
        self.stmts.append(statement(f"{var} = {update}", _safe(comment), start=start))

    def pos(self, dim: str) -> int:
        """The tensor axis of IR axis ``dim`` (axis 0 holds the program's replicas)."""
        return self.p.axes.index(dim) + 1

    def shape(self, dims: tuple[str, ...], replicas: str = "1") -> str:
        return "[" + ", ".join([replicas] + [str(self.p.blocks[a]) if a in dims else "1" for a in self.p.axes]) + "]"

    def store_mask(self, m: str | None) -> str:
        """A store's mask: only the program's replicas that exist (``me``), and ``m``'s lanes."""
        return "me" if not m else f"me & {m}"

    def offset(self, dims: tuple[str, ...]) -> str:
        """Row-major element offset of a point of ``dims`` inside one replica's ``[*sizes]`` block."""
        if not dims:
            return "Z"
        terms, stride = [], 1
        for d in reversed(dims):
            k = self.p.axes.index(d)
            terms.append(f"ix{k}" if stride == 1 else f"ix{k} * {stride}")
            stride *= self.prog.axis_size(d)
        return " + ".join(reversed(terms))

    def mask(self, dims: tuple[str, ...]) -> str | None:
        ms = [f"mx{self.p.axes.index(d)}" for d in dims]
        return " & ".join(ms) if ms else None

    def arg_input(self, source: str, name: str) -> str:
        key = (source, name)
        if key not in self.input_args:
            self.input_args[key] = f"pi{len(self.input_args)}"
            self.plan.inputs.append(key)
        return self.input_args[key]

    def arg_action(self, agent: str) -> str:
        if agent not in self.action_args:
            self.action_args[agent] = f"pa{len(self.action_args)}"
            self.plan.actions.append(agent)
        return self.action_args[agent]

    def as_f(self, var: str) -> str:
        return var if self.dtypes[var] == "f" else f"{var}.to(DT)"

    def define(self, op: Op, var: str, expr: str) -> None:
        note = f"{op.name} " if op.name else ""
        self.emit(f"{var} = {expr}", f"{note}{op.source}".strip())
        self.dtypes[var] = op.dtype
        self.dims[var] = op.dims

    # ------------------------------------------------------------------ ops
    def load_input(self, op: Op, time_shift: bool) -> str:
        source, name = str(op.attr("source")), str(op.attr("name"))
        if (source, name) in self.loaded:
            return self.loaded[(source, name)]
        var = self.fresh()
        if source == "time":
            ptr = self.arg_input("time", "t")
            expr = f"tl.load({ptr} + e + Z)" + (" + 1.0" if time_shift else "")
        elif source == "runtime_const":
            expr = f"tl.load({self.arg_input(source, name)} + Z)"
        else:
            dims = op.dims
            n = math.prod(self.prog.size(dims))
            ptr = self.arg_input(source, name)
            m = self.mask(dims)
            mask = f", mask={m}, other=0.0" if m else ""
            expr = f"tl.load({ptr} + e * {n} + {self.offset(dims)}{mask})"
            if source == "uniform":
                expr += ".to(DT)"  # draws arrive in float64 and are used in the program's dtype
        self.define(op, var, expr)
        self.loaded[(source, name)] = var
        return var

    def table_expr(self, idx: str, table: tuple[float, ...], dtype: str) -> str:
        """``table[idx]`` for an integer tensor ``idx``."""
        n = len(table)
        if all(float(v) == k for k, v in enumerate(table)):
            return idx if dtype == "i" else f"{idx}.to(DT)"
        if dtype == "i":
            vals = [str(int(v)) for v in table]
            expr = vals[-1]
            for k in range(n - 2, -1, -1):
                expr = f"tl.where({idx} == {k}, {vals[k]}, {expr})"
            return expr
        vals = [float(v) for v in table]
        if n > 1 and all(v.is_integer() and abs(v) < 2**24 for v in vals) and \
                all(vals[k] - vals[k - 1] == vals[1] - vals[0] for k in range(2, n)):
            # an arithmetic grid of whole numbers: t0 + k * step is exact in float32 and float64
            expr = f"{idx}.to(DT) * {_num(vals[1] - vals[0])}"
            return expr if vals[0] == 0 else f"{expr} + {_num(vals[0])}"
        if n <= INLINE_TABLE:
            expr = f"tl.full({self.shape(())}, {_num(table[-1])}, DT)"
            for k in range(n - 2, -1, -1):
                expr = f"tl.where({idx} == {k}, {_num(table[k])}, {expr})"
            return expr
        off = self.p.table_offset(table)
        return f"tl.load(pk + {off} + {idx}).to(DT)"

    def real_action(self, op: Op) -> str:
        """A continuous head's value: a load from the agent type's real action tensor (in DT)."""
        agent, column, per = str(op.attr("agent")), int(op.attr("column")), op.attr("per")  # type: ignore[arg-type]
        ptr = self.arg_action(real_key(agent))
        ncol, n_ag = self.prog.n_real_columns(agent), self.prog.n_agents(agent)
        terms = [f"e * {n_ag * ncol}"]
        if self.prog.agent_dims(agent):
            terms.append(f"ix{self.p.axes.index(agent)} * {ncol}")
        terms.append(str(column))
        if per:
            terms.append(f"ix{self.p.axes.index(per_axis(agent, str(per)))}")
        m = self.mask(op.dims)
        mask = f", mask={m}, other=0.0" if m else ""
        var = self.fresh()
        self.define(op, var, f"tl.load({ptr} + {' + '.join(terms)}{mask})")
        return var

    def action(self, op: Op) -> str:
        if op.attr("real"):
            return self.real_action(op)
        agent = str(op.attr("agent"))
        column = int(op.attr("column"))  # type: ignore[arg-type]
        per = op.attr("per")
        stride = int(op.attr("stride", 1))  # type: ignore[arg-type]
        size = int(op.attr("size"))  # type: ignore[arg-type]
        table = tuple(op.attr("table"))  # type: ignore[arg-type]
        ptr = self.arg_action(agent)
        ncol = self.prog.n_columns(agent)
        n_ag = self.prog.n_agents(agent)
        adims = self.prog.agent_dims(agent)
        terms = [f"e * {n_ag * ncol}"]
        dims: list[str] = []
        if adims:
            terms.append(f"ix{self.p.axes.index(agent)} * {ncol}")
            dims.append(agent)
        terms.append(str(column))
        if per:
            pax = per_axis(agent, str(per))
            terms.append(f"ix{self.p.axes.index(pax)}")
            dims.append(pax)
        dims_t = self.prog.canonical(tuple(dims))
        m = self.mask(dims_t)
        mask = f", mask={m}, other=0" if m else ""
        key = (agent, column, per)
        raw = self.raw_actions.get(key)
        if raw is None:  # components of one joint head share the load
            raw = self.raw_actions[key] = self.fresh()
            self.emit(f"{raw} = tl.load({ptr} + {' + '.join(terms)}{mask}).to(tl.int32)",
                      f"action of {agent}, column {column}")
        idx = raw if stride == 1 else f"({raw} // {stride})"
        head_n = next((h.n for h in self.prog.heads if h.agent == agent and not h.continuous
                       and h.column <= column < h.column + h.n_columns), None)
        if not (stride == 1 and head_n == size):
            idx = f"{idx} % {size}"
        if idx != raw:
            comp = self.fresh()
            self.emit(f"{comp} = {idx}", f"component index (stride {stride}, size {size})")
            idx = comp
        var = self.fresh()
        self.define(op, var, self.table_expr(idx, table, op.dtype))
        return var

    def const(self, op: Op) -> str:
        value = op.attr("value")
        var = self.fresh()
        if isinstance(value, tuple):  # array literal over one population
            (dim,) = op.dims
            k = self.p.axes.index(dim)
            self.define(op, var, self.table_expr(f"ix{k}", tuple(float(v) for v in value), op.dtype))
            return var
        if op.dtype == "i":
            self.define(op, var, f"tl.full({self.shape(())}, {int(float(value))}, tl.int32)")  # type: ignore[arg-type]
        else:
            self.define(op, var, f"tl.full({self.shape(())}, {_num(float(value))}, DT)")  # type: ignore[arg-type]
        return var

    def elementwise(self, op: Op, a: list[str]) -> str:
        k = op.kind
        var = self.fresh()
        f = [self.as_f(x) for x in a] if k in {"add", "sub", "mul", "div", "pow", "neg", "min", "max", "log",
                                                 "exp", "sqrt", "abs", "floor", "ceil", "ndtri"} else a
        binops = {"add": "+", "sub": "-", "mul": "*", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
                  "eq": "==", "ne": "!=", "and": "&", "or": "|"}
        unary = {"log": "tl.log", "exp": "tl.exp", "sqrt": "SQRT", "abs": "tl.abs",
                 "floor": "tl.floor", "ceil": "tl.ceil", "ndtri": "_ndtri"}
        if k in {"add", "sub", "mul"}:
            expr = f"{f[0]} {binops[k]} {f[1]}"
        elif k in {"lt", "le", "gt", "ge", "eq", "ne"}:
            x, y = (a if self.dtypes[a[0]] == self.dtypes[a[1]] else [self.as_f(v) for v in a])
            expr = f"{x} {binops[k]} {y}"
        elif k in {"and", "or"}:
            expr = f"{self.as_b(a[0])} {binops[k]} {self.as_b(a[1])}"
        elif k == "not":
            expr = f"{self.as_b(a[0])} == 0"
        elif k == "div":
            d = self.const_value(op.args[1])
            if d is not None and d != 0 and math.isfinite(d) and abs(math.frexp(d)[0]) == 0.5:
                expr = f"{f[0]} * {_num(1.0 / d)}"  # exact: the divisor is a power of two
            else:
                expr = self.div(f[0], f[1])
        elif k == "neg":
            expr = f"-{f[0]}"
        elif k in {"min", "max"}:
            fn = "tl.minimum" if k == "min" else "tl.maximum"
            expr = f"{fn}({f[0]}, {f[1]}, propagate_nan=tl.PropagateNan.ALL)"
        elif k == "pow":
            expr = self.pow_expr(op, f)
        elif k == "ndtri":  # in float64 (see _ndtri), rounded once to the program's dtype
            expr = f"_ndtri({f[0]}.to(tl.float64)).to(DT)"
        elif k in unary:
            fn = unary[k] if unary[k] != "SQRT" else self.p.sqrt
            expr = f"{fn}({f[0]})"
            if k == "ndtri" and self.p.dtype == "float32":
                # in float64: the rational approximation (1.2e-9) evaluated in float32 loses several ulps in
                # the tails; in float64 the result rounds to within an ulp of torch's float32 ndtri
                expr = f"{fn}({f[0]}.to(tl.float64)).to(DT)"
        elif k == "where":
            c = self.as_b(a[0])
            x, y = a[1], a[2]
            if op.dtype == "f":
                x, y = self.as_f(x), self.as_f(y)
            expr = f"tl.where({c}, {x}, {y})"
        elif k == "float":
            expr = f"{a[0]}.to(DT)"
        elif k == "int":  # ir.int_value: floor, NaN → 0, saturated into ±INT_MAX (through int64: exact)
            y = self.fresh()
            self.emit(f"{y} = tl.floor({self.as_f(a[0])})")
            wide = f"tl.minimum(tl.maximum(tl.where({y} == {y}, {y}, 0.0), {-INT_LIMIT}.0), {INT_LIMIT}.0)"
            expr = f"tl.minimum(tl.maximum(({wide}).to(tl.int64), {-INT_MAX}), {INT_MAX}).to(tl.int32)"
        else:
            raise NotImplementedError(f"triton printer: op kind {k!r}")
        self.define(op, var, expr)
        return var

    def as_b(self, var: str) -> str:
        return var if self.dtypes[var] == "b" else f"({var} != 0)"

    def const_value(self, ssa: str) -> float | None:
        """The value of a scalar ``const`` op, else None."""
        o = self.current.get(ssa)
        if o is None or o.kind != "const" or isinstance(o.attr("value"), tuple):
            return None
        return float(o.attr("value"))  # type: ignore[arg-type]

    def pow_expr(self, op: Op, f: list[str]) -> str:
        v = self.const_value(op.args[1])
        if v is not None:
            if v == 1.0:
                return f[0]
            if v == 2.0:
                return f"{f[0]} * {f[0]}"
            if v == 3.0:
                return f"{f[0]} * {f[0]} * {f[0]}"
            if v == 0.5:
                return f"{self.p.sqrt}({f[0]})"
            if v == -1.0:
                return self.div(f"tl.full({self.shape(())}, 1.0, DT)", f[0])
            if math.isfinite(v) and v != math.floor(v):
                # a non-integer power: negative bases give nan, 0 ** v gives 0 or inf, as torch.pow
                return f"tl.exp2({f[1]} * tl.log2({f[0]}))"
        # general real power, inlined (helper calls are slow in the interpreter): integer powers of
        # negative bases keep their sign, x ** 0 = 1 ** y = 1 (also for y = ±inf, as IEEE pow and torch),
        # other negative bases give nan
        x, y = f
        r, odd = self.fresh(), self.fresh()
        self.emit(f"{r} = tl.exp2({y} * tl.log2(tl.abs({x})))", "|x| ** y")
        self.emit(f"{odd} = ({y} - 2.0 * tl.floor(0.5 * {y})) == 1.0", "y is an odd integer")
        return (f"tl.where(({y} == 0.0) | ({x} == 1.0), 1.0, tl.where({x} < 0.0, tl.where(tl.floor({y}) == {y}, "
                f"tl.where({odd}, -{r}, {r}), NAN), {r}))")

    def div(self, a: str, b: str) -> str:
        # IEEE-rounded division: plain `/` on float32 is approximate on NVIDIA GPUs (div_rn is fp32-only)
        return f"tl.div_rn({a}, {b})" if self.p.dtype == "float32" else f"{a} / {b}"

    def reduce(self, op: Op, a: list[str]) -> str:
        rop, dim = str(op.attr("op")), str(op.attr("dim"))
        k = self.pos(dim)
        x = self.as_f(a[0])
        mx = f"mx{k - 1}"
        m = mx if len(a) == 1 else f"{mx} & {self.as_b(a[1])}"
        ident = {"sum": "0.0", "mean": "0.0", "prod": "1.0", "min": "INF", "max": "-INF"}[rop]
        var = self.fresh()
        expr = self.along(op, rop, f"tl.where({m}, {x}, {ident})", dim, ident)
        if rop == "mean" and len(a) == 1:
            expr = self.div(expr, f"{self.prog.axis_size(dim)}.0")
        elif rop == "mean":
            cnt = self.along(op, "sum", f"tl.where({m}, 1.0, 0.0)", dim, "0.0", "members counted")
            if dim != self.p.tiled:  # an in-program count, read twice: bound once
                c = self.fresh()
                self.emit(f"{c} = {cnt}", "members counted")
                cnt = c
            expr = f"tl.where({cnt} > 0, {self.div(expr, f'tl.maximum({cnt}, 1.0)')}, 0.0)"
        if op.dtype == "i":
            expr = f"({expr}).to(tl.int32)"
        elif op.dtype == "b":
            expr = f"({expr}) != 0"
        self.define(op, var, expr)
        return var

    def along(self, op: Op, rop: str, masked: str, dim: str, ident: str, what: str = "") -> str:
        """``masked`` reduced along IR axis ``dim`` (a sum for ``mean``): in the program over the whole tile,
        or, over the tiled axis, an accumulator combined block by block (triton_schedule.py) whose name is
        returned. min and max propagate NaN (_min_nan / _max_nan), in a block and across blocks."""
        k = self.pos(dim)
        combine = {"prod": "_mul", "min": "_min_nan", "max": "_max_nan"}.get(rop)  # None: a sum (mean)
        part = f"tl.reduce({masked}, {k}, {combine}, keep_dims=True)" if combine else \
            f"tl.sum({masked}, axis={k}, keep_dims=True)"
        if dim != self.p.tiled:
            return part
        acc = self.fresh()
        update = f"{combine}({acc}, {part})" if combine else f"{acc} + {part}"
        self.accumulate(acc, f"tl.full({self.shape(op.dims, 'R')}, {ident}, DT)", update, what or f"{rop} over blocks")
        return acc

    def random(self, op: Op) -> str:
        """A uniform from ``tl.philox`` (Philox4x32-10) of (member, site, counter, replica) keyed by the seed's
        words, turned into float64 exactly as ``philox.uniform_numpy`` does: the same bits on every backend."""
        ptr = self.arg_input("rng", "words")
        words = self.words.get(ptr)
        if words is None:
            words = self.words[ptr] = [self.fresh() for _ in range(4)]
            for c, w in enumerate(words):
                self.emit(f"{w} = tl.load({ptr} + e * 4 + {c} + Z)", ("k0", "k1", "step counter", "replica")[c])
            seed = self.fresh()
            self.emit(f"{seed} = ({words[1]} << 32) | {words[0]}", "the key (k0, k1) as one 64-bit seed")
            words.append(seed)
        member = self.fresh()
        self.emit(f"{member} = ({self.offset(op.dims)}).to(tl.uint32)", "member: row-major index of the point")
        zero = f"{member} * 0"
        x = [self.fresh() for _ in range(4)]
        site = int(op.attr("site"))  # type: ignore[arg-type]
        self.emit(f"{', '.join(x)} = tl.philox({words[4]}, {member}, {zero} + {site}, "
                  f"{zero} + {words[2]}.to(tl.uint32), {zero} + {words[3]}.to(tl.uint32))", f"draw site {site}")
        m = self.fresh()
        self.emit(f"{m} = ({x[0]}.to(tl.uint64) << 20) | ({x[1]} >> 12).to(tl.uint64)", "52 random bits")
        u = f"(({m}.to(tl.float64) + 0.5) * {_num(2.0 ** -52)})"
        expr = f"{u}.to(DT)" if self.p.dtype == "float64" else f"tl.minimum({u}.to(DT), {_num(1.0 - 2.0 ** -24)})"
        var = self.fresh()
        self.define(op, var, expr)
        return var

    def lookup(self, op: Op, a: list[str]) -> str:
        """``table[i0, i1, …]`` (row-major), each index clamped: a flat index into ``table_expr``."""
        shape = tuple(op.attr("shape"))  # type: ignore[arg-type]
        flat = ""
        for idx, n in zip(a, shape, strict=True):
            term = f"tl.minimum(tl.maximum({idx}, 0), {n - 1})"
            flat = term if not flat else f"({flat}) * {n} + {term}"
        fv = self.fresh()
        self.emit(f"{fv} = {flat}", "flat index into a constant table")
        var = self.fresh()
        self.define(op, var, self.table_expr(fv, tuple(float(v) for v in op.attr("table")), "f"))  # type: ignore[union-attr]
        return var

    def gather(self, op: Op, a: list[str]) -> str:
        dim = str(op.attr("dim"))
        k = self.pos(dim)
        src, idx = a
        n = self.prog.axis_size(dim)
        hit = self.fresh()
        self.emit(f"{hit} = tl.minimum(tl.maximum({idx}, 0), {n - 1}) == ix{k - 1}", f"member chosen along axis {k}")
        var = self.fresh()
        dt = self.dtypes[src]
        # the chosen member's value over this block: a sum of one hit (a max of 0/1 for booleans)
        if dt == "b":
            picked = f"tl.max(tl.where({hit}, {src}.to(tl.int32), 0), axis={k}, keep_dims=True)"
        else:
            picked = f"tl.sum(tl.where({hit}, {src}, {'0.0' if dt == 'f' else '0'}), axis={k}, keep_dims=True)"
        if dim == self.p.tiled:  # compare-and-reduce block by block
            acc = self.fresh()
            start = f"tl.full({self.shape(op.dims, 'R')}, {'0.0, DT' if dt == 'f' else '0, tl.int32'})"
            update = f"tl.maximum({acc}, {picked})" if dt == "b" else f"{acc} + {picked}"
            self.accumulate(acc, start, update, "gather over blocks")
            picked = acc
        self.define(op, var, f"{picked} != 0" if dt == "b" else picked)
        return var

    def relabel(self, op: Op, a: list[str]) -> str:
        """Renamed axes: tensor axis ``from`` moves to the position of ``to``; the size-1 axes at the ``to``
        positions that are not renamed themselves fill the ``from`` positions left empty."""
        ren = dict(op.attr("axes"))
        perm = list(range(len(self.p.axes) + 1))  # result position -> source position (0: the replicas)
        for src, dst in ren.items():
            perm[self.pos(dst)] = self.pos(src)
        freed = [self.pos(src) for src in ren if src not in ren.values()]
        ones = [self.pos(dst) for dst in ren.values() if dst not in ren]
        for f, o in zip(freed, ones, strict=True):
            perm[f] = o
        var = self.fresh()
        self.define(op, var, f"tl.permute({a[0]}, {tuple(perm)})" if perm != sorted(perm) else a[0])
        return var

    def ops(self, fn: Function, scope: str, aliases: dict[tuple[str, str], str] | None = None,
            time_shift: bool = False) -> None:
        """Emit every op of ``fn``; ``aliases`` maps inputs to values already in registers."""
        self.current = fn.table()
        for op in fn.ops:
            a = [self.names[f"{scope}:{x}"] for x in op.args]
            if op.kind == "input":
                key = (str(op.attr("source")), str(op.attr("name")))
                if aliases and key in aliases:
                    var = aliases[key]
                else:
                    var = self.load_input(op, time_shift)
            elif op.kind == "const":
                var = self.const(op)
            elif op.kind == "action":
                var = self.action(op)
            elif op.kind == "iota":
                var = self.fresh()
                self.define(op, var, f"ix{self.p.axes.index(str(op.attr('dim')))}")
            elif op.kind == "broadcast":
                var = self.fresh()
                self.define(op, var, f"tl.broadcast_to({a[0]}, {self.shape(op.dims, 'R')})")
            elif op.kind == "reduce":
                var = self.reduce(op, a)
            elif op.kind == "gather":
                var = self.gather(op, a)
            elif op.kind == "lookup":
                var = self.lookup(op, a)
            elif op.kind == "relabel":
                var = self.relabel(op, a)
            elif op.kind == "random":
                var = self.random(op)
            else:
                var = self.elementwise(op, a)
            self.names[f"{scope}:{op.out}"] = var

    # ------------------------------------------------------------------ stores
    def slot(self, kind: str, name: str, cls: str, dims: tuple[str, ...]) -> Slot:
        s = Slot(kind, name, cls, self.slots[cls], self.prog.size(dims))
        self.slots[cls] += s.numel
        self.plan.slots.append(s)
        return s

    def store_slot(self, s: Slot, var: str, dims: tuple[str, ...], comment: str, guard: str | None = None) -> None:
        ptr = {"f": "pof", "b": "pob", "i": "poi"}[s.cls]
        mask = f", mask={self.store_mask(self.mask(dims))}"
        val = var
        if s.cls == "b":
            val = f"{self.as_b(var)}.to(tl.int8)"
        elif s.cls == "f":
            val = self.as_f(var)
        self.emit(f"tl.store({ptr} + {s.offset} * E64 + e * {s.numel} + {self.offset(dims)}, {val}{mask})", comment,
                  guard)

    def store_obs(self, out: Output, var: str, obs_ptr: str, col: int, width: int, once: bool = False) -> None:
        """Store one observation item into rows ``[e, m, col:col + len(labels)]``.

        Feature axes (``out.features``) are flattened row-major; a dim of the value that is not a feature
        (at most the agent's own population) is aligned with the row. When the agent's own population is
        a feature axis (every firm sees all prices), the rows get one extra leading axis of their own.
        ``once``: an item the same for every member, stored once per replica into ``[e, col:…]`` of a
        shared block of ``width`` columns (the split observations)."""
        agent = out.name
        adims = () if once else self.prog.agent_dims(agent)
        vdims = self.dims[var]
        feat = tuple(d for d in vdims if d in out.features)
        n_ag = 1 if once else self.prog.n_agents(agent)
        fstride = max(out.onehot, 1)
        fterms = []
        for d in reversed(feat):
            fterms.append(f"ix{self.p.axes.index(d)}" + (f" * {fstride}" if fstride != 1 else ""))
            fstride *= self.prog.axis_size(d)
        fterms.reverse()
        what = f"observation of {agent}: {', '.join(out.labels[:3])}{' ...' if len(out.labels) > 3 else ''}"
        base = f"e * {n_ag * width} + {col}"
        if adims and agent in feat:
            # rows on a new leading axis; the value is the same for every row (no aligned dims)
            b = self.p.blocks[agent]
            rank = len(self.p.axes) + 2  # rows, replicas, axes
            rsl = "[" + ", ".join(":" if j == 0 else "None" for j in range(rank)) + "]"
            row = self.fresh()
            self.emit(f"{row} = tl.arange(0, {b}){rsl}", f"rows of {agent}, apart from its feature axis")
            foff = " + ".join(fterms) if fterms else "Z"
            fm = self.mask(self.prog.canonical(feat))
            mask = f"({row} < {self.prog.axis_size(agent)}) & tl.expand_dims({self.store_mask(fm)}, 0)"
            addr = f"tl.expand_dims({base} + {foff}, 0) + {row} * {width}"
            self.emit(f"tl.store({obs_ptr} + {addr}, tl.expand_dims({self.as_f(var)}, 0), mask={mask})", what)
            return
        terms = [base]
        mdims = list(feat)
        if adims:
            terms.append(f"ix{self.p.axes.index(agent)} * {width}")
            mdims.append(agent)
        terms.extend(fterms)
        mask = f", mask={self.store_mask(self.mask(self.prog.canonical(tuple(mdims))))}"
        addr = " + ".join(terms)
        if not adims and not feat:
            addr += " + Z"
        if out.onehot:
            self.emit(f"for k in tl.static_range({out.onehot}):", what + " (one-hot)",
                      more=(f"    tl.store({obs_ptr} + {addr} + k, tl.where({var} == k, 1.0, 0.0).to(DT){mask})",))
        else:
            self.emit(f"tl.store({obs_ptr} + {addr}, {self.as_f(var)}{mask})", what)

    def outputs_step(self, fn: Function, scope: str) -> None:
        for out in fn.outputs:
            var = self.names[f"{scope}:{out.value}"]
            if out.kind == "state":
                dims = self.prog.buffer(out.name).dims
                s = self.slot("state", out.name, "f", dims)
                self.store_slot(s, var, dims, f"next {out.name}")
            elif out.kind == "reward":
                dims = self.prog.agent_dims(out.name)
                s = self.slot("reward", out.name, "f", dims)
                self.store_slot(s, var, dims, f"reward of {out.name}")
            elif out.kind == "external":
                s = self.slot("external", out.name, "f", ())
                self.store_slot(s, var, (), f"external flow {out.name}")
        self.plan.flat_sizes_noq = dict(self.slots)
        for out in fn.outputs:  # named step quantities (Env.state), only if WRITE_Q
            if out.kind != "quantity":
                continue
            var = self.names[f"{scope}:{out.value}"]
            dims = self.dims[var]
            s = self.slot("quantity", out.name, self.dtypes[var], dims)
            self.store_slot(s, var, dims, f"quantity {out.name}", guard="WRITE_Q")
        self.plan.flat_sizes = dict(self.slots)

    def outputs_init(self, fn: Function, scope: str) -> None:
        for out in fn.outputs:
            var = self.names[f"{scope}:{out.value}"]
            dims = self.prog.buffer(out.name).dims
            s = self.slot(out.kind, out.name, "f", dims)
            self.store_slot(s, var, dims, f"initial {out.name}")
        self.plan.flat_sizes = self.plan.flat_sizes_noq = dict(self.slots)

    def outputs_obs(self, fn: Function, scope: str, split: bool = False) -> None:
        """The observation rows; ``split``: each type's shared columns (``Program.obs_shared_columns``)
        once per replica into its first argument ``[E, n_shared]``, the others into its second."""
        cols: dict[tuple[str, bool], int] = {}
        for agent in self.prog.agents:
            if self.prog.obs_outputs(agent):
                self.plan.obs.append(agent)
        self.plan.obs_split = split
        shared = {a: set(self.prog.obs_shared_columns(a)) for a in self.plan.obs} if split else {}
        start: dict[str, int] = {}
        for out in fn.outputs:
            var = self.names[f"{scope}:{out.value}"]
            k = self.plan.obs.index(out.name)
            first = start.get(out.name, 0)
            start[out.name] = first + len(out.labels)
            once = split and first in shared[out.name]
            if not split:
                ptr, width = f"po{k}", self.prog.obs_dim(out.name)
            elif once:
                ptr, width = f"po{2 * k}", len(shared[out.name])
            else:
                ptr, width = f"po{2 * k + 1}", self.prog.obs_dim(out.name) - len(shared[out.name])
            col = cols.get((out.name, once), 0)
            self.store_obs(out, var, ptr, col, width, once)
            cols[(out.name, once)] = col + len(out.labels)

    # ------------------------------------------------------------------ assembly
    def text(self, write_q: bool) -> str:
        args = [*self.input_args.values(), *self.action_args.values()]
        if self.p.tables_used:
            args.append("pk")
        if self.plan.slots:
            args += ["pof", "pob", "poi"]
        args += [f"po{k}" for k in range(len(self.plan.obs) * (2 if self.plan.obs_split else 1))]
        args += ["E", "DT: tl.constexpr", "R: tl.constexpr"]
        if self.p.tiled:
            args.append("BT: tl.constexpr")
        if write_q:
            args.append("WRITE_Q: tl.constexpr")
        arg_doc = [f"    # {a}: {_safe(src)} {_safe(nm)}" for (src, nm), a in self.input_args.items()]
        arg_doc += [f"    # {a}: actions of {_safe(ag)}" for ag, a in self.action_args.items()]
        head = [
            "@triton.jit",
            f"def {self.plan.name}({', '.join(args)}):",
            f'    """{self.doc}"""',
            *arg_doc,
            f"    e = tl.program_id(0).to(tl.int64) * R + tl.arange(0, R){self.p.slicing(0)}  # R replicas per program",
            "    me = e < E  # the replicas that exist (the last program's may not): every store is masked by it",
            "    e = tl.minimum(e, E - 1)  # a missing replica reads the last one's inputs and stores nothing",
            "    E64 = e * 0 + E  # the replica count in int64: output offsets never overflow",
            f"    Z = tl.zeros({self.shape(())}, tl.int32)  # offset of a per-replica scalar",
        ]
        loop = None
        for k, a in enumerate(self.p.axes):
            n, b = self.p.sizes[a], self.p.blocks[a]
            what = "no populations: one lane for scalars" if self.p.dummy else f"members of {_safe(a)}"
            if a == self.p.tiled:
                loop = Loop(f"ix{k}", f"mx{k}", n, self.p.slicing(k + 1),
                            f"blocks of BT members of {_safe(a)} (n = {n})")
                continue
            head.append(f"    ix{k} = tl.arange(0, {b}){self.p.slicing(k + 1)}  # {what} (n = {n}, padded to {b})")
            head.append(f"    mx{k} = ix{k} < {n}")
        return "\n".join(head + schedule(self.stmts, loop)) + "\n"


def tile_axis(prog: Program) -> str | None:
    """The population a kernel may loop over in blocks (the largest that qualifies), or None.

    It must be the only axis of its population (no second role: a relabel, a pairwise or per-member value
    over it would need the whole population at once along the other role) and no agent type of it may
    observe it as a feature axis (those rows have a leading axis of all members)."""
    axes = prog.axes()
    ok = []
    for a in axes:
        if a not in prog.populations or a in prog.singletons:
            continue
        if any(b != a and population(b) == a for b in axes):
            continue
        if any(o.name == a and a in o.features for o in prog.observe.outputs):
            continue
        ok.append(a)
    return max(ok, key=lambda a: prog.axis_size(a), default=None)


class ModulePrinter:
    def __init__(self, prog: Program, dtype: str = "float32", tiled: bool = False):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"triton printer: dtype must be float32 or float64, not {dtype!r}")
        self.prog = prog
        self.dtype = dtype
        # IEEE-rounded square root (tl.sqrt on float32 is approximate on NVIDIA GPUs; sqrt_rn is fp32-only)
        self.sqrt = "tl.sqrt_rn" if dtype == "float32" else "tl.sqrt"
        axes = list(prog.canonical(set(prog.axes()) | {p for p in prog.populations if p not in prog.singletons}))
        self.dummy = not axes
        self.axes = axes or ["__replica__"]
        # a model without populations gets one dummy axis of size 1 that holds its scalars
        self.sizes = {a: prog.axis_size(a) if a in axes else 1 for a in self.axes}
        self.blocks: dict[str, int | str] = {a: _pow2(n) for a, n in self.sizes.items()}
        # the population looped over in blocks of the constexpr BT members (triton_schedule.py), if any
        self.tiled = tile_axis(prog) if tiled else None
        if self.tiled:
            self.blocks[self.tiled] = "BT"
        self.tables: list[float] = []
        self.table_index: dict[tuple[float, ...], int] = {}
        self.tables_used = False

    def slicing(self, k: int) -> str:
        """Index that places a 1-d range on tensor axis ``k`` (0: the replicas, ``k + 1``: axis ``k``)."""
        return "[" + ", ".join(":" if j == k else "None" for j in range(len(self.axes) + 1)) + "]"

    def table_offset(self, table: tuple[float, ...]) -> int:
        self.tables_used = True
        if table not in self.table_index:
            self.table_index[table] = len(self.tables)
            self.tables.extend(table)
        return self.table_index[table]

    def print(self) -> ModuleSource:
        prog = self.prog
        kernels: list[_KernelWriter] = []

        w = _KernelWriter(self, "k_init", f"Initial parameters and states of model {_safe(prog.model)}.")
        w.ops(prog.init, "init")
        w.outputs_init(prog.init, "init")
        kernels.append(w)

        w = _KernelWriter(self, "k_step", "One step: next states, rewards, externals (and quantities if WRITE_Q).")
        w.ops(prog.step, "step")
        w.outputs_step(prog.step, "step")
        kernels.append(w)

        w = _KernelWriter(self, "k_observe", "Observation rows of every agent type.")
        w.ops(prog.observe, "obs")
        w.outputs_obs(prog.observe, "obs")
        kernels.append(w)

        w = _KernelWriter(self, "k_observe_split", "Observation rows, the shared columns once per replica.")
        w.ops(prog.observe, "obs")
        w.outputs_obs(prog.observe, "obs", split=True)
        kernels.append(w)

        for name, split in (("k_step_observe", False), ("k_step_observe_split", True)):
            what = ", the shared columns once per replica" if split else ""
            w = _KernelWriter(self, name, f"The step fused with the observation of the next state at t + 1{what}.")
            w.ops(prog.step, "step")
            w.outputs_step(prog.step, "step")
            aliases = {("state", o.name): w.names[f"step:{o.value}"] for o in prog.step.outputs if o.kind == "state"}
            for (src, nm), var in w.loaded.items():
                if src in {"state", "param"} and (src, nm) not in aliases:
                    aliases[(src, nm)] = var
                if src == "runtime_const":
                    aliases[(src, nm)] = var
            w.emit("# ---- observation of the next state (t + 1)")
            for key in [k for k in w.loaded if k[0] == "time"]:
                del w.loaded[key]  # the observation reads t + 1
            w.ops(prog.observe, "obs", aliases=aliases, time_shift=True)
            w.outputs_obs(prog.observe, "obs", split=split)
            kernels.append(w)

        header = (f"# Triton kernels generated by econdsl from model {_safe(prog.model)} ({self.dtype}).\n"
                  "# Generated from the checked IR only; identifiers are mangled. Do not edit.\n")
        body = [header, PRELUDE]
        plans: dict[str, KernelPlan] = {}
        for w in kernels:
            has_q = w.plan.name in {"k_step", "k_step_observe", "k_step_observe_split"}
            body.append("\n\n" + w.text(write_q=has_q))
            plans[w.plan.name] = w.plan
        return ModuleSource("".join(body), plans, list(self.tables), self.tiled)


def print_program(prog: Program, dtype: str = "float32", tiled: bool = False) -> ModuleSource:
    """Print ``prog`` as Triton source (six kernels, for ``dtype``) plus the plans the launcher needs;
    ``tiled``: loop over blocks of :func:`tile_axis` (if the program has one) instead of holding it whole."""
    return ModulePrinter(prog, dtype, tiled).print()
