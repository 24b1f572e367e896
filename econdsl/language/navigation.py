"""What an editor asks about a model: the name under the cursor, where it is defined and used, what it is.

Built on the checker's own results (:class:`~econdsl.language.CheckResult`: the parsed file, the resolved
symbol table, the text of every file read) and on the parser's tokens for the exact place of every name.
Lines and columns are 1-based code points, as in :class:`~econdsl.language.ast.Span`; the language server
converts them to the protocol's UTF-16 positions.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from . import CheckResult, ast, check_text
from .diagnostics import Diagnostics
from .parser import REDUCTIONS, _open_blocks, parse, tokens
from .printer import block_header, print_decl, print_unit
from .resolve import BUILTIN_FUNCTIONS, BUILTIN_NAMES, DISTRIBUTIONS, Symbol

NAME_RE = re.compile(r"[^\W\d]\w*\Z")
# Names that can be renamed: declared by the model itself, each in one place.
RENAMEABLE = ("const", "param", "state", "action", "quantity", "curriculum constant")
_KIND_TITLES = {"quantity": "step quantity", "population": "agent type", "external": "external flow"}


@dataclass(frozen=True)
class Target:
    """What a name refers to. ``kind``: a symbol kind of the resolver (const, param, state, action, quantity,
    function, external), or population, index, curriculum constant, function parameter, reduction variable,
    built-in function, built-in name, distribution, setting."""

    kind: str
    name: str
    definition: ast.Span | None = None
    symbol: Symbol | None = field(default=None, compare=False)
    node: ast.Node | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Occurrence:
    span: ast.Span  # the name as written in the current file
    target: Target


class RenameError(ValueError):
    """A rename that cannot be done, with the reason to show the user."""


def _inside(span: ast.Span, line: int, col: int) -> bool:
    return (span.line, span.col) <= (line, col) and (line, col) < (span.end_line, span.end_col)


def _tok_span(file: str, tok) -> ast.Span:
    return ast.Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


class Navigator:
    """Every name of one document, resolved; answers hover, definition, references, rename and completion."""

    def __init__(self, result: CheckResult, text: str):
        self.result = result
        self.text = text
        self.path = result.path
        self.sources = dict(result.diagnostics.sources)
        self.sources[self.path] = text
        self.occurrences: list[Occurrence] = []
        r = result.resolved
        self.curriculum_consts: dict[str, ast.Const] = {}
        if r is not None and r.curriculum is not None:
            self.curriculum_consts = {c.name: c for c in r.curriculum.items if isinstance(c, ast.Const)}
        if result.ast is not None:
            self._index(result.ast)

    # ------------------------------------------------------------ building the index
    @functools.cache  # noqa: B019 - one navigator per document version; the cache dies with it
    def _tokens(self, file: str) -> tuple:
        try:
            return tuple(tokens(self.sources.get(file, "")))
        except Exception:  # noqa: BLE001 - a file that does not lex has no names to show
            return ()

    def _name_in(self, span: ast.Span, name: str, after: str | None = None) -> ast.Span | None:
        """Where ``name`` is first written inside ``span`` (after a token of type ``after``, if given)."""
        prev = None
        for tok in self._tokens(span.file):
            if tok.type == "NAME" and str(tok) == name and _inside(span, tok.line, tok.column) and (
                    after is None or (prev is not None and prev.type == after)):
                return _tok_span(span.file, tok)
            if tok.type not in ("WS_INLINE", "COMMENT"):
                prev = tok
        return None

    def _index(self, model: ast.Model) -> None:
        scopes: list[tuple[ast.Span, dict[str, tuple[ast.Span, ast.Node | None]], str]] = []
        for node in model.walk():
            if isinstance(node, ast.Function):
                bound = {p.name: (ast.Span(p.span.file, p.span.line, p.span.col, p.span.line,
                                           p.span.col + len(p.name)), p) for p in node.inputs + node.params}
                scopes.append((node.span, bound, "function parameter"))
            elif isinstance(node, ast.Reduce):
                where = self._name_in(node.span, node.var, after="FOR")
                if where is not None:
                    scopes.append((node.span, {node.var: (where, None)}, "reduction variable"))
        scopes.sort(key=lambda s: (s[0].line, s[0].col))
        for tok in self._tokens(self.path):
            if tok.type != "NAME":
                continue
            name = str(tok)
            target = None
            for span, bound, kind in reversed(scopes):  # the innermost scope is the last one that contains it
                if name in bound and _inside(span, tok.line, tok.column):
                    target = Target(kind, name, bound[name][0], node=bound[name][1])
                    break
            target = target or self._global(name)
            if target is not None:
                self.occurrences.append(Occurrence(_tok_span(self.path, tok), target))

    def _global(self, name: str) -> Target | None:
        r = self.result.resolved
        if r is not None:
            for p in r.populations.values():
                if name in p.indices:
                    return Target("index", name, self._name_in(r.agents[p.name].span, name,
                                                                     after="INDEX" if name == p.index else None),
                                  node=r.agents[p.name])
            sym = r.symbols.get(name)
            if sym is not None:
                return Target(sym.kind, name, self._symbol_definition(sym), sym, sym.decl)
            if name in self.curriculum_consts:
                c = self.curriculum_consts[name]
                return Target("curriculum constant", name, self._name_in(c.span, name), node=c)
            if name in r.populations:
                return Target("population", name, r.populations[name].span, node=r.agents.get(name))
        removed = self._base_declaration(name)
        if removed is not None:
            return removed
        if name in BUILTIN_FUNCTIONS or name in REDUCTIONS:
            return Target("built-in function", name)
        if name in DISTRIBUTIONS:
            return Target("distribution", name)
        if name in BUILTIN_NAMES or name in _curriculum_names():
            return Target("built-in name", name)
        if name in _settings().types:
            return Target("setting", name)
        return None

    def _base_declaration(self, name: str) -> Target | None:
        """A name a variant removed (``remove p_x``): its declaration in an imported file."""
        if self.result.ast is None or not self.result.ast.imports:
            return None
        for file, text in self.sources.items():
            if file == self.path:
                continue
            model = _parse_quietly(text, file)
            for node in model.walk() if model is not None else ():
                kind = _DECL_KINDS.get(type(node))
                names = node.names if isinstance(node, ast.Action) else (getattr(node, "name", None),)
                if kind is None or name not in names or (isinstance(node, ast.Equation) and node.is_next):
                    continue
                where = node.target_span if isinstance(node, ast.Equation) else self._name_in(node.span, name)
                return Target(kind, name, where, node=node)
        return None

    def _symbol_definition(self, sym: Symbol) -> ast.Span | None:
        if isinstance(sym.decl, ast.Equation):
            return sym.decl.target_span
        return self._name_in(sym.decl.span, sym.name) or sym.decl.span

    # ------------------------------------------------------------ queries
    def description(self, name: str, above: bool = True) -> str:
        """The doc comment of a model-level name (``# budget`` after ``state B::money = 2000``), or "";
        ``above=False``: only a comment on the declaration's own line (not a section comment above it)."""
        target = self._global(name)
        return self._doc_comment(target, above) if target is not None else ""

    def at(self, line: int, col: int) -> Occurrence | None:
        """The name at a position (or just after it: a cursor at the end of a word)."""
        for occ in self.occurrences:
            s = occ.span
            if s.line == line and s.col <= col <= s.end_col:
                return occ
        return None

    def references(self, target: Target, include_definition: bool = True) -> list[ast.Span]:
        spans = [o.span for o in self.occurrences if o.target == target]
        if not include_definition and target.definition is not None:
            spans = [s for s in spans if s != target.definition]
        return spans

    def hover(self, occ: Occurrence) -> str:
        """Markdown: what the name is, its unit, shape and range, its declaration, doc comment and place."""
        t = occ.target
        r = self.result.resolved
        title = _KIND_TITLES.get(t.kind, t.kind)
        head = f"**{title}** `{t.name}`"
        facts: list[str] = []
        sym = t.symbol
        if sym is not None and r is not None:
            if sym.owner is not None:
                head += f" of `{sym.owner}`"
            if sym.dims:
                sizes = " × ".join(str(r.populations[d].size) if d in r.populations else "?" for d in sym.dims)
                facts.append(f"shape `[{', '.join(sym.dims)}]` ({sizes})")
            elif sym.shape:  # a vector or matrix constant
                facts.append(f"shape {' × '.join(str(n) for n in sym.shape)}")
            elif sym.kind not in ("function",):
                facts.append("shape: scalar")
            unit = print_unit(sym.unit)[2:] or self._units().get(t.name)
            if unit:
                facts.append(f"unit `{unit}`")
            if sym.kind == "const" and t.name in r.consts:
                facts.append(f"value `{r.consts[t.name]:g}`")
            elif t.name in self._domains():
                facts.append(f"range `{self._domains()[t.name]}`")
            if sym.chooses:
                facts.append(f"chooses a member of `{sym.chooses}`")
        elif t.kind == "population" and r is not None and t.name in r.populations:
            p = r.populations[t.name]
            facts.append("a single agent" if p.singleton else f"{p.size} members" +
                         (f", index {', '.join(f'`{n}`' for n in p.indices)}" if p.index else ""))
        elif t.kind == "index" and isinstance(t.node, ast.Agent) and r is not None:
            p = r.populations[t.node.name]
            head += f" of `{p.name}`"
            facts.append(f"runs over 0 … {p.size - 1}")
        elif isinstance(t.node, ast.FParam) and t.node.unit is not None:
            facts.append(f"unit `{print_unit(t.node.unit)[2:]}`")
        elif t.kind == "built-in function":
            if t.name in REDUCTIONS:
                facts.append(f"reduction: `{t.name}(body for i in Population if condition)`")
            if t.name in BUILTIN_FUNCTIONS:
                lo, hi = BUILTIN_FUNCTIONS[t.name]
                facts.append(f"takes {lo} argument{'s' if lo != 1 else ''}" if lo == hi else f"takes {lo} or more")
        elif t.kind == "distribution":
            facts.append(f"{DISTRIBUTIONS[t.name]} parameters: `param x ~ {t.name}(a, b)`")
        elif t.kind == "setting":
            facts.append(f"training setting ({_settings().types[t.name]})")
        elif t.kind == "built-in name":
            facts.append("the step within the episode, from 0" if t.name == "t" else
                         "the training iteration" if t.name == "e" else
                         "iterations since the agent type started training")
        lines = [head + (": " + ", ".join(facts) if facts else "")]
        decl = self._declaration_text(t)
        if decl:
            lines.append(f"```econ\n{decl}\n```")
        doc = self._doc_comment(t)
        if doc:
            lines.append(doc)
        if t.definition is not None:
            lines.append(f"Defined at `{t.definition}`.")
        return "\n\n".join(lines)

    def rename(self, occ: Occurrence, new: str) -> list[ast.Span]:
        """The spans to rewrite to ``new``; raises :class:`RenameError` when the rename is not safe."""
        t = occ.target
        if t.kind not in RENAMEABLE:
            raise RenameError(f"`{t.name}` is a {t.kind}; only constants, parameters, states, actions and step "
                              "quantities can be renamed")
        if t.definition is None or t.definition.file != self.path:
            raise RenameError(f"`{t.name}` is declared in another file; rename it there")
        if not NAME_RE.match(new) or new in _keywords():
            raise RenameError(f"`{new}` is not a valid name")
        if new != t.name and (self._global(new) is not None or any(
                o.target.name == new for o in self.occurrences)):
            raise RenameError(f"`{new}` is already a name in this model")
        spans = self.references(t)
        if new == t.name:
            return spans
        renamed = _replace(self.text, spans, new)
        before = len(self.result.diagnostics.errors)
        after = check_text(renamed, self.path).diagnostics.errors
        if len(after) > before:
            raise RenameError(f"renaming `{t.name}` to `{new}` would give an error: {after[0].message}")
        return spans

    def completions(self, line: int, col: int) -> list[tuple[str, str, str]]:
        """(label, kind, detail) of the names that fit at a position."""
        before = self.text.split("\n")[line - 1][: col - 1] if 0 < line <= self.text.count("\n") + 1 else ""
        if re.search(r"~\s*\w*$", before):
            return [(d, "distribution", f"{n} parameters") for d, n in DISTRIBUTIONS.items()]
        blocks = [b for b, _ in _open_blocks(self.text, line)]
        items: list[tuple[str, str, str]] = []
        if blocks and (blocks[-1] == "train" or blocks[-1].startswith("preset")) and not before.count("="):
            items += [(s, "setting", kind) for s, kind in sorted(_settings().types.items())]
        r = self.result.resolved
        if r is not None:
            items += [(s.name, s.kind, _symbol_detail(s)) for s in r.symbols.values()]
            items += [(p.name, "population", f"{p.size} members") for p in r.populations.values()]
            items += [(n, "index", f"index of {p.name}") for p in r.populations.values() for n in p.indices]
            items += [(c, "curriculum constant", "") for c in self.curriculum_consts]
        items += [(f, "built-in function", "") for f in sorted(set(BUILTIN_FUNCTIONS) | set(REDUCTIONS))]
        items += [(n, "built-in name", "") for n in sorted(BUILTIN_NAMES | set(_curriculum_names()))]
        items += [(k, "keyword", "") for k in sorted(_keywords())]
        return items

    # ------------------------------------------------------------ details
    @functools.cache  # noqa: B019
    def _units(self) -> dict[str, str]:
        from .checks.units import quantity_units

        try:
            return quantity_units(self.result.resolved) if self.result.resolved is not None else {}
        except Exception:  # noqa: BLE001 - hover shows less rather than failing on a model with errors
            return {}

    @functools.cache  # noqa: B019
    def _domains(self) -> dict[str, str]:
        from .checks.domains import value_domains

        try:
            r = self.result.resolved
            return {k: str(v) for k, v in value_domains(r).items()} if r is not None else {}
        except Exception:  # noqa: BLE001
            return {}

    def _declaration_text(self, t: Target) -> str:
        node = t.node
        if isinstance(node, ast.FParam):
            return ""
        if isinstance(node, ast.Agent):
            return block_header(node) or ""
        if node is None:
            return ""
        try:
            return print_decl(node)
        except TypeError:
            return ""

    def _doc_comment(self, t: Target, above_too: bool = True) -> str:
        """The comment at the end of the definition's line, else the comment lines right above it."""
        d = t.definition
        if d is None or t.kind in ("function parameter", "reduction variable", "index"):
            return ""
        notes = {c.line: c for c in self._tokens(d.file) if c.type == "COMMENT"}
        last = t.node.span.end_line if isinstance(t.node, ast.Decl | ast.External) else d.line
        for n in (d.line, last):
            if n in notes and (notes[n].column > 1 and self._line(d.file, n)[: notes[n].column - 1].strip()):
                return _comment_text(notes[n])
        if not above_too:
            return ""
        above = []
        n = d.line - 1
        while n in notes and not self._line(d.file, n)[: notes[n].column - 1].strip() and not \
                _comment_text(notes[n]).startswith("---"):  # a section ruler is not about the declaration
            above.append(_comment_text(notes[n]))
            n -= 1
        return "\n".join(reversed(above))

    def _line(self, file: str, n: int) -> str:
        lines = self.sources.get(file, "").split("\n")
        return lines[n - 1] if 0 < n <= len(lines) else ""


_DECL_KINDS = {ast.Const: "const", ast.Param: "param", ast.State: "state", ast.Action: "action",
               ast.Function: "function", ast.External: "external", ast.Equation: "quantity"}


@functools.lru_cache(maxsize=16)
def _parse_quietly(text: str, file: str) -> ast.Model | None:
    try:
        return parse(text, file, Diagnostics())
    except RecursionError:
        return None


def _comment_text(tok) -> str:
    return str(tok).lstrip("#").strip()


def _symbol_detail(s: Symbol) -> str:
    text = s.kind + (f" of {s.owner}" if s.owner else "")
    if s.dims:
        text += f" [{', '.join(s.dims)}]"
    return text + (f" {print_unit(s.unit)}" if s.unit else "")


def _replace(text: str, spans: list[ast.Span], new: str) -> str:
    lines = text.split("\n")
    for s in sorted(spans, key=lambda s: (s.line, s.col), reverse=True):
        line = lines[s.line - 1]
        lines[s.line - 1] = line[: s.col - 1] + new + line[s.end_col - 1:]
    return "\n".join(lines)


@functools.cache
def _keywords() -> frozenset[str]:
    from importlib import resources

    grammar = resources.files("econdsl.language").joinpath("econ.lark").read_text(encoding="utf-8")
    return frozenset(re.findall(r'"([^\W\d]\w*)"', grammar))


@functools.cache
def _settings():
    from .checks.settings import vocabulary

    return vocabulary()


def _curriculum_names() -> tuple[str, ...]:
    from .checks._sites import CURRICULUM_NAMES

    return CURRICULUM_NAMES
