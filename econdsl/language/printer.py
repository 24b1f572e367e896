"""AST → canonical ``.econ`` source: ``parse(print_model(m)) == m`` (spans and comments aside).

Expressions get only the parentheses that the grammar's precedence needs (econ.lark, loosest first):
``?:``, ``||``, ``&&``, ``!``, comparisons (not chained), ``+ -``, ``* /``, unary ``-``/``+``, ``^``
(right-associative, its base a postfix expression, its exponent a factor that may carry a sign).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Break:
    """A place where ``econdsl fmt`` may end a line that is too long: after an operator or a comma, or before
    the ``for``/``if`` of a reduction. ``level`` is how deeply it is nested (0: the statement's own operators
    or list): the formatter prefers shallow breaks."""

    level: int


# A statement laid out for the formatter: text and the places where it may be broken.
Doc = list["str | Break"]


def flat(doc: Doc) -> str:
    """A doc on one line."""
    return "".join(x for x in doc if isinstance(x, str))


def _joined(parts: list[Doc], sep: str, level: int) -> Doc:
    out: Doc = []
    for k, part in enumerate(parts):
        if k:
            out += [sep, Break(level)]
        out += part
    return out


class _Printer:
    """Builds docs. ``keep`` holds the ``id`` of every expression to print in parentheses even where precedence
    does not need them (the formatter keeps the ones the author wrote)."""

    def __init__(self, keep: Collection[int] = ()):
        self.keep = keep

    def _parens(self, e: ast.Expr, need: int) -> bool:
        return _prec(e) < need or id(e) in self.keep

    def wrap(self, e: ast.Expr, need: int, level: int) -> Doc:
        d = self.expr(e, level)
        return ["(", *d, ")"] if self._parens(e, need) else d

    def exprs(self, es: Iterable[ast.Expr], level: int) -> Doc:
        """Comma-separated expressions, breakable after each comma."""
        return _joined([self.expr(x, level + 1) for x in es], ", ", level)

    def expr(self, e: ast.Expr, level: int = 0) -> Doc:
        if isinstance(e, ast.Num):
            return [number(e.value, e.text)]
        if isinstance(e, ast.Str):
            return [f'"{e.value}"']
        if isinstance(e, ast.Inf):
            return ["Inf"]
        if isinstance(e, ast.Name):
            return [e.id]
        if isinstance(e, ast.Index):
            return [f"{e.base}[", *self.exprs(e.indices, level), "]"]
        if isinstance(e, ast.Call):
            args = self.exprs(e.args, level)
            if e.params:
                args += ["; ", Break(level), *self.exprs(e.params, level)]
            return [f"{e.func}(", *args, ")"]
        if isinstance(e, ast.Reduce):
            out = [f"{e.op}(", *self.expr(e.body, level + 1), Break(level), f" for {e.var} in {e.over}"]
            if e.cond is not None:
                out += [Break(level), " if ", *self.expr(e.cond, level + 1)]
            return out + [")"]
        if isinstance(e, ast.BinOp):
            p = _prec(e)
            if e.op == "^":
                return [*self.wrap(e.left, _POSTFIX, level + 1), "^", Break(level + 1),
                        *self.wrap(e.right, _PREC["unary"], level + 1)]
            if e.op in _CMP:
                return [*self.wrap(e.left, p + 1, level + 1), f" {e.op} ", Break(level),
                        *self.wrap(e.right, p + 1, level + 1)]
            # a chain of one precedence (`a + b - c`) breaks at one level
            chain = isinstance(e.left, ast.BinOp) and _prec(e.left) == p and not self._parens(e.left, p)
            return [*self.wrap(e.left, p, level if chain else level + 1), f" {e.op} ", Break(level),
                    *self.wrap(e.right, p + 1, level + 1)]
        if isinstance(e, ast.UnOp):
            if e.op == "!":
                return ["!", *self.wrap(e.operand, _PREC["!"], level + 1)]
            inner = self.wrap(e.operand, _PREC["unary"], level + 1)
            # `- -x` would lex the same, but `-(-x)` reads better
            if isinstance(e.operand, ast.UnOp) and e.operand.op != "!" and inner[0] != "(":
                inner = ["(", *inner, ")"]
            return [e.op, *inner]
        if isinstance(e, ast.Ternary):
            return [*self.wrap(e.cond, _PREC["||"], level + 1), " ? ", Break(level),
                    *self.wrap(e.then, 0, level + 1), " : ", Break(level), *self.wrap(e.other, 0, level + 1)]
        if isinstance(e, ast.Array):
            return ["[", *self.exprs(e.items, level), "]"]
        if isinstance(e, ast.Draw):
            return [f"{e.dist}(", *self.exprs(e.args, level), ")"]
        if isinstance(e, ast.Colon):
            return [":"]
        if isinstance(e, ast.Matrix):
            def entry(x: ast.Expr) -> str:
                return print_expr(x) if isinstance(x, ast.Num | ast.Name) else f"({print_expr(x)})"
            rows = [_joined([[entry(x)] for x in row], " ", level + 1) for row in e.rows]
            return ["[", *_joined(rows, "; ", level), "]"]
        raise TypeError(f"not an expression: {type(e).__name__}")

    def bounds(self, b: ast.Bounds | None) -> Doc:
        return [" in [", *self.exprs((b.lo, b.hi), 1), "]"] if b is not None else []

    def grid(self, g: ast.Node, several: bool) -> Doc:
        if isinstance(g, ast.GridSet):
            return ["{", *self.exprs(g.values, 1), "}"]
        if isinstance(g, ast.GridRange):
            mid = f":{flat(self.wrap(g.step, _PREC['+'], 2))}" if g.step is not None else ""
            s = f"{flat(self.wrap(g.start, _PREC['+'], 2))}{mid}:{flat(self.wrap(g.stop, _PREC['+'], 2))}"
            return [f"({s})" if several else s]
        if isinstance(g, ast.GridPopulation):
            return [g.population]
        if isinstance(g, ast.GridInterval):
            return ["[", *self.exprs((g.lo, g.hi), 1), "]"]
        raise TypeError(f"not a grid: {type(g).__name__}")

    def decl(self, d: ast.Node) -> Doc:
        if isinstance(d, ast.Horizon):
            return ["horizon ", *self.expr(d.value)]
        if isinstance(d, ast.Stage):
            return [f"stage {d.name}:" + (" " + ", ".join(d.agents) if d.agents else "")]
        if isinstance(d, ast.Const):
            return [f"const {d.name}{print_unit(d.unit)} = ", *self.expr(d.value)]
        if isinstance(d, ast.Param):
            head = [f"param {d.name}{print_unit(d.unit)}", *self.bounds(d.bounds)]
            if d.dist is not None:
                return [*head, f" ~ {d.dist.func}(", *self.exprs(d.dist.args, 1), ")"]
            return [*head, " = ", *self.expr(d.value)] if d.value is not None else head
        if isinstance(d, ast.State):
            dom = [" in ", *self.grid(d.domain, False)] if d.domain is not None else []
            return [f"state {d.name}{print_unit(d.unit)} = ", *self.expr(d.init),
                    *self.bounds(d.bounds), *dom]
        if isinstance(d, ast.Action):
            if len(d.names) == 1:
                target: Doc = [d.names[0] + (f"[{d.per}]" if d.per else "")]
            else:
                target = ["(", *_joined([[n + (print_unit(d.units[k]) if k < len(d.units) else "")]
                                         for k, n in enumerate(d.names)], ", ", 1), ")"]
            several = len(d.grids) > 1
            return ["action ", *target, f"{print_unit(d.unit)} in ",
                    *_joined([self.grid(g, several) for g in d.grids], " × ", 0)]
        if isinstance(d, ast.Observe):
            return ["observe ", *self.exprs(d.items, 0)]
        if isinstance(d, ast.Reward):
            return ["reward ", *self.expr(d.value)]
        if isinstance(d, ast.Function):
            def fps(ps: tuple[ast.FParam, ...]) -> Doc:
                return _joined([[p.name + print_unit(p.unit)] for p in ps], ", ", 1)
            sig = fps(d.inputs) + (["; ", Break(1), *fps(d.params)] if d.params else [])
            return [f"{d.kind} {d.name}(", *sig, f"){print_unit(d.unit)} = ", *self.expr(d.body)]
        if isinstance(d, ast.Equation):
            target_text = d.name + (f"[{', '.join(d.indices)}]" if d.indices else "")
            sign = "~" if isinstance(d.value, ast.Draw) else "="
            return [f"{'next ' if d.is_next else ''}{target_text} {sign} ", *self.expr(d.value)]
        if isinstance(d, ast.External):
            return [f"external {d.name} = ", *self.expr(d.value)]
        if isinstance(d, ast.TrainFrom):
            return [f"train {d.agent} from ", *self.expr(d.start)]
        if isinstance(d, ast.Anneal):
            return [f"anneal {d.name} = ", *self.expr(d.value)]
        if isinstance(d, ast.Allow):
            return [f"allow {d.agent} if ", *self.expr(d.cond)]
        if isinstance(d, ast.Entropy):
            return [f"entropy{' ' + d.agent if d.agent else ''} = ", *self.expr(d.value)]
        if isinstance(d, ast.Setting):
            return [f"{d.name}{f'[{d.agent}]' if d.agent else ''} = ", *self.expr(d.value)]
        if isinstance(d, ast.SetValue):
            return [f"set {d.name} = ", *self.expr(d.value)]
        if isinstance(d, ast.Replace):
            return ["replace ", *self.decl(d.item)]
        if isinstance(d, ast.Remove):
            return [f"remove {d.name}"]
        raise TypeError(f"no source form for {type(d).__name__}")


def print_expr(e: ast.Expr) -> str:
    """The canonical source text of an expression."""
    return flat(expr_doc(e))


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


def expr_doc(e: ast.Expr, keep: Collection[int] = ()) -> Doc:
    """An expression as a doc, keeping parentheses around the expressions in ``keep``."""
    return _Printer(keep).expr(e)


def decl_doc(d: ast.Node, keep: Collection[int] = ()) -> Doc:
    """One declaration (or equation) as a doc, keeping parentheses around the expressions in ``keep``."""
    return _Printer(keep).decl(d)


def print_decl(d: ast.Node) -> str:
    """One declaration (or equation) on one line, without indentation."""
    return flat(decl_doc(d))


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
