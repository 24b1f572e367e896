"""The reference backend: a plain float64 interpreter of the IR, one element at a time.

Written for clarity, not speed: every op loops explicitly over replicas and agents (or agent pairs)
and computes one Python float at a time with the ``math`` module, following the IR contract in
``ir.py`` word for word. It is the oracle the generated backends are tested against.

With ``magnitudes=True`` it also computes, for every value, the **magnitude of the terms that make it**
(float64, :func:`_mag_elementwise`): inputs and constants count as their absolute value, a sum as the sum
of its terms' magnitudes, a product as the product, and functions by their sensitivity (``log a``:
``|log a| + M(a)/|a|``, ``exp a``: ``|exp a|·max(1, M(a))`` …). A backend that rounds each operation to a
relative precision ε then differs from the exact value by about ε·(depth)·M at each point, however
large other values of the same tensor are: the differential tests compare each element against
``rtol·M + atol`` (tests/compiler/tolerances.py). Comparisons, ``floor``/``ceil`` flips and gathers by
a computed index are not bounded (a backend may land on the other side of a threshold); the tests
compare one step at a time from the reference's own states, where this does not happen.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np
import torch

from ..ir import Function, Op, Program, int_value, per_axis, real_key
from ..philox import philox_numpy, rng_words, uniform_numpy
from . import CompiledProgram, StepResult

Tensor = torch.Tensor


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _pow(a: float, b: float) -> float:
    try:
        r = a ** b
    except ZeroDivisionError:
        return math.inf
    except OverflowError:  # an odd whole power of a negative base keeps its sign: (-10)^401 = -inf
        odd = float(b).is_integer() and int(b) % 2 == 1
        return -math.inf if a < 0 and odd else math.inf
    return math.nan if isinstance(r, complex) else float(r)


def _safe(fn):
    def run(*a):
        try:
            return fn(*a)
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf
    return run


def _min(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


def _max(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


_SCALAR = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": _div,
    "pow": _pow, "neg": lambda a: -a, "min": _min, "max": _max,
    "log": _safe(lambda a: -math.inf if a == 0 else math.log(a)), "exp": _safe(math.exp),
    "sqrt": _safe(math.sqrt), "abs": abs,
    "floor": lambda a: float(math.floor(a)) if math.isfinite(a) else a,
    "ceil": lambda a: float(math.ceil(a)) if math.isfinite(a) else a,
    "ndtri": _safe(lambda a: NormalDist().inv_cdf(a) if 0 < a < 1 else (-math.inf if a == 0 else math.inf)),
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "and": lambda a, b: bool(a) and bool(b), "or": lambda a, b: bool(a) or bool(b), "not": lambda a: not a,
    "where": lambda c, a, b: a if c else b, "float": lambda a: float(a),
    "int": int_value,
}


class Interpreter:
    """Evaluates one IR function for ``n_envs`` replicas; values are numpy arrays [E, *sizes]."""

    def __init__(self, program: Program, n_envs: int):
        self.p = program
        self.E = n_envs

    def shape(self, dims: tuple[str, ...]) -> tuple[int, ...]:
        return (self.E, *self.p.size(dims))

    def points(self, dims: tuple[str, ...]):
        """Every (replica, member index per dim) of a value of these dims."""
        ranges = [range(self.E)] + [range(n) for n in self.p.size(dims)]
        return itertools.product(*ranges)

    @staticmethod
    def at(val: np.ndarray, op: Op, dims: tuple[str, ...], point: tuple[int, ...]):
        """The value of ``op`` (array ``val``) at a point of a value with ``dims``."""
        e, rest = point[0], point[1:]
        where = dict(zip(dims, rest, strict=True))
        return val[(e, *(where[d] for d in op.dims))]

    def run(self, fn: Function, inputs: Mapping[str, np.ndarray], actions: Mapping[str, np.ndarray],
            magnitudes: dict | None = None) -> dict:
        """Every value of ``fn``; with a dict ``magnitudes``, also fills it with each value's magnitude."""
        env: dict[str, np.ndarray] = {}
        ops: dict[str, Op] = {}
        for op in fn.ops:
            env[op.out] = self.eval(op, env, ops, inputs, actions)
            ops[op.out] = op
            if magnitudes is not None:
                magnitudes[op.out] = self.magnitude(op, env, magnitudes, ops)
        return env

    def magnitude(self, op: Op, env, mags, ops) -> np.ndarray:
        """The magnitude of the terms that make ``op``'s value (module docstring), point by point."""
        val = env[op.out]
        if op.kind in ("const", "input", "action", "iota", "lookup", "random"):
            return np.abs(np.where(np.isfinite(val), val, 0.0)).astype(np.float64)  # booleans: 0 or 1
        out = np.zeros(val.shape)
        args = [ops[a] for a in op.args]
        ms = [mags[a] for a in op.args]
        k = op.kind
        if k == "broadcast":
            for pt in self.points(op.dims):
                out[pt] = self.at(ms[0], args[0], op.dims, pt)
            return out
        if k == "relabel":
            ren = dict(op.attr("axes"))
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                out[pt] = ms[0][(pt[0], *(where[ren.get(d, d)] for d in args[0].dims))]
            return out
        if k == "gather":
            dim, (src, idx) = op.attr("dim"), args
            n = self.p.axis_size(dim)
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                where[dim] = min(max(int(self.at(env[idx.out], idx, op.dims, pt)), 0), n - 1)
                out[pt] = ms[0][(pt[0], *(where[d] for d in src.dims))]
            return out
        if k == "reduce":
            dim, red = op.attr("dim"), op.attr("op")
            full = self.p.canonical((*op.dims, dim))
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                terms = []
                for m in range(self.p.axis_size(dim)):
                    where[dim] = m
                    fpt = (pt[0], *(where[d] for d in full))
                    if len(args) == 2 and not self.at(env[args[1].out], args[1], full, fpt):
                        continue
                    terms.append(float(self.at(ms[0], args[0], full, fpt)))
                if red == "sum":
                    out[pt] = math.fsum(terms)
                elif red == "mean":
                    out[pt] = math.fsum(terms) / len(terms) if terms else 0.0
                elif red == "prod":
                    out[pt] = math.prod(terms)
                else:
                    out[pt] = max(terms, default=0.0)
            return out
        for pt in self.points(op.dims):
            xs = [float(self.at(env[a.out], a, op.dims, pt)) for a in args]
            mm = [float(self.at(m, a, op.dims, pt)) for m, a in zip(ms, args, strict=True)]
            out[pt] = _mag_elementwise(k, xs, mm, float(val[pt]))
        return out

    def eval(self, op: Op, env, ops, inputs, actions) -> np.ndarray:
        np_dtype = {"f": np.float64, "b": np.bool_, "i": np.int64}[op.dtype]
        out = np.zeros(self.shape(op.dims), dtype=np_dtype)
        k = op.kind
        if k == "const":
            v = op.attr("value")
            for pt in self.points(op.dims):
                out[pt] = v[pt[1]] if isinstance(v, tuple) else v
            return out
        if k == "input":
            src = np.asarray(inputs[(op.attr("source"), op.attr("name"))], dtype=np.float64)
            for pt in self.points(op.dims):
                out[pt] = src[pt] if src.ndim == len(pt) else src.reshape(-1)[0] if src.ndim == 0 else src[pt[0]]
            return out
        if k == "action":
            agent, per, col, real = op.attr("agent"), op.attr("per"), op.attr("column"), op.attr("real")
            a = actions[real_key(agent) if real else agent]
            table, stride, size = op.attr("table"), op.attr("stride"), op.attr("size")
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                member = where.get(agent, 0)
                column = col + (where[per_axis(agent, per)] if per else 0)
                if real:
                    out[pt] = float(a[pt[0], member, column])
                    continue
                idx = int(a[pt[0], member, column])
                out[pt] = table[(idx // stride) % size]
            return out
        if k == "iota":
            for pt in self.points(op.dims):
                out[pt] = pt[1]
            return out
        if k == "random":  # Philox4x32-10 of (member, site, counter, replica) under the key (k0, k1)
            words = inputs[("rng", "words")]
            sizes = self.p.size(op.dims)
            member = np.arange(math.prod(sizes), dtype=np.uint64).reshape((1, *sizes))
            col = [words[:, c].astype(np.uint64).reshape((self.E,) + (1,) * len(sizes)) for c in range(4)]
            x0, x1, _, _ = philox_numpy(member, np.uint64(op.attr("site")), col[2], col[3], col[0], col[1])
            return uniform_numpy(x0, x1).reshape(out.shape)
        args = [ops[a] for a in op.args]
        vals = [env[a] for a in op.args]
        if k == "broadcast":
            for pt in self.points(op.dims):
                out[pt] = self.at(vals[0], args[0], op.dims, pt)
            return out
        if k == "reduce":
            dim, red = op.attr("dim"), op.attr("op")
            full = self.p.canonical((*op.dims, dim))
            n = self.p.axis_size(dim)
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                members = []
                for m in range(n):
                    where[dim] = m
                    fpt = (pt[0], *(where[d] for d in full))
                    if len(args) == 2 and not self.at(vals[1], args[1], full, fpt):
                        continue
                    members.append(float(self.at(vals[0], args[0], full, fpt)))
                out[pt] = _reduce(red, members)
            return out
        if k == "gather":
            dim = op.attr("dim")
            src, idx = args
            n = self.p.axis_size(dim)
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                m = int(self.at(vals[1], idx, op.dims, pt))
                where[dim] = min(max(m, 0), n - 1)
                out[pt] = vals[0][(pt[0], *(where[d] for d in src.dims))]
            return out
        if k == "lookup":
            table, shape = op.attr("table"), op.attr("shape")
            for pt in self.points(op.dims):
                flat = 0
                for v, a, n in zip(vals, args, shape, strict=True):
                    flat = flat * n + min(max(int(self.at(v, a, op.dims, pt)), 0), n - 1)
                out[pt] = table[flat]
            return out
        if k == "relabel":
            ren = dict(op.attr("axes"))
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                out[pt] = vals[0][(pt[0], *(where[ren.get(d, d)] for d in args[0].dims))]
            return out
        fn = _SCALAR[k]
        for pt in self.points(op.dims):
            xs = [self.at(v, a, op.dims, pt) for v, a in zip(vals, args, strict=True)]
            xs = [float(x) if a.dtype == "f" else (bool(x) if a.dtype == "b" else int(x))
                  for x, a in zip(xs, args, strict=True)]
            out[pt] = fn(*xs)
        return out


def _mag_elementwise(k: str, xs: list, ms: list, r: float) -> float:
    """A bound on the size of the terms that make ``r = k(xs)``, from those of its arguments (``ms``)."""
    ar = abs(r) if math.isfinite(r) else 0.0
    if k in ("add", "sub"):
        return ms[0] + ms[1]
    if k == "mul":
        return ms[0] * ms[1]
    if k == "div":
        b = abs(xs[1])
        return (ms[0] + abs(xs[0] / xs[1]) * ms[1]) / b if b > 0 else 0.0
    if k in ("neg", "abs"):
        return ms[0]
    if k == "float":  # a boolean or an integer is exact: its value (1 for True) is its magnitude
        return max(ms[0], ar)
    if k in ("min", "max"):
        return max(ms[0], ms[1])
    if k == "where":
        return ms[1] if xs[0] else ms[2]
    if k == "exp":
        return ar * max(1.0, ms[0])
    if k == "log":
        a = abs(xs[0])
        return ar + (ms[0] / a if a > 0 else 0.0)
    if k == "sqrt":
        a = abs(xs[0])
        return ar + (ms[0] / (2.0 * math.sqrt(a)) if a > 0 else 0.0)
    if k == "pow":
        a, b = abs(xs[0]), xs[1]
        if a == 0:
            return ar
        if not math.isfinite(b):
            return ar  # x ^ ±Inf is exactly 0, 1 or Inf
        la = abs(math.log(a))
        return ar * (1.0 + abs(b) * ms[0] / a + la * (ms[1] + abs(b)))
    if k in ("floor", "ceil", "int"):
        return ar + ms[0]
    if k == "ndtri":
        return ar + ms[0] * math.sqrt(2 * math.pi) * math.exp(min(r * r / 2, 700.0)) if math.isfinite(r) else 0.0
    return 0.0  # comparisons and logic: exact


def _reduce(op: str, xs: list[float]) -> float:
    if op == "sum":
        return math.fsum(xs) if all(math.isfinite(x) for x in xs) else sum(xs)
    if op == "mean":
        return (math.fsum(xs) / len(xs)) if xs else 0.0
    if op == "prod":
        return math.prod(xs)
    if any(math.isnan(x) for x in xs):
        return math.nan  # min/max over a NaN member is NaN (IEEE, torch's amin/amax), whatever the order
    if op == "min":
        return min(xs) if xs else math.inf
    return max(xs) if xs else -math.inf


class ReferenceProgram(CompiledProgram):
    backend = "reference"

    def _out(self, x: np.ndarray) -> Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x))
        if t.dtype == torch.float64:
            t = t.to(self.dtype)
        return t.to(self.device)

    def _inputs(self, bufs, t, consts) -> dict:
        inputs = {}
        for b in self.program.buffers:
            if b.name in bufs:
                inputs[(b.kind, b.name)] = bufs[b.name].detach().cpu().double().numpy()
        for name in self.program.runtime_consts:
            inputs[("runtime_const", name)] = np.asarray(float(consts[name]))
        if t is not None:
            inputs[("time", "t")] = t.detach().cpu().double().numpy()
        return inputs

    def init(self, n_envs, uniforms, consts) -> dict[str, Tensor]:
        return self.init_with_magnitudes(n_envs, uniforms, consts)[0]

    def init_with_magnitudes(self, n_envs, uniforms, consts) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Every parameter and initial state, and the magnitude of their terms (float64)."""
        inputs = self._inputs({}, None, consts)
        for name in self.program.uniforms:
            inputs[("uniform", name)] = uniforms[name].detach().cpu().double().numpy()
        mags: dict = {}
        env = Interpreter(self.program, n_envs).run(self.program.init, inputs, {}, mags)
        return ({o.name: self._out(env[o.value]) for o in self.program.init.outputs},
                {o.name: torch.from_numpy(mags[o.value]) for o in self.program.init.outputs})

    def step(self, bufs, actions, t, consts, rng=None) -> StepResult:
        return self.step_with_magnitudes(bufs, actions, t, consts, rng)[0]

    def step_with_magnitudes(self, bufs, actions, t, consts, rng=None) -> tuple[StepResult, StepResult]:
        """The step, and the magnitude of the terms of every output (float64; states without a transition
        keep their value, magnitude |value|)."""
        E = int(t.shape[0])
        acts = self._actions(actions)
        inputs = self._inputs(bufs, t, consts)
        inputs[("rng", "words")] = (rng if rng is not None else rng_words(0, 0, E)).detach().cpu().numpy()
        mags: dict = {}
        env = Interpreter(self.program, E).run(self.program.step, inputs, acts, mags)
        res = StepResult({b.name: bufs[b.name] for b in self.program.states()}, {}, {}, {})
        mag = StepResult({b.name: bufs[b.name].detach().cpu().double().abs() for b in self.program.states()},
                         {}, {}, {})
        for o in self.program.step.outputs:
            for r, v in ((res, self._out(env[o.value])), (mag, torch.from_numpy(mags[o.value]))):
                if o.kind == "state":
                    r.states[o.name] = v
                elif o.kind == "reward":
                    r.rewards[o.name] = v.reshape(E, self.program.n_agents(o.name))
                elif o.kind == "quantity":
                    r.quantities[o.name] = v
                else:
                    r.externals[o.name] = v
        return res, mag

    def _actions(self, actions) -> dict[str, np.ndarray]:
        acts = {a: actions[a].detach().cpu().long().numpy() for a in self.program.agents if a in actions}
        acts |= {real_key(a): actions[real_key(a)].detach().cpu().double().numpy()
                 for a in self.program.real_agents()}
        return acts

    def observe(self, bufs, t, consts, actions=None) -> dict[str, Tensor]:
        return self.observe_with_magnitudes(bufs, t, consts, actions)[0]

    def observe_with_magnitudes(self, bufs, t, consts, actions=None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Observation rows and the magnitude of each entry's terms (float64; one-hot columns: 0, exact)."""
        E = int(t.shape[0])
        prog = self.program
        mags: dict = {}
        acts = self._actions(self.period_actions(actions, E)) if prog.stages else {}
        env = Interpreter(prog, E).run(prog.observe, self._inputs(bufs, t, consts), acts, mags)
        obs, obs_mag = {}, {}
        for agent in prog.agents:
            obs[agent] = self._out(self._rows(agent, env, env, E))
            obs_mag[agent] = torch.from_numpy(self._rows(agent, env, mags, E))
        return obs, obs_mag

    def _rows(self, agent: str, env: dict, source: dict, E: int) -> np.ndarray:
        """The observation rows of ``agent`` [E, n, width], filled from ``source`` (values or magnitudes);
        one-hot columns are placed by the values in ``env`` and hold 1 (values) or 0 (magnitudes)."""
        prog = self.program
        n = prog.n_agents(agent)
        rows = np.zeros((E, n, prog.obs_dim(agent)))
        col = 0
        for o in prog.obs_outputs(agent):
            op = prog.observe.op(o.value)
            val = env[o.value]
            aligned = [d for d in op.dims if d not in o.features]
            for e in range(E):
                for m in range(n):
                    where = {d: m for d in aligned}
                    if o.onehot:
                        k = int(val[(e, *(where[d] for d in op.dims))])
                        rows[e, m, col + k] = 1.0 if source is env else 0.0
                        continue
                    feats = itertools.product(*[range(size) for size in prog.size(o.features)])
                    for f, fidx in enumerate(feats):
                        where.update(zip(o.features, fidx, strict=True))
                        rows[e, m, col + f] = source[o.value][(e, *(where[d] for d in op.dims))]
            col += len(o.labels)
        return rows


def compile_program(program: Program, device="cpu", dtype=torch.float64, **opts) -> ReferenceProgram:
    """The interpreter computes in float64; results are returned in ``dtype`` on ``device``."""
    return ReferenceProgram(program, device, dtype)
