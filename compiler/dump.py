"""A readable text form of an IR program (``econdsl compile FILE --emit ir``)."""

from __future__ import annotations

from .ir import Function, Op, Program


def _dims(dims: tuple[str, ...]) -> str:
    return "[" + ", ".join(dims) + "]" if dims else "[]"


def _attrs(op: Op) -> str:
    k = op.kind
    if k == "const":
        v = op.attr("value")
        return f"{list(v)}" if isinstance(v, tuple) else f"{v:g}"
    if k == "input":
        return f"{op.attr('source')} {op.attr('name')}"
    if k == "action":
        if op.attr("real"):
            per = f" per {op.attr('per')}" if op.attr("per") else ""
            return f"{op.attr('agent')} real column {op.attr('column')}{per}"
        table = op.attr("table")
        shown = ", ".join(f"{x:g}" for x in table[:6]) + (", …" if len(table) > 6 else "")
        per = f" per {op.attr('per')}" if op.attr("per") else ""
        return (f"{op.attr('agent')} column {op.attr('column')}{per}: table[(a // {op.attr('stride')}) % "
                f"{op.attr('size')}], table = ({shown})")
    if k == "relabel":
        return ", ".join(f"{a} -> {b}" for a, b in op.attr("axes"))
    if k in ("iota", "gather"):
        return f"dim {op.attr('dim')}"
    if k == "reduce":
        return f"{op.attr('op')} over {op.attr('dim')}"
    if k == "random":
        return f"site {op.attr('site')}"
    if k == "lookup":
        table = op.attr("table")
        shown = ", ".join(f"{x:g}" for x in table[:6]) + (", …" if len(table) > 6 else "")
        return f"shape {'×'.join(map(str, op.attr('shape')))}, table = ({shown})"
    return ""


def format_function(fn: Function) -> list[str]:
    lines = [f"function {fn.name}:"]
    for op in fn.ops:
        args = ", ".join(op.args)
        extra = _attrs(op)
        body = f"{op.kind}({args})" if args else op.kind
        if extra:
            body += f" {{{extra}}}"
        note = "  # " + " ".join(x for x in (op.name, op.source) if x) if (op.name or op.source) else ""
        lines.append(f"  {op.out:>5}: {op.dtype}{_dims(op.dims):<22} = {body}{note}")
    for o in fn.outputs:
        extra = ""
        if o.kind == "obs":
            extra = f"  ({len(o.labels)} columns" + (f", onehot {o.onehot}" if o.onehot else "") + \
                (f", features {_dims(o.features)}" if o.features else "") + ")"
        lines.append(f"  -> {o.kind} {o.name} = {o.value}{extra}")
    return lines


def format_program(p: Program) -> str:
    lines = [f"program {p.model}  (horizon {p.horizon})"]
    pops = ", ".join(f"{n}" + ("" if n in p.singletons else f"[{s}]") for n, s in p.populations.items())
    lines.append(f"populations: {pops}")
    lines.append("buffers:")
    for b in p.buffers:
        unit = f" :: {b.unit}" if b.unit else ""
        lines.append(f"  {b.kind:<5} {b.name}{_dims(b.dims)}{unit}  (of {b.owner})")
    lines.append("action heads:")
    for h in p.heads:
        cols = f"columns {h.column}..{h.column + h.n_columns - 1}" if h.n_columns > 1 else f"column {h.column}"
        if h.continuous:
            ranges = " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in h.bounds)
            lines.append(f"  {h.agent}.{h.name}: real {cols}, values in {ranges}  # {h.source}")
        else:
            lines.append(f"  {h.agent}.{h.name}: {cols}, {h.n} choices each  # {h.source}")
    if p.runtime_consts:
        lines.append("runtime constants: " + ", ".join(f"{k} = {v:g}" for k, v in p.runtime_consts.items()))
    if p.uniforms:
        lines.append("uniform draw streams: " + ", ".join(f"{k}{_dims(v)}" for k, v in p.uniforms.items()))
    for agent in p.agents:
        lines.append(f"observation of {agent}: {p.obs_dim(agent)} columns")
    for fn in p.functions():
        lines.append("")
        lines += format_function(fn)
    return "\n".join(lines) + "\n"
