"""IR optimisation: constant folding, algebraic simplification, CSE and dead-code elimination.

``optimize`` re-emits every function through :class:`~.builder.Builder` (which folds constants,
simplifies ``x*1``, ``x+0``, ``where(c, x, x)`` … and shares identical expressions), then drops ops
that no output needs. ``drop_outputs`` removes outputs a caller does not want (e.g. accounting
externals in the training hot path), so that their computation disappears too.
"""

from __future__ import annotations

from dataclasses import replace

from .builder import Builder
from .ir import ELEMENTWISE, Function, Program


def _reemit(fn: Function, populations: dict[str, int]) -> Function:
    b = Builder(fn.name, populations)
    rename: dict[str, str] = {}
    for op in fn.ops:
        args = tuple(rename[a] for a in op.args)
        k = op.kind
        if k == "const":
            v = op.attr("value")
            if op.dtype == "b":
                new = b.raw("const", (), (), "b", op.attrs, op.source)
            else:
                new = b.const(v, op.dtype, op.dims, op.source)
        elif k == "input":
            new = b.input(op.attr("source"), op.attr("name"), op.dims, op.dtype, op.source)
        elif k in ELEMENTWISE:
            new = b.elementwise(k, args, op.source, op.name, op.attrs)
        elif k == "broadcast":
            new = b.broadcast(args[0], op.dims, op.source)
        elif k == "reduce":
            new = b.reduce(op.attr("op"), args[0], op.attr("dim"), args[1] if len(args) > 1 else None, op.source)
        elif k == "gather":
            new = b.gather(args[0], args[1], op.attr("dim"), op.source)
        elif k == "lookup":
            new = b.lookup(op.attr("table"), op.attr("shape"), args, op.source)
        elif k == "relabel":
            new = b.relabel(args[0], dict(op.attr("axes")), op.source)
        else:
            new = b.raw(k, args, op.dims, op.dtype, op.attrs, op.source, op.name)
        rename[op.out] = new
    b.fn.outputs = [replace(o, value=rename[o.value]) for o in fn.outputs]
    return dead_code(b.fn)


def dead_code(fn: Function) -> Function:
    """Drop ops no output depends on, and renumber the survivors v0, v1, … in order."""
    table = fn.table()
    live: set[str] = set()
    stack = [o.value for o in fn.outputs]
    while stack:
        v = stack.pop()
        if v in live:
            continue
        live.add(v)
        stack.extend(table[v].args)
    keep = [op for op in fn.ops if op.out in live]
    rename = {op.out: f"v{k}" for k, op in enumerate(keep)}
    ops = [replace(op, out=rename[op.out], args=tuple(rename[a] for a in op.args)) for op in keep]
    outs = [replace(o, value=rename[o.value]) for o in fn.outputs]
    return Function(fn.name, ops, outs)


def optimize(program: Program) -> Program:
    """A new program with every function folded, simplified, deduplicated and dead-code free."""
    fns = {f.name: _reemit(f, program.populations) for f in program.functions()}
    return replace(program, init=fns["init"], step=fns["step"], observe=fns["observe"])


def drop_outputs(program: Program, kinds: set[str]) -> Program:
    """The program without the step outputs of the given kinds (and the ops only they needed)."""
    step = Function("step", list(program.step.ops), [o for o in program.step.outputs if o.kind not in kinds])
    return replace(program, step=dead_code(step))
