"""Stage 1, parse: ``.econ`` text → AST (``econdsl.language.ast``), or diagnostics for syntax errors."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import replace
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .diagnostics import NESTING_HINT, Diagnostics

_CANON = {
    "∧": "&&", "and": "&&", "∨": "||", "or": "||", "¬": "!", "not": "!",
    "≤": "<=", "≥": ">=", "≠": "!=", "∈": "in",
}
REDUCTIONS = ("sum", "mean", "prod", "min", "max")

# Friendly names for the terminals in "expected ..." hints.
_TOKEN_NAMES = {
    "_NL": "end of line", "NAME": "a name", "NUMBER": "a number", "STRING": "a string",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "COMMA": "`,`", "EQUAL": "`=`", "COLON": "`:`", "SEMICOLON": "`;`", "PLUS": "`+`", "MINUS": "`-`",
    "STAR": "`*`", "SLASH": "`/`", "CIRCUMFLEX": "`^`", "TILDE": "`~`", "QMARK": "`?`",
    "$END": "end of file", "BANG": "`!`", "LESSTHAN": "`<`", "MORETHAN": "`>`",
}


class _BracketNewlines:
    """Post-lexer: newlines inside (), [] and {} continue the line, as in Julia and Python."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB", "LBRACE"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB", "RBRACE"):
                depth = max(depth - 1, 0)
            elif tok.type == "_NL" and depth > 0:
                continue
            yield tok


@functools.cache
def _parser() -> Lark:
    grammar = resources.files("econdsl.language").joinpath("econ.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, postlex=_BracketNewlines(),
                maybe_placeholders=False, cache=True)


def tokens(text: str) -> list[Token]:
    """Every token of a source as the parser's own lexer sees it, comments included (the parser ignores them).
    Raises lark's ``UnexpectedCharacters`` at a character no token starts with."""
    return list(_parser().lex(text, dont_ignore=True))


def comments(text: str) -> list[Token]:
    """Every ``# ...`` comment of a source."""
    return [tok for tok in tokens(text) if tok.type == "COMMENT"]


class LiteralError(ValueError):
    """A literal that is well formed for the grammar but not a usable value."""

    def __init__(self, message: str, span: ast.Span):
        super().__init__(message)
        self.span = span


class _ToAST(Transformer):
    """Lark tree → AST. Spans come from lark's propagated ``meta``."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta) -> ast.Span:
        if getattr(meta, "empty", True):
            return ast.NOWHERE
        return ast.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> ast.Span:
        return ast.Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # ------------------------------------------------------------ operators (kept-token rules)
    def _op(self, children) -> str:
        text = str(children[0])
        return _CANON.get(text, text)

    in_kw = or_op = and_op = not_op = cmp_op = add_op = mul_op = pow_op = func_kind = _op

    def inf(self, children):
        return "inf"

    # ------------------------------------------------------------ expressions
    @v_args(meta=True)
    def number(self, meta, c):
        v = float(c[0])
        if not math.isfinite(v):
            raise LiteralError(f"`{c[0]}` is too large to be a number", self._span(meta))
        return ast.Num(v, str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def string(self, meta, c):
        return ast.Str(str(c[0])[1:-1], span=self._span(meta))

    @v_args(meta=True)
    def infinity(self, meta, c):
        return ast.Inf(span=self._span(meta))

    @v_args(meta=True)
    def name(self, meta, c):
        return ast.Name(str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def index(self, meta, c):
        return ast.Index(str(c[0]), tuple(c[1:]), span=self._span(meta), base_span=self._tspan(c[0]))

    @v_args(meta=True)
    def call(self, meta, c):
        args = c[1].children if len(c) > 1 else []
        params = c[2].children if len(c) > 2 else []
        return ast.Call(str(c[0]), tuple(args), tuple(params), span=self._span(meta))

    def args(self, c):
        return Tree("args", c)

    @v_args(meta=True)
    def reduction(self, meta, c):
        name, body, gen = c
        var, _in, over, *cond = gen.children
        return ast.Reduce(str(name), body, str(var), str(over), cond[0] if cond else None,
                          span=self._span(meta), over_span=self._tspan(over))

    def generator(self, c):
        return Tree("generator", c)

    @v_args(meta=True)
    def binop(self, meta, c):
        left, op, right = c
        return ast.BinOp(op, left, right, span=self._span(meta))

    @v_args(meta=True)
    def unop(self, meta, c):
        op, operand = c  # unary minus stays explicit (never folded into the number): the printer round-trips it
        return ast.UnOp(op, operand, span=self._span(meta))

    @v_args(meta=True)
    def ternary(self, meta, c):
        return ast.Ternary(c[0], c[1], c[2], span=self._span(meta))

    @v_args(meta=True)
    def array(self, meta, c):
        return ast.Array(tuple(c), span=self._span(meta))

    @v_args(meta=True)
    def colon(self, meta, c):
        return ast.Colon(span=self._span(meta))

    @v_args(meta=True)
    def matrix(self, meta, c):
        return ast.Matrix(tuple(c), span=self._span(meta))

    def mrow(self, c):
        return tuple(c)

    # ------------------------------------------------------------ units
    @v_args(meta=True)
    def unit(self, meta, c):
        factors: dict[str, int] = {}
        sign = 1
        for item in c:
            if isinstance(item, str) and item in ("*", "/"):
                sign = -1 if item == "/" else 1
                continue
            name, power = item
            if name != "1":
                factors[name] = factors.get(name, 0) + sign * power
        return ast.Unit(tuple(sorted((k, v) for k, v in factors.items() if v != 0)), span=self._span(meta))

    def unit_factor(self, c):
        return (str(c[0]), int(c[1]) if len(c) > 1 else 1)

    def unit_one(self, c):
        return ("1", 1)

    # ------------------------------------------------------------ declarations
    @staticmethod
    def _opt(c, kind):
        for x in c:
            if isinstance(x, kind):
                return x
        return None

    @v_args(meta=True)
    def horizon_decl(self, meta, c):
        return ast.Horizon(c[0], span=self._span(meta))

    @v_args(meta=True)
    def const_decl(self, meta, c):
        return ast.Const(str(c[0]), self._opt(c, ast.Unit), c[-1], span=self._span(meta))

    @v_args(meta=True)
    def param_decl(self, meta, c):
        value = c[-1]
        kw = {"value": value} if not (isinstance(value, tuple) and value[0] == "dist") else {"dist": value[1]}
        return ast.Param(str(c[0]), self._opt(c, ast.Unit), self._opt(c, ast.Bounds), **kw,
                         span=self._span(meta))

    def param_expr(self, c):
        return c[0]

    @v_args(meta=True)
    def param_dist(self, meta, c):
        return ("dist", ast.Call(str(c[0]), tuple(c[1].children), (), span=self._span(meta)))

    @v_args(meta=True)
    def state_decl(self, meta, c):
        exprs = [x for x in c[1:] if isinstance(x, ast.Expr)]
        domain = self._opt(c, ast.GridRange) or self._opt(c, ast.GridPopulation)
        return ast.State(str(c[0]), self._opt(c, ast.Unit), exprs[0], self._opt(c, ast.Bounds), domain,
                         span=self._span(meta))

    @v_args(meta=True)
    def state_range(self, meta, c):
        return ast.GridRange(c[1], None, c[2], span=self._span(meta))

    @v_args(meta=True)
    def state_population(self, meta, c):
        return ast.GridPopulation(str(c[1]), span=self._span(meta))

    @v_args(meta=True)
    def bounds(self, meta, c):
        return ast.Bounds(c[1], c[2], span=self._span(meta))

    @v_args(meta=True)
    def action_decl(self, meta, c):
        names, per, units = c[0]
        unit = c[1] if isinstance(c[1], ast.Unit) else None
        return ast.Action(names, per, c[-1], unit=unit, units=units, span=self._span(meta))

    def action_single(self, c):
        return ((str(c[0]),), str(c[1]) if len(c) > 1 else None, ())

    def action_joint(self, c):
        units = tuple(u for _, u in c)
        return (tuple(n for n, _ in c), None, units if any(u is not None for u in units) else ())

    def joint_name(self, c):
        return (str(c[0]), c[1] if len(c) > 1 else None)

    def domain(self, c):
        return tuple(c)

    @v_args(meta=True)
    def grid_set(self, meta, c):
        return ast.GridSet(tuple(c), span=self._span(meta))

    @v_args(meta=True)
    def grid_range(self, meta, c):
        if len(c) == 2:
            return ast.GridRange(c[0], None, c[1], span=self._span(meta))
        return ast.GridRange(c[0], c[1], c[2], span=self._span(meta))

    @v_args(meta=True)
    def grid_bare(self, meta, c):
        e = c[0]
        if isinstance(e, ast.Name):
            return ast.GridPopulation(e.id, span=self._span(meta))
        if isinstance(e, ast.Array) and len(e.items) == 2:
            return ast.GridInterval(e.items[0], e.items[1], span=self._span(meta))
        # A single value: a grid of one point.
        return ast.GridSet((e,), span=self._span(meta))

    @v_args(meta=True)
    def observe_decl(self, meta, c):
        return ast.Observe(tuple(c), span=self._span(meta))

    @v_args(meta=True)
    def reward_decl(self, meta, c):
        return ast.Reward(c[0], span=self._span(meta))

    @v_args(meta=True)
    def func_decl(self, meta, c):
        kind, name, *rest = c
        body = rest[-1]
        unit = self._opt(rest[:-1], ast.Unit)
        groups = [x for x in rest[:-1] if isinstance(x, Tree) and x.data == "fparams"]
        inputs = tuple(groups[0].children) if groups else ()
        params = tuple(groups[1].children) if len(groups) > 1 else ()
        return ast.Function(kind, str(name), inputs, params, unit, body, span=self._span(meta))

    def fparams(self, c):
        return Tree("fparams", c)

    @v_args(meta=True)
    def fparam(self, meta, c):
        return ast.FParam(str(c[0]), c[1] if len(c) > 1 else None, span=self._span(meta))

    # ------------------------------------------------------------ blocks
    @v_args(meta=True)
    def agent(self, meta, c):
        name = c[0]
        size, index, more = None, None, ()
        decls = []
        for x in c[1:]:
            if isinstance(x, Tree) and x.data == "agent_size":
                size = x.children[0]
                index = str(x.children[1]) if len(x.children) > 1 else None
                more = tuple(str(n) for n in x.children[2:])
            else:
                decls.append(x)
        return ast.Agent(str(name), size, index, tuple(decls), span=self._span(meta),
                         name_span=self._tspan(name), more_indices=more)

    def agent_size(self, c):
        return Tree("agent_size", c)

    @v_args(meta=True)
    def step(self, meta, c):
        place = c[0] if c and isinstance(c[0], tuple) else None
        stages = tuple(x for x in c if isinstance(x, ast.Stage))
        eqs, current = [], stages[0].name if stages else ""
        for x in c:
            if isinstance(x, ast.Stage):
                current = x.name
            elif isinstance(x, ast.Equation):
                eqs.append(replace(x, stage=current))
        return ast.Step(tuple(eqs), span=self._span(meta), place=place, stages=stages)

    def step_place(self, c):
        words = [str(x) for x in c]
        return (words[0], " ".join(words[1:]))

    @v_args(meta=True)
    def stage_decl(self, meta, c):
        return ast.Stage(str(c[0]), tuple(str(x) for x in c[1:] if x is not None), span=self._span(meta))

    def _equation(self, meta, c, is_next):
        target, value = c
        name, idx = target
        return ast.Equation(str(name), tuple(str(i) for i in idx), value, is_next, span=self._span(meta),
                            target_span=self._tspan(name))

    @v_args(meta=True)
    def equation(self, meta, c):
        return self._equation(meta, c, False)

    @v_args(meta=True)
    def transition(self, meta, c):
        return self._equation(meta, c, True)

    def _draw(self, meta, c, is_next):
        target, dist = c[0], c[1]
        args = tuple(c[2].children) if len(c) > 2 else ()
        span = self._span(meta)
        value = ast.Draw(str(dist), args, span=ast.Span(span.file, dist.line, dist.column, span.end_line,
                                                        span.end_col))
        return self._equation(meta, [target, value], is_next)

    @v_args(meta=True)
    def draw(self, meta, c):
        return self._draw(meta, c, False)

    @v_args(meta=True)
    def draw_transition(self, meta, c):
        return self._draw(meta, c, True)

    def target(self, c):
        return (c[0], c[1:])

    @v_args(meta=True)
    def accounting(self, meta, c):
        return ast.Accounting(tuple(c), span=self._span(meta))

    @v_args(meta=True)
    def external(self, meta, c):
        return ast.External(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def curriculum(self, meta, c):
        return ast.Curriculum(tuple(c), span=self._span(meta))

    @v_args(meta=True)
    def cur_train(self, meta, c):
        return ast.TrainFrom(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def cur_anneal(self, meta, c):
        return ast.Anneal(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def cur_allow(self, meta, c):
        return ast.Allow(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def cur_entropy(self, meta, c):
        if len(c) == 2:
            return ast.Entropy(str(c[0]), c[1], span=self._span(meta))
        return ast.Entropy(None, c[0], span=self._span(meta))

    @v_args(meta=True)
    def train(self, meta, c):
        settings = tuple(x for x in c if isinstance(x, ast.Setting))
        presets = tuple(x for x in c if isinstance(x, ast.Preset))
        return ast.Train(settings, presets, span=self._span(meta))

    def setting_name(self, c):
        return c[0]

    @v_args(meta=True)
    def setting(self, meta, c):
        if len(c) == 3:
            return ast.Setting(str(c[0]), str(c[1]), c[2], span=self._span(meta))
        return ast.Setting(str(c[0]), None, c[1], span=self._span(meta))

    @v_args(meta=True)
    def preset(self, meta, c):
        return ast.Preset(str(c[0]), tuple(c[1:]), span=self._span(meta))

    @v_args(meta=True)
    def set_stmt(self, meta, c):
        return ast.SetValue(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def replace_stmt(self, meta, c):
        return ast.Replace(c[0], span=self._span(meta))

    @v_args(meta=True)
    def remove_stmt(self, meta, c):
        return ast.Remove(str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def import_stmt(self, meta, c):
        return ast.Import(str(c[0])[1:-1], span=self._span(meta))

    def extends(self, c):
        return ("extends", str(c[0]))

    @v_args(meta=True)
    def model(self, meta, c):
        name = str(c[0])
        extends = None
        items = []
        for x in c[1:]:
            if isinstance(x, tuple) and x and x[0] == "extends":
                extends = x[1]
            else:
                items.append(x)
        return ast.Model(name, extends, (), tuple(items), span=self._span(meta))

    def start(self, c):
        imports = tuple(x for x in c if isinstance(x, ast.Import))
        model = c[-1]
        return ast.Model(model.name, model.extends, imports, model.items, span=model.span)


_STATEMENT_WORDS = {
    "end", "agent", "state", "param", "const", "action", "observe", "reward", "next", "step", "accounting",
    "curriculum", "train", "model", "function", "utility", "production", "horizon", "external", "anneal",
    "allow", "entropy", "preset", "set", "replace", "remove", "import",
}
_OPEN, _CLOSE = "([{", ")]}"


def _terminal_text(name: str) -> str:
    if name in _TOKEN_NAMES:
        return _TOKEN_NAMES[name]
    for t in _parser().terminals:
        if t.name == name and t.pattern.type == "str":
            return f"`{t.pattern.value}`"
    return f"`{name.lower()}`"


def _describe_expected(expected) -> str:
    names = sorted({_terminal_text(t) for t in expected if not t.startswith("__") or t.startswith("__ANON")})
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _first_word(line: str) -> str:
    m = re.match(r"\s*([^\W\d]\w*)", line)
    return m.group(1) if m else ""


def _bracket_errors(text: str, file: str, diags: Diagnostics) -> int | None:
    """Report unclosed and mismatched brackets; return the first line affected (parse errors after it are
    consequences and are not reported)."""
    stack: list[tuple[str, int, int]] = []
    lines = text.split("\n")
    first: int | None = None

    def report(line: int, col: int, msg: str, hint: str) -> None:
        nonlocal first
        diags.add("E106", msg, ast.Span(file, line, col, line, col + 1), hint)
        first = line if first is None else min(first, line)

    for ln, line in enumerate(lines, start=1):
        in_str = False
        for col, ch in enumerate(line, start=1):
            if ch == '"':
                in_str = not in_str
            if in_str:
                continue
            if ch == "#":
                break
            if ch in _OPEN:
                stack.append((ch, ln, col))
            elif ch in _CLOSE:
                want = _OPEN[_CLOSE.index(ch)]
                if not stack:
                    report(ln, col, f"`{ch}` closes nothing", "remove it, or add the opening bracket")
                elif stack[-1][0] != want:
                    o, ol, oc = stack[-1]
                    report(ln, col, f"`{ch}` does not match the `{o}` opened at line {ol}, column {oc}",
                           f"close it with `{_CLOSE[_OPEN.index(o)]}` first")
                    stack.pop()
                else:
                    stack.pop()
        if stack and ln < len(lines) and _first_word(lines[ln]) in _STATEMENT_WORDS:
            for o, ol, oc in stack[:1]:
                report(ol, oc, f"`{o}` is never closed", f"add `{_CLOSE[_OPEN.index(o)]}` before the end of the line")
            stack.clear()
        if first is not None:
            return first
    for o, ol, oc in stack[:1]:
        report(ol, oc, f"`{o}` is never closed", f"add `{_CLOSE[_OPEN.index(o)]}`")
    return first


_BLOCK_RE = re.compile(r"\s*(model|agent|step|accounting|curriculum|train|preset)\b(.*)")


def _open_blocks(text: str, upto: int) -> list[tuple[str, int]]:
    """The blocks (header text, line) still open before line ``upto``, outermost first."""
    stack: list[tuple[str, int]] = []
    for ln, line in enumerate(text.split("\n")[: upto - 1], start=1):
        code = line.split("#", 1)[0].rstrip()
        m = _BLOCK_RE.match(code)
        if m:
            word, rest = m.group(1), m.group(2).strip()
            if word == "train" and rest:  # `train T from e` inside a curriculum is not a block
                continue
            header = f"{word} {rest.split()[0]}" if rest and word in ("model", "agent", "preset") else word
            stack.append((header.split("[")[0], ln))
        elif _first_word(code) == "end" and stack:
            stack.pop()
    return stack


def _header_span(file: str, lines: list[str], ln: int) -> ast.Span:
    """The header of a block (``agent Buyer[3] index j``), without its comment."""
    code = lines[ln - 1].split("#", 1)[0].rstrip() if ln <= len(lines) else ""
    start = len(code) - len(code.lstrip()) + 1
    return ast.Span(file, ln, start, ln, max(len(code) + 1, start + 1))


_DOTS_RE = re.compile(r"(-?[\w.]*?\w)\.\.(-?\w[\w.]*)")


def _dotted_range(line: str, col: int) -> tuple[tuple[str, str], tuple[int, int]] | None:
    """``0..1`` around column ``col`` (where the parser stopped): its bounds and columns."""
    for m in _DOTS_RE.finditer(line.split("#", 1)[0]):
        if m.start() < col <= m.end() + 1:
            return (m.group(1), m.group(2)), (m.start() + 1, m.end() + 1)
    return None


def _range_hint(lo: str, hi: str) -> str:
    try:
        a, b = float(lo), float(hi)
    except ValueError:
        return f"write `{lo}:{hi}` ({lo} to {hi} in steps of 1) or `{lo}:step:{hi}` with another step"
    step = f"{(b - a) / 10:g}"
    return (f"write `{lo}:{hi}` ({lo} to {hi} in steps of 1), `{lo}:{step}:{hi}` (in steps of {step}), or "
            f"`[{lo}, {hi}]` (every real number in between: a continuous action)")


def _syntax_diagnostic(e: UnexpectedInput, file: str, text: str, diags: Diagnostics) -> bool:
    """Add one diagnostic; return True when later errors are likely consequences of this one."""
    line, col = max(e.line, 1), max(e.column, 1)
    src_lines = text.split("\n")
    dots = _dotted_range(src_lines[line - 1] if line <= len(src_lines) else "", col)
    if dots is not None:
        (lo, hi), (c0, c1) = dots
        diags.add("E120", f"`{lo}..{hi}` is not a range in econdsl: ranges are written with `:`",
                  ast.Span(file, line, c0, line, c1), _range_hint(lo, hi))
        return False
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        span = ast.Span(file, line, col, line, col + 1)
        diags.add("E101", f"unexpected character `{ch}`", span,
                  "operators are + - * / ^, comparisons == != < <= > >=, logic && || !")
        return False
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        n = len(text.rstrip("\n").split("\n"))
        last = src_lines[n - 1] if n <= len(src_lines) else ""
        span = ast.Span(file, n, len(last) + 1, n, len(last) + 2)
        blocks = _open_blocks(text, n + 1)
        if blocks:
            header, ln = blocks[-1]
            diags.add("E103", f"`{header}` is not closed: the file ends (line {n}) before its `end`",
                      _header_span(file, src_lines, ln), "add `end` to close it")
        elif not re.search(r"^\s*model\b", text, re.M):
            diags.add("E103", "the file has no model", span, "a model is written `model name` ... `end`")
        else:
            diags.add("E103", "unexpected end of file", span, "is an `end` missing?")
        return True
    tok = e.token
    shown = "end of line" if tok.type == "_NL" else f"`{tok}`"
    end_col = col + (len(str(tok)) if tok.type != "_NL" else 1)
    span = ast.Span(file, line, col, line, end_col)
    expected = set(getattr(e, "expected", ()) or ())
    before = src_lines[line - 1][: col - 1] if line <= len(src_lines) else ""
    if tok.type == "EQUAL" and before.endswith("="):
        diags.add("E107", "`==` compares; a definition takes a single `=`",
                  ast.Span(file, line, col - 1, line, col + 1), "write `name = value`")
        return False
    if tok.type == "EQUAL" and expected & {"RPAR", "COMMA", "RSQB", "_NL", "QMARK"}:
        diags.add("E107", "`=` defines a name; inside an expression compare with `==`", span,
                  "write `a == b` to test equality")
        return False
    if "END" in expected and str(tok) in _STATEMENT_WORDS and before.strip() == "":
        blocks = _open_blocks(text, line)
        if blocks:
            header, ln = blocks[-1]
            diags.add("E103", f"`{header}` is not closed: `{tok}` (line {line}) begins before its `end`",
                      _header_span(file, src_lines, ln), f"add `end` before line {line} to close `{header}`")
            return True
    diags.add("E102", f"unexpected {shown}", span, f"expected {_describe_expected(expected)}")
    return False


MAX_NESTING = 150
"""The deepest syntax tree a model may have, in levels (each bracketed operand, operator or function call
adds one or two). The deepest model in models/ and tests/ has 21. Every stage after the parser (building the
AST, the checks, printing, code generation) recurses on the nesting, about three Python frames a level, so a
fixed cap gives the same E108 on every machine and at every recursion limit, instead of a RecursionError
wherever the stack runs out; 150 levels leave room for a caller 400 frames deep at Python's default limit."""


def _too_deep(tree: Tree, file: str, diags: Diagnostics) -> bool:
    """E108 at the first node (in source order) below :data:`MAX_NESTING` levels of each statement that nests
    deeper; measured without recursion, before anything recurses on the tree."""
    found = False
    lines: set[int] = set()
    stack: list[tuple[Tree | Token, int]] = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        if level > MAX_NESTING:
            first = node if isinstance(node, Token) else next(
                (t for t in node.scan_values(lambda v: isinstance(v, Token))), None)
            if first is not None and first.line not in lines:
                lines.add(first.line)
                end = first.end_column if first.end_line == first.line else first.column + 1
                diags.add("E108", f"this expression is nested more than {MAX_NESTING} levels deep",
                          ast.Span(file, first.line, first.column, first.line, end), NESTING_HINT)
                found = True
            continue
        if isinstance(node, Tree):
            stack.extend((c, level + 1) for c in reversed(node.children))
    return found


def parse(text: str, file: str = "<input>", diags: Diagnostics | None = None) -> ast.Model | None:
    """Parse one ``.econ`` source. Returns the AST, or None after adding syntax diagnostics to ``diags``.

    Syntax errors are recovered from at the next line where possible, so that one run reports several.
    """
    diags = diags if diags is not None else Diagnostics()
    diags.sources[file] = text
    if not text.endswith("\n"):
        text += "\n"
    errors: list[UnexpectedInput] = []

    def on_error(e: UnexpectedInput) -> bool:
        # Keep the first error of each line; lark then drops the offending token and resumes.
        if not errors or errors[-1].line != e.line:
            errors.append(e)
        return len(errors) < 20 and not (isinstance(e, UnexpectedToken) and e.token.type == "$END")

    try:
        tree = _parser().parse(text, on_error=on_error)
    except UnexpectedInput as e:
        if not errors or errors[-1] is not e:
            errors.append(e)
        tree = None
    cut = _bracket_errors(text, file, diags)
    reported = cut is not None
    previous: frozenset | None = None
    for e in errors:
        if cut is not None and e.line >= cut:
            break  # consequences of an unclosed bracket or block
        expected = frozenset(getattr(e, "expected", ()) or ())
        if reported and expected and expected == previous:
            break  # the parser is stuck in the same state: the rest would repeat the same complaint
        previous = expected
        reported = True
        if _syntax_diagnostic(e, file, text, diags):
            break
    if errors or tree is None or reported or _too_deep(tree, file, diags):
        return None
    try:
        model = _ToAST(file).transform(tree)
    except VisitError as e:  # malformed literal caught while building the AST
        if isinstance(e.orig_exc, RecursionError):
            raise e.orig_exc from None
        span = e.orig_exc.span if isinstance(e.orig_exc, LiteralError) else ast.Span(file, 1, 1, 1, 2)
        diags.add("E105", str(e.orig_exc), span, "write a finite number, e.g. `1e30`")
        return None
    return ast.Model(model.name, model.extends, model.imports, model.items, span=model.span, source=text)
