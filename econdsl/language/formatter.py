"""``econdsl fmt``: the canonical layout of a ``.econ`` file, keeping every comment and blank-line group.

Statements are printed by :mod:`printer` (one per line, canonical spacing, four-space indentation). Comments
come from the parser's lexer and are put back by source line: a comment alone on its line stays above the
statement that follows it (at that statement's indentation; before ``end``, at the block's), a trailing
comment stays at the end of its statement, and comments inside a statement that spans several lines move
above it. A run of blank lines becomes one blank line. Trailing comments of consecutive lines line up in one
column: column 45, where the shipped models put them, or two past the run's longest line when that is longer.

The result is verified before anyone sees it: it must parse to the same AST and hold the same comments in the
same order, else :class:`FormatError` is raised and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .diagnostics import Diagnostics
from .parser import comments, parse
from .printer import INDENT, block_body, block_header, print_decl

# Trailing comments of a run start at one of these 0-based columns, as in the shipped models: the first that
# leaves a space after every line of the run up to LONG_LINE characters; a longer line keeps its comment
# LONG_GAP spaces after its code instead of pushing the whole run to the right.
COMMENT_COLUMNS = (45, 49, 53, 57)
LONG_LINE = 54
LONG_GAP = 4


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
    except RecursionError:
        model = None
        diags.add("E108", "the model is nested too deeply to process", ast.Span(file, 1, 1, 1, 2),
                  "split deeply nested expressions into several step quantities")
    if model is None:
        return None, diags
    src = model.source.split("\n")
    notes = [_Comment(c.line, c.column, c.value.rstrip(), not src[c.line - 1][: c.column - 1].strip())
             for c in comments(model.source)]
    layout = _Layout(src, {c.line: c for c in notes})
    layout.model(model)
    out = _weave(layout.lines, notes, src)
    _verify(model, notes, out, file)
    return out, diags


# ---------------------------------------------------------------- AST → lines with source anchors


class _Layout:
    def __init__(self, src: list[str], by_line: dict[int, _Comment]):
        self.src = src
        self.by_line = by_line
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
            self.add(level, print_decl(node), node.span.line, last)
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
        trailing = ""
        if inside and inside[-1].line == line.last and not inside[-1].own_line:
            trailing = inside.pop().text
        for c in inside:
            own_line(c, line.level)
        out.append((INDENT * line.level + line.code, trailing))
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
        column = next(c for c in COMMENT_COLUMNS if c > widest)
        for code, comment in run:
            pad = column - len(code) if len(code) < column else LONG_GAP
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
