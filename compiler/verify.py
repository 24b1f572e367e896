"""The IR verifier: structural invariants of a :class:`Program`, checked between compiler stages.

It checks what ``ir.py`` promises backends: known op kinds and arities, SSA (each name defined once,
before use, within its function), canonical and known dims, dims and dtypes consistent with each
op kind, and outputs that refer to defined values of the right shape.
"""

from __future__ import annotations

import math

from .ir import (
    ARITHMETIC,
    COMPARISONS,
    ELEMENTWISE,
    INPUT_SOURCES,
    INT_LIMIT,
    LOGICAL,
    OUTPUT_KINDS,
    REDUCTIONS,
    Function,
    Op,
    Program,
    fits_int,
    population,
    role,
)


class VerifyError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid IR:\n  " + "\n  ".join(problems))


def verify(program: Program) -> None:
    """Raise :class:`VerifyError` listing every violated invariant."""
    problems: list[str] = []
    for fn in program.functions():
        problems += _verify_function(program, fn)
    problems += _verify_stage_order(program)
    if problems:
        raise VerifyError(problems)


def _verify_stage_order(prog: Program) -> list[str]:
    """An agent type's observation reads only the actions of agent types of earlier stages."""
    stage = {a: k for k, agents in enumerate(prog.stage_agents()) for a in agents}
    needs: dict[str, set[str]] = {}  # SSA value -> agent types whose actions it depends on
    for op in prog.observe.ops:
        deps = {str(op.attr("agent"))} if op.kind == "action" else set()
        for a in op.args:
            deps |= needs.get(a, set())
        needs[op.out] = deps
    out = []
    for o in prog.observe.outputs:
        late = sorted(a for a in needs.get(o.value, ()) if stage.get(a, 0) >= stage.get(o.name, 0))
        if late:
            out.append(f"observe: {o.name}'s observation {o.labels[:1]} reads the actions of {late}, which do "
                       f"not act in an earlier stage")
    return out


def _is_axis(d: str) -> bool:
    try:
        return role(d) >= 0
    except ValueError:  # "W~x": not a role number
        return False


def _verify_function(prog: Program, fn: Function) -> list[str]:
    out: list[str] = []
    ops = {}
    bufs = {b.name: b for b in prog.buffers}

    def bad(op, msg):
        out.append(f"{fn.name}: {op.out} = {op.kind}{op.args}: {msg}")

    sites: set[int] = set()

    def union(names):
        return prog.canonical({d for n in names for d in ops[n].dims})

    for op in fn.ops:
        if op.out in ops:
            bad(op, "defined twice")
        if any(a not in ops for a in op.args):
            bad(op, "uses a value not defined before")
            ops[op.out] = op
            continue
        if any(population(d) not in prog.populations or population(d) in prog.singletons or not _is_axis(d)
               for d in op.dims):
            bad(op, f"unknown or singleton dim in {op.dims}")
        if op.dims != prog.canonical(op.dims):  # also catches a repeated dim
            bad(op, f"dims {op.dims} not in canonical order")
        if op.dtype not in ("f", "b", "i"):
            bad(op, f"unknown dtype {op.dtype}")
        k = op.kind
        args = [ops[a] for a in op.args]
        if k == "const":
            v = op.attr("value")
            if isinstance(v, tuple):
                if len(op.dims) != 1 or len(v) != prog.axis_size(op.dims[0]):
                    bad(op, "array constant does not match its dims")
            elif op.dims != ():
                bad(op, "scalar constant with dims")
            if op.dtype == "i" and not all(float(x).is_integer() and abs(x) < INT_LIMIT
                                           for x in (v if isinstance(v, tuple) else (v,))):
                bad(op, f"integer constant {v} is not a whole number below 2^31 in magnitude")
        elif k == "input":
            src, name = op.attr("source"), op.attr("name")
            if src not in INPUT_SOURCES:
                bad(op, f"unknown input source {src}")
            elif src in ("state", "param"):
                if name not in bufs or bufs[name].kind != src or bufs[name].dims != op.dims:
                    bad(op, f"input {src} {name!r} does not match a buffer")
                if fn.name == "init":
                    bad(op, "init cannot read buffers")
            elif src == "runtime_const" and (name not in prog.runtime_consts or op.dims != ()):
                bad(op, f"unknown runtime constant {name!r}")
            elif src == "uniform" and (fn.name != "init" or prog.uniforms.get(name) != op.dims):
                bad(op, f"uniform stream {name!r} misused")
            elif src == "time" and op.dims != ():
                bad(op, "time has dims")
        elif k == "action":
            if fn.name != "step" and not (fn.name == "observe" and prog.stages):
                bad(op, "actions are only known in step (and, with stages, in observe)")
            agent, per = op.attr("agent"), op.attr("per")
            want = prog.action_dims(agent, per)
            if op.dims != want:
                bad(op, f"action dims {op.dims} != {want}")
            col = op.attr("column")
            width = prog.populations[per] if per else 1
            if op.attr("real"):  # a continuous head: a column block of the real action tensor
                if op.dtype != "f" or op.attr("table") is not None:
                    bad(op, "a real action is an 'f' value without a table")
                n_cols = prog.n_real_columns(agent)
            else:
                table = op.attr("table")
                if not table or op.attr("size") != len(table) or op.attr("stride", 0) < 1:
                    bad(op, "bad action table")
                n_cols = prog.n_columns(agent)
            if not isinstance(col, int) or col < 0 or col + width > n_cols:
                bad(op, f"column {col} out of range")
        elif k == "relabel":
            pairs = op.attr("axes") or ()
            ren = dict(pairs)
            x = args[0] if len(args) == 1 else None
            if x is None or not pairs or len(ren) != len(pairs):
                bad(op, "relabel takes (x,) and a non-empty renaming")
            elif any(a not in x.dims or population(a) != population(b) for a, b in pairs):
                bad(op, f"relabel {pairs} does not fit dims {x.dims}")
            else:
                new = [ren.get(d, d) for d in x.dims]
                if len(set(new)) != len(new) or op.dims != prog.canonical(new) or op.dtype != x.dtype:
                    bad(op, f"relabel dims {op.dims} != {prog.canonical(new)}")
        elif k == "iota":
            if op.dims != (op.attr("dim"),) or op.dtype != "i":
                bad(op, "iota dims/dtype")
        elif k in ELEMENTWISE:
            arity, res = ELEMENTWISE[k]
            if len(args) != arity:
                bad(op, "wrong arity")
                ops[op.out] = op
                continue
            if op.dims != union(op.args):
                bad(op, f"dims {op.dims} != union {union(op.args)}")
            dts = [a.dtype for a in args]
            if k in ARITHMETIC and any(d != "f" for d in dts):
                bad(op, f"arithmetic on {dts}")
            elif k in COMPARISONS and (len(set(dts)) != 1 or dts[0] == "b"):
                bad(op, f"comparison of {dts}")
            elif k in LOGICAL and any(d != "b" for d in dts):
                bad(op, f"logic on {dts}")
            elif k == "where" and (dts[0] != "b" or dts[1] != dts[2]):
                bad(op, f"where on {dts}")
            elif k == "int" and dts != ["f"]:
                bad(op, f"int of {dts}")
            elif k == "int" and not _int_range_ok(op):
                bad(op, f"int without a whole-number range inside (-2^31, 2^31): lo={op.attr('lo')}, "
                    f"hi={op.attr('hi')}")
            want = res if res is not None else dts[1]
            if op.dtype != want:
                bad(op, f"dtype {op.dtype} != {want}")
        elif k == "broadcast":
            if len(args) != 1 or not set(args[0].dims) <= set(op.dims) or op.dtype != args[0].dtype:
                bad(op, "bad broadcast")
        elif k == "reduce":
            dim = op.attr("dim")
            have = union(op.args)
            if op.attr("op") not in REDUCTIONS or len(args) not in (1, 2) or args[0].dtype != "f":
                bad(op, "bad reduction")
            elif len(args) == 2 and args[1].dtype != "b":
                bad(op, "mask is not boolean")
            if dim not in have or op.dims != tuple(d for d in have if d != dim):
                bad(op, f"reduction dims {op.dims} over {dim} of {have}")
        elif k == "gather":
            dim = op.attr("dim")
            if len(args) != 2:
                bad(op, "gather takes (src, index)")
            else:
                src, idx = args
                want = prog.canonical((set(src.dims) - {dim}) | set(idx.dims))
                if dim not in src.dims or dim in idx.dims or idx.dtype != "i":
                    bad(op, "bad gather operands")
                elif op.dims != want or op.dtype != src.dtype:
                    bad(op, f"gather dims {op.dims} != {want}")
        elif k == "random":
            if fn.name != "step" or args or op.dtype != "f" or not isinstance(op.attr("site"), int):
                bad(op, "random takes no args, has an int site, is real and only in step")
            elif op.attr("site") in sites:
                bad(op, f"random site {op.attr('site')} used twice")
            sites.add(op.attr("site"))
        elif k == "lookup":
            table, shape = op.attr("table"), op.attr("shape")
            if not isinstance(shape, tuple) or len(args) != len(shape) or any(a.dtype != "i" for a in args):
                bad(op, "lookup takes one integer index per axis of its table")
            elif not isinstance(table, tuple) or len(table) != math.prod(shape):
                bad(op, "lookup table does not match its shape")
            if op.dims != union(op.args) or op.dtype != "f":
                bad(op, f"lookup dims {op.dims} != {union(op.args)} or dtype {op.dtype} != f")
        else:
            bad(op, "unknown op kind")
        ops[op.out] = op

    kinds = OUTPUT_KINDS[fn.name] if fn.name in OUTPUT_KINDS else ()
    for o in fn.outputs:
        where = f"{fn.name}: output {o.kind} {o.name!r}"
        if o.kind not in kinds:
            out.append(f"{where}: kind not allowed here")
            continue
        if o.value not in ops:
            out.append(f"{where}: undefined value {o.value}")
            continue
        v = ops[o.value]
        if o.kind in ("state", "param"):
            b = bufs.get(o.name)
            if b is None or b.kind != o.kind or b.dims != v.dims or v.dtype != "f":
                out.append(f"{where}: does not match its buffer")
        elif o.kind == "reward":
            if o.name not in prog.agents or v.dims != prog.agent_dims(o.name) or v.dtype != "f":
                out.append(f"{where}: reward must be one real per agent")
        elif o.kind == "external" and (v.dims != () or v.dtype != "f"):
            out.append(f"{where}: externals are real scalars")
        elif o.kind == "obs":
            own = set(prog.agent_dims(o.name))
            if not set(o.features) <= set(v.dims) or not (set(v.dims) - set(o.features)) <= own:
                out.append(f"{where}: features {o.features} do not fit dims {v.dims}")
            n = o.onehot or math.prod(prog.size(o.features))
            if o.onehot:
                if v.dtype != "i" or o.features:
                    out.append(f"{where}: onehot of a non-index value")
            elif v.dtype != "f":
                out.append(f"{where}: observations are real")
            if len(o.labels) != n:
                out.append(f"{where}: {len(o.labels)} labels for {n} columns")
    if fn.name == "init":
        named = {o.name for o in fn.outputs}
        missing = [b.name for b in prog.buffers if b.name not in named]
        if missing:
            out.append(f"init: no initial value for {missing}")
    return out


def _int_range_ok(op: Op) -> bool:
    """An ``int`` op carries the whole numbers its argument lies in, inside (-INT_LIMIT, INT_LIMIT)."""
    lo, hi = op.attr("lo"), op.attr("hi")
    return isinstance(lo, int | float) and isinstance(hi, int | float) and float(lo).is_integer() \
        and float(hi).is_integer() and fits_int(lo, hi)
