"""AST → canonical ``.econ`` source: ``parse(print_model(m)) == m`` (spans and comments aside).

Expressions get only the parentheses that the grammar's precedence needs (econ.lark, loosest first):
``?:``, ``||``, ``&&``, ``!``, comparisons (not chained), ``+ -``, ``* /``, unary ``-``/``+``, ``^``
(right-associative, its base a postfix expression, its exponent a factor that may carry a sign).
"""

from __future__ import annotations

import math

from . import ast

INDENT = "    "

# Binding strength of each construct (higher binds tighter); atoms and postfix forms are 10.
_PREC = {"?:": 0, "||": 1, "&&": 2, "!": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "unary": 7, "^": 8}
_CMP = {"==", "!=", "<", "<=", ">", ">="}
_POSTFIX = 10


def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.Ternary):
        return _PREC["?:"]
    if isinstance(e, ast.BinOp):
        return _PREC["cmp"] if e.op in _CMP else _PREC[e.op]
    if isinstance(e, ast.UnOp):
        return _PREC["!"] if e.op == "!" else _PREC["unary"]
    return _POSTFIX


def number(v: float, text: str = "") -> str:
    """A number as written (its source text when known), else the shortest text that reads back equal."""
    if text:
        return text
    if math.isinf(v):
        return "Inf"
    if float(v).is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(float(v))


def _wrap(e: ast.Expr, need: int) -> str:
    s = print_expr(e)
    return f"({s})" if _prec(e) < need else s


def print_expr(e: ast.Expr) -> str:
    """The canonical source text of an expression."""
    if isinstance(e, ast.Num):
        return number(e.value, e.text)
    if isinstance(e, ast.Str):
        return f'"{e.value}"'
    if isinstance(e, ast.Inf):
        return "Inf"
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Index):
        return f"{e.base}[{', '.join(print_expr(i) for i in e.indices)}]"
    if isinstance(e, ast.Call):
        args = ", ".join(print_expr(a) for a in e.args)
        if e.params:
            args += "; " + ", ".join(print_expr(p) for p in e.params)
        return f"{e.func}({args})"
    if isinstance(e, ast.Reduce):
        cond = f" if {print_expr(e.cond)}" if e.cond is not None else ""
        return f"{e.op}({print_expr(e.body)} for {e.var} in {e.over}{cond})"
    if isinstance(e, ast.BinOp):
        p = _prec(e)
        if e.op == "^":
            return f"{_wrap(e.left, _POSTFIX)}^{_wrap(e.right, _PREC['unary'])}"
        if e.op in _CMP:
            return f"{_wrap(e.left, p + 1)} {e.op} {_wrap(e.right, p + 1)}"
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, ast.UnOp):
        if e.op == "!":
            return f"!{_wrap(e.operand, _PREC['!'])}"
        inner = _wrap(e.operand, _PREC["unary"])
        # `- -x` would lex the same, but `-(-x)` reads better
        if isinstance(e.operand, ast.UnOp) and e.operand.op != "!":
            inner = f"({inner})"
        return f"{e.op}{inner}"
    if isinstance(e, ast.Ternary):
        return f"{_wrap(e.cond, _PREC['||'])} ? {print_expr(e.then)} : {print_expr(e.other)}"
    if isinstance(e, ast.Array):
        return "[" + ", ".join(print_expr(i) for i in e.items) + "]"
    if isinstance(e, ast.Draw):
        return f"{e.dist}({', '.join(print_expr(a) for a in e.args)})"
    if isinstance(e, ast.Colon):
        return ":"
    if isinstance(e, ast.Matrix):
        def entry(x: ast.Expr) -> str:
            return print_expr(x) if isinstance(x, ast.Num | ast.Name) else f"({print_expr(x)})"
        return "[" + "; ".join(" ".join(entry(x) for x in row) for row in e.rows) + "]"
    raise TypeError(f"not an expression: {type(e).__name__}")


def print_unit(u: ast.Unit | None) -> str:
    """``::money/goods``; '' when there is no annotation."""
    if u is None:
        return ""
    num = [n if p == 1 else f"{n}^{p}" for n, p in u.factors if p > 0]
    den = [n if p == -1 else f"{n}^{-p}" for n, p in u.factors if p < 0]
    text = "*".join(num) or "1"
    for d in den:
        text += "/" + d
    return "::" + text


def _bounds(b: ast.Bounds | None) -> str:
    return f" in [{print_expr(b.lo)}, {print_expr(b.hi)}]" if b is not None else ""


def _grid(g: ast.Node, several: bool) -> str:
    if isinstance(g, ast.GridSet):
        return "{" + ", ".join(print_expr(v) for v in g.values) + "}"
    if isinstance(g, ast.GridRange):
        mid = f":{_wrap(g.step, _PREC['+'])}" if g.step is not None else ""
        s = f"{_wrap(g.start, _PREC['+'])}{mid}:{_wrap(g.stop, _PREC['+'])}"
        return f"({s})" if several else s
    if isinstance(g, ast.GridPopulation):
        return g.population
    if isinstance(g, ast.GridInterval):
        return f"[{print_expr(g.lo)}, {print_expr(g.hi)}]"
    raise TypeError(f"not a grid: {type(g).__name__}")


def print_decl(d: ast.Node) -> str:
    """One declaration (or equation) on one line, without indentation."""
    if isinstance(d, ast.Horizon):
        return f"horizon {print_expr(d.value)}"
    if isinstance(d, ast.Stage):
        return f"stage {d.name}:" + (" " + ", ".join(d.agents) if d.agents else "")
    if isinstance(d, ast.Const):
        return f"const {d.name}{print_unit(d.unit)} = {print_expr(d.value)}"
    if isinstance(d, ast.Param):
        head = f"param {d.name}{print_unit(d.unit)}{_bounds(d.bounds)}"
        if d.dist is not None:
            return f"{head} ~ {d.dist.func}({', '.join(print_expr(a) for a in d.dist.args)})"
        return f"{head} = {print_expr(d.value)}" if d.value is not None else head
    if isinstance(d, ast.State):
        dom = f" in {_grid(d.domain, False)}" if d.domain is not None else ""
        return f"state {d.name}{print_unit(d.unit)} = {print_expr(d.init)}{_bounds(d.bounds)}{dom}"
    if isinstance(d, ast.Action):
        if len(d.names) == 1:
            target = d.names[0] + (f"[{d.per}]" if d.per else "")
        else:
            target = "(" + ", ".join(n + (print_unit(d.units[k]) if k < len(d.units) else "")
                                     for k, n in enumerate(d.names)) + ")"
        several = len(d.grids) > 1
        return f"action {target}{print_unit(d.unit)} in " + " × ".join(_grid(g, several) for g in d.grids)
    if isinstance(d, ast.Observe):
        return "observe " + ", ".join(print_expr(x) for x in d.items)
    if isinstance(d, ast.Reward):
        return f"reward {print_expr(d.value)}"
    if isinstance(d, ast.Function):
        def fps(ps):
            return ", ".join(p.name + print_unit(p.unit) for p in ps)
        sig = fps(d.inputs) + (f"; {fps(d.params)}" if d.params else "")
        return f"{d.kind} {d.name}({sig}){print_unit(d.unit)} = {print_expr(d.body)}"
    if isinstance(d, ast.Equation):
        target = d.name + (f"[{', '.join(d.indices)}]" if d.indices else "")
        sign = "~" if isinstance(d.value, ast.Draw) else "="
        return f"{'next ' if d.is_next else ''}{target} {sign} {print_expr(d.value)}"
    if isinstance(d, ast.External):
        return f"external {d.name} = {print_expr(d.value)}"
    if isinstance(d, ast.TrainFrom):
        return f"train {d.agent} from {print_expr(d.start)}"
    if isinstance(d, ast.Anneal):
        return f"anneal {d.name} = {print_expr(d.value)}"
    if isinstance(d, ast.Allow):
        return f"allow {d.agent} if {print_expr(d.cond)}"
    if isinstance(d, ast.Entropy):
        return f"entropy{' ' + d.agent if d.agent else ''} = {print_expr(d.value)}"
    if isinstance(d, ast.Setting):
        return f"{d.name}{f'[{d.agent}]' if d.agent else ''} = {print_expr(d.value)}"
    if isinstance(d, ast.SetValue):
        return f"set {d.name} = {print_expr(d.value)}"
    if isinstance(d, ast.Replace):
        return f"replace {print_decl(d.item)}"
    if isinstance(d, ast.Remove):
        return f"remove {d.name}"
    raise TypeError(f"no source form for {type(d).__name__}")


def block_header(it: ast.Node) -> str | None:
    """The opening line of a block (``agent Consumer[100] index j``, ``step``, ``preset quick``...), None for a
    one-line item."""
    if isinstance(it, ast.Agent):
        head = f"agent {it.name}"
        if it.size is not None:
            head += f"[{print_expr(it.size)}]"
            if it.index is not None:
                head += f" index {', '.join((it.index, *it.more_indices))}"
        return head
    if isinstance(it, ast.Preset):
        return f"preset {it.name}"
    if isinstance(it, ast.Step) and it.place is not None:
        return f"step {it.place[0]} {it.place[1]}"
    return _BLOCK_WORDS.get(type(it))


_BLOCK_WORDS: dict[type, str] = {ast.Step: "step", ast.Accounting: "accounting", ast.Curriculum: "curriculum",
                                 ast.Train: "train"}


def block_body(it: ast.Node) -> tuple[ast.Node, ...]:
    """A block's items, in source order (a ``train`` block keeps its settings and presets apart in the AST)."""
    if isinstance(it, ast.Agent):
        return it.decls
    if isinstance(it, ast.Step):
        return tuple(sorted(it.equations + it.stages, key=lambda n: (n.span.line, n.span.col)))
    if isinstance(it, ast.Accounting):
        return it.externals
    if isinstance(it, ast.Curriculum):
        return it.items
    if isinstance(it, ast.Preset):
        return it.settings
    if isinstance(it, ast.Train):
        return tuple(sorted(it.settings + it.presets, key=lambda n: (n.span.line, n.span.col)))
    raise TypeError(f"not a block: {type(it).__name__}")


def _item(it: ast.Node, level: int) -> list[str]:
    head = block_header(it)
    if head is None:
        return [INDENT * level + print_decl(it)]
    lines = [INDENT * level + head]
    for x in block_body(it):
        lines.extend(_item(x, level + 1))
    return lines + [INDENT * level + "end"]


def print_model(m: ast.Model) -> str:
    """The whole model as canonical source text."""
    out = [f'import "{imp.path}"' for imp in m.imports]
    if out:
        out.append("")
    out.append(f"model {m.name}" + (f" extends {m.extends}" if m.extends else ""))
    for it in m.items:
        if block_header(it) is not None:
            out.append("")
        out.extend(_item(it, 0))
    out.append("end")
    return "\n".join(out) + "\n"
