"""The reference backend: a plain float64 interpreter of the IR, one element at a time.

Written for clarity, not speed: every op loops explicitly over replicas and agents (or agent pairs)
and computes one Python float at a time with the ``math`` module, following the IR contract in
``ir.py`` word for word. It is the oracle the generated backends are tested against.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np
import torch

from ..ir import Function, Op, Program, per_axis
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
    except OverflowError:
        return math.inf
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
    "int": lambda a: math.floor(a) if math.isfinite(a) else 0,
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

    def run(self, fn: Function, inputs: Mapping[str, np.ndarray], actions: Mapping[str, np.ndarray]) -> dict:
        env: dict[str, np.ndarray] = {}
        ops: dict[str, Op] = {}
        for op in fn.ops:
            env[op.out] = self.eval(op, env, ops, inputs, actions)
            ops[op.out] = op
        return env

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
            a = actions[op.attr("agent")]
            agent, per = op.attr("agent"), op.attr("per")
            table, stride, size, col = op.attr("table"), op.attr("stride"), op.attr("size"), op.attr("column")
            for pt in self.points(op.dims):
                where = dict(zip(op.dims, pt[1:], strict=True))
                member = where.get(agent, 0)
                column = col + (where[per_axis(agent, per)] if per else 0)
                idx = int(a[pt[0], member, column])
                out[pt] = table[(idx // stride) % size]
            return out
        if k == "iota":
            for pt in self.points(op.dims):
                out[pt] = pt[1]
            return out
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


def _reduce(op: str, xs: list[float]) -> float:
    if op == "sum":
        return math.fsum(xs) if all(math.isfinite(x) for x in xs) else sum(xs)
    if op == "mean":
        return (math.fsum(xs) / len(xs)) if xs else 0.0
    if op == "prod":
        return math.prod(xs)
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
        inputs = self._inputs({}, None, consts)
        for name in self.program.uniforms:
            inputs[("uniform", name)] = uniforms[name].detach().cpu().double().numpy()
        env = Interpreter(self.program, n_envs).run(self.program.init, inputs, {})
        return {o.name: self._out(env[o.value]) for o in self.program.init.outputs}

    def step(self, bufs, actions, t, consts) -> StepResult:
        E = int(t.shape[0])
        acts = {a: actions[a].detach().cpu().long().numpy() for a in self.program.agents if a in actions}
        env = Interpreter(self.program, E).run(self.program.step, self._inputs(bufs, t, consts), acts)
        res = StepResult({b.name: bufs[b.name] for b in self.program.states()}, {}, {}, {})
        for o in self.program.step.outputs:
            v = self._out(env[o.value])
            if o.kind == "state":
                res.states[o.name] = v
            elif o.kind == "reward":
                res.rewards[o.name] = v.reshape(E, self.program.n_agents(o.name))
            elif o.kind == "quantity":
                res.quantities[o.name] = v
            else:
                res.externals[o.name] = v
        return res

    def observe(self, bufs, t, consts) -> dict[str, Tensor]:
        E = int(t.shape[0])
        prog = self.program
        interp = Interpreter(prog, E)
        env = interp.run(prog.observe, self._inputs(bufs, t, consts), {})
        obs = {}
        for agent in prog.agents:
            n = prog.n_agents(agent)
            rows = np.zeros((E, n, prog.obs_dim(agent)))
            col = 0
            for o in prog.obs_outputs(agent):
                op = prog.observe.op(o.value)
                val = env[o.value]
                aligned = [d for d in op.dims if d not in o.features]
                width = len(o.labels)
                for e in range(E):
                    for m in range(n):
                        where = {d: m for d in aligned}
                        if o.onehot:
                            k = int(val[(e, *(where[d] for d in op.dims))])
                            rows[e, m, col + k] = 1.0
                            continue
                        feats = itertools.product(*[range(n) for n in prog.size(o.features)])
                        for f, fidx in enumerate(feats):
                            where.update(zip(o.features, fidx, strict=True))
                            rows[e, m, col + f] = val[(e, *(where[d] for d in op.dims))]
                col += width
            obs[agent] = self._out(rows)
        return obs


def compile_program(program: Program, device="cpu", dtype=torch.float64, **opts) -> ReferenceProgram:
    """The interpreter computes in float64; results are returned in ``dtype`` on ``device``."""
    return ReferenceProgram(program, device, dtype)
