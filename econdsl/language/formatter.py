"""``econdsl fmt``: the canonical layout of a ``.econ`` file, keeping every comment and blank-line group.

Statements are printed by :mod:`printer` (one per line, canonical spacing, four-space indentation). Comments
come from the parser's lexer and are put back by source line: a comment alone on its line stays above the
statement that follows it (at that statement's indentation; before ``end``, at the block's), a trailing
comment stays at the end of its statement, and comments inside a statement that spans several lines move
above it. A run of blank lines becomes one blank line. Trailing comments of consecutive lines line up in one
column: column 45, where the shipped models put them, or two past the run's longest line when that is longer.
A trailing comment that would run past the line length goes on its own line above its statement instead.

A statement longer than the line length (LINE_LENGTH, the project's 120 columns) is broken after an operator
or a comma (or before the ``for`` of a reduction), its continuation lines indented one level deeper, with a
``\\`` at the end of a line broken outside brackets (inside brackets a newline continues the line by itself).
The breaks are chosen for the fewest lines, then the shallowest nesting. Parentheses the author wrote around
an operand (``(a && b) || c``, ``x^(-e)``) are kept even where precedence does not need them.

The result is verified before anyone sees it: it must parse to the same AST and hold the same comments in the
same order, else :class:`FormatError` is raised and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .diagnostics import Diagnostics
from .parser import comments, parse, tokens
from .printer import INDENT, Break, Doc, block_body, block_header, decl_doc, flat

# Trailing comments of a run start at one of these 0-based columns, as in the shipped models: the first that
# leaves two spaces after every line of the run up to LONG_LINE characters; a longer line keeps its comment
# LONG_GAP spaces after its code instead of pushing the whole run to the right.
COMMENT_COLUMNS = (45, 49, 53, 57)
LONG_LINE = 54
LONG_GAP = 4
LINE_LENGTH = 120
_LAYOUT_TOKENS = ("COMMENT", "WS_INLINE", "_NL")  # and lark's `__IGNORE_n` (a `\` line continuation)


class FormatError(Exception):
    """The formatted text would not mean the same as the source: a bug in the formatter, nothing written."""


@dataclass
class _Comment:
    line: int
    col: int
    text: str
    own_line: bool  # nothing but whitespace before it on its line


@dataclass
class _Line:
    """One output line produced from the AST, with the source lines it stands for."""

    level: int
    code: str
    first: int
    last: int
    inner: int  # indentation of the comments that precede it (the block's inner level before `end`)
    verbatim: bool = False  # copied from the source as is (a construct the printer has no form for)


def format_source(text: str, file: str = "<input>") -> tuple[str | None, Diagnostics]:
    """The formatted source, or None and the syntax diagnostics when the file does not parse."""
    diags = Diagnostics()
    try:
        model = parse(text, file, diags)
        if model is None:
            return None, diags
        src = model.source.split("\n")
        toks = tokens(model.source)
        notes = [_Comment(c.line, c.column, c.value.rstrip(), not src[c.line - 1][: c.column - 1].strip())
                 for c in toks if c.type == "COMMENT"]
        layout = _Layout(src, {c.line: c for c in notes}, _written_parentheses(model, toks))
        layout.model(model)
        out = _weave(layout.lines, notes, src)
        _verify(model, notes, out, file)
    except RecursionError:  # parsing, printing and the round-trip comparison all recurse on the nesting
        diags.nested_too_deeply(file)
        return None, diags
    return out, diags


# ---------------------------------------------------------------- AST → lines with source anchors


def _written_parentheses(model: ast.Model, toks: list) -> set[int]:
    """The ids of the operands (of an operator or ``?:``) that the author wrote in parentheses.

    An expression's span excludes its own parentheses, so an operand is parenthesised exactly when the tokens
    right around its span are a ``(`` and the ``)`` that closes it (only the grammar's ``(expr)`` atom puts a
    matched pair around an operand alone)."""
    sig = [t for t in toks if t.type not in _LAYOUT_TOKENS and not t.type.startswith("__IGNORE")]
    first = {(t.line, t.column): k for k, t in enumerate(sig)}
    last = {(t.end_line, t.end_column): k for k, t in enumerate(sig)}
    closing: dict[int, int] = {}
    opened: list[int] = []
    for k, t in enumerate(sig):
        if t.type == "LPAR":
            opened.append(k)
        elif t.type == "RPAR" and opened:
            closing[opened.pop()] = k
    keep: set[int] = set()
    for node in model.walk():
        if isinstance(node, ast.BinOp | ast.UnOp | ast.Ternary):
            for c in node.children():
                s = first.get((c.span.line, c.span.col))
                e = last.get((c.span.end_line, c.span.end_col))
                if s is not None and e is not None and closing.get(s - 1) == e + 1:
                    keep.add(id(c))
    return keep


def _wrapped(doc: Doc, indent: int) -> list[str]:
    """A statement's lines at column ``indent``: one when it fits in LINE_LENGTH, else broken at the doc's
    breaks (continuation lines carry their extra INDENT) for the fewest lines, then the shallowest breaks."""
    text = flat(doc)
    if indent + len(text) <= LINE_LENGTH or not any(isinstance(x, Break) for x in doc):
        return [text]
    segs, levels, outside = [""], [], []  # levels[k], outside[k]: the break between segs[k] and segs[k + 1]
    depth, quoted = 0, False
    for x in doc:
        if isinstance(x, Break):
            segs.append("")
            levels.append(x.level)
            outside.append(depth == 0)
            continue
        segs[-1] += x
        for ch in x:  # bracket depth, for the `\` a break outside brackets needs
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch in "([{":
                depth += 1
            elif not quoted and ch in ")]}":
                depth -= 1
    n = len(segs)

    def line(i: int, j: int) -> str:
        s = "".join(segs[i:j])
        s = s.lstrip() if i else s
        if j == n:
            return s
        return s.rstrip() + (" \\" if outside[j - 1] else "")

    # best[i]: (cost, end of the first line) of laying out segs[i:] from the start of a line
    best: list[tuple[float, int]] = [(0.0, n)] * (n + 1)
    for i in range(n - 1, -1, -1):
        width = indent + (len(INDENT) if i else 0)
        choice = (float("inf"), n)
        for j in range(i + 1, n + 1):
            over = max(0, width + len(line(i, j)) - LINE_LENGTH)
            cost = 1000.0 * over + (2 + levels[j - 1] if j < n else 0) + best[j][0]
            if cost <= choice[0]:  # ties: the fuller line
                choice = (cost, j)
            # a longer first line is at most 2 columns (its ` \\`) shorter than this one: once that
            # alone costs more than the best choice, no longer line can win (a statement of thousands of
            # list entries would otherwise try every pair of breaks)
            if 1000.0 * (over - 2) > choice[0]:
                break
        best[i] = choice
    out, i = [], 0
    while i < n:
        j = best[i][1]
        out.append((INDENT if i else "") + line(i, j))
        i = j
    return out


class _Layout:
    def __init__(self, src: list[str], by_line: dict[int, _Comment], keep: set[int]):
        self.src = src
        self.by_line = by_line
        self.keep = keep
        self.lines: list[_Line] = []

    def _code(self, n: int) -> str:
        """Source line ``n`` without its comment."""
        line = self.src[n - 1] if 0 < n <= len(self.src) else ""
        c = self.by_line.get(n)
        return line[: c.col - 1] if c is not None else line

    def _end_line(self, after: int) -> int:
        """The line of the ``end`` that closes a block whose last content is on line ``after``."""
        for n in range(after + 1, len(self.src) + 1):
            if self._code(n).strip() == "end":
                return n
        raise FormatError(f"no `end` after line {after}")

    def _last_line(self, node: ast.Node) -> int:
        """The last source line of a statement (lark's span of a block runs on over the newlines after it)."""
        s = node.span
        last = s.end_line
        if last > s.line and not self._code(last)[: max(s.end_col - 1, 0)].strip():
            last -= 1
            while last > s.line and not self._code(last).strip():
                last -= 1
        return last

    def add(self, level: int, code: str, first: int, last: int, inner: int | None = None,
            verbatim: bool = False) -> None:
        self.lines.append(_Line(level, code, first, last, level if inner is None else inner, verbatim))

    def model(self, m: ast.Model) -> None:
        for imp in m.imports:
            self.add(0, f'import "{imp.path}"', imp.span.line, self._last_line(imp))
        header = f"model {m.name}" + (f" extends {m.extends}" if m.extends else "")
        self.add(0, header, m.span.line, m.span.line)
        after = m.span.line
        level = 1 if m.extends else 0
        for it in m.items:
            after = self.item(it, level)
        end = self._end_line(after)
        self.add(0, "end", end, end)

    def item(self, node: ast.Node, level: int) -> int:
        """Lay out one statement or block; return its last source line."""
        head = block_header(node)
        if head is not None:
            self.add(level, head, node.span.line, node.span.line)
            after = node.span.line
            for x in block_body(node):
                after = self.item(x, level + 1)
            end = self._end_line(after)
            self.add(level, "end", end, end, inner=level + 1)
            return end
        last = self._last_line(node)
        try:
            code = "\n".join(_wrapped(decl_doc(node, self.keep), len(INDENT) * level))
            self.add(level, code, node.span.line, last)
        except TypeError:  # a construct newer than the printer: keep its source text
            lines = self.src[node.span.line - 1: last]
            strip = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
            for k, x in enumerate(lines):
                n = node.span.line + k
                self.add(level, x[strip:].rstrip(), n, n, verbatim=True)
        return last


# ---------------------------------------------------------------- comments and blank lines


def _weave(layout: list[_Line], notes: list[_Comment], src: list[str]) -> str:
    out: list[tuple[str, str]] = []  # (indented code, trailing comment)
    prev = 0  # last source line accounted for
    k = 0

    def blank_before(n: int) -> None:
        if out and out[-1] != ("", "") and any(not src[j - 1].strip() for j in range(prev + 1, n)):
            out.append(("", ""))

    def own_line(c: _Comment, level: int) -> None:
        out.append((INDENT * level + c.text, ""))

    for line in layout:
        while k < len(notes) and notes[k].line < line.first:
            blank_before(notes[k].line)
            own_line(notes[k], line.inner)
            prev = notes[k].line
            k += 1
        inside: list[_Comment] = []
        while k < len(notes) and notes[k].line <= line.last:
            inside.append(notes[k])
            k += 1
        blank_before(line.first)
        if line.verbatim:  # its comments are in its text already
            out.append((INDENT * line.level + line.code, ""))
            prev = line.last
            continue
        *cont, tail = line.code.split("\n")  # a statement broken over several lines: its comment after the last
        trailing = ""
        if inside and inside[-1].line == line.last and not inside[-1].own_line:
            trailing = inside.pop().text
            if len(INDENT * line.level + tail) + LONG_GAP + len(trailing) > LINE_LENGTH:  # too long: above it
                inside.append(_Comment(line.last, 0, trailing, True))
                trailing = ""
        for c in inside:
            own_line(c, line.level)
        out.extend((INDENT * line.level + x, "") for x in cont)
        out.append((INDENT * line.level + tail, trailing))
        prev = line.last
    for c in notes[k:]:
        blank_before(c.line)
        own_line(c, 0)
        prev = c.line
    return "\n".join(_align(out)) + "\n"


def _align(lines: list[tuple[str, str]]) -> list[str]:
    """Trailing comments of consecutive lines share a column (see the module docstring)."""
    result: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j][1]:
            j += 1
        if j == i:
            result.append(lines[i][0].rstrip())
            i += 1
            continue
        run = lines[i:j]
        widest = max([0] + [len(code) for code, _ in run if len(code) <= LONG_LINE])
        column = next(c for c in COMMENT_COLUMNS if c > widest + 1)  # two spaces before `#`
        for code, comment in run:
            pad = column - len(code) if len(code) < column else LONG_GAP
            if len(code) + pad + len(comment) > LINE_LENGTH:
                pad = min(pad, LONG_GAP)
            result.append(code + " " * pad + comment)
        i = j
    return result


def _verify(model: ast.Model, notes: list[_Comment], out: str, file: str) -> None:
    diags = Diagnostics()
    again = parse(out, file, diags)
    if again is None or again != model:
        raise FormatError(f"{file}: formatting would change the model (a bug in `econdsl fmt`); file left as is")
    if [c.value.rstrip() for c in comments(out)] != [c.text for c in notes]:
        raise FormatError(f"{file}: formatting would lose or reorder comments (a bug in `econdsl fmt`); "
                          "file left as is")
