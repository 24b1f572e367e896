"""``econdsl lsp``: a Language Server Protocol server over stdio (pygls) for ``.econ`` files.

It publishes the checker's diagnostics (codes, ranges, hints) whenever a document opens, changes or is saved,
and answers hover, go to definition, find references, completion, rename and formatting from
:class:`~econdsl.language.navigation.Navigator` and :mod:`~econdsl.language.formatter`. Positions in the
protocol count UTF-16 code units; the front end counts code points: the helpers below convert.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version

from lsprotocol import types as T
from pygls.exceptions import JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .language import ast, check_text
from .language.diagnostics import Diagnostic
from .language.formatter import FormatError, format_source
from .language.navigation import Navigator, Occurrence, RenameError

_COMPLETION_KINDS = {
    "const": T.CompletionItemKind.Constant, "curriculum constant": T.CompletionItemKind.Constant,
    "param": T.CompletionItemKind.Field, "state": T.CompletionItemKind.Variable,
    "action": T.CompletionItemKind.Event, "quantity": T.CompletionItemKind.Variable,
    "function": T.CompletionItemKind.Function, "built-in function": T.CompletionItemKind.Function,
    "external": T.CompletionItemKind.Value, "population": T.CompletionItemKind.Class,
    "index": T.CompletionItemKind.TypeParameter, "distribution": T.CompletionItemKind.Class,
    "setting": T.CompletionItemKind.Property, "built-in name": T.CompletionItemKind.Variable,
    "keyword": T.CompletionItemKind.Keyword,
}


def _version() -> str:
    try:
        return version("econdsl")
    except PackageNotFoundError:
        return "0"


class EconServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("econdsl", _version())
        self.navigators: dict[str, Navigator] = {}  # the latest analysis of each open document
        self.last_good: dict[str, Navigator] = {}  # the latest one that parsed (completion while typing)


server = EconServer()


# ---------------------------------------------------------------- positions


def _char(line: str, col: int) -> int:
    """1-based code-point column → 0-based UTF-16 offset."""
    return len(line[: max(col - 1, 0)].encode("utf-16-le")) // 2


def _col(line: str, char: int) -> int:
    """0-based UTF-16 offset → 1-based code-point column."""
    units = 0
    for k, ch in enumerate(line):
        if units >= char:
            return k + 1
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line) + 1


def _range(text: str, span: ast.Span) -> T.Range:
    if span.line <= 0:
        return T.Range(T.Position(0, 0), T.Position(0, 0))
    lines = text.split("\n")

    def pos(line: int, col: int) -> T.Position:
        line = min(line, len(lines))
        return T.Position(line - 1, _char(lines[line - 1], col))

    return T.Range(pos(span.line, span.col), pos(span.end_line, span.end_col))


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _uri(nav: Navigator, uri: str, file: str) -> str:
    return uri if file == nav.path else (from_fs_path(os.path.abspath(file)) or file)


def _location(nav: Navigator, uri: str, span: ast.Span) -> T.Location:
    return T.Location(_uri(nav, uri, span.file), _range(nav.sources.get(span.file, ""), span))


# ---------------------------------------------------------------- diagnostics


def _diagnostic(d: Diagnostic, text: str, here: str) -> T.Diagnostic:
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "") + "".join(f"\nnote: {n}" for n in d.notes)
    rng = _range(text, d.span)
    if d.span.file != here and d.span.line > 0:  # a problem in an imported file: say where, at the top
        message = f"{d.span}: {message}"
        rng = T.Range(T.Position(0, 0), T.Position(0, 0))
    return T.Diagnostic(range=rng, message=message, severity=T.DiagnosticSeverity.Error if d.is_error
                        else T.DiagnosticSeverity.Warning, code=d.code, source="econdsl")


def analyse(ls: EconServer, uri: str) -> Navigator:
    doc = ls.workspace.get_text_document(uri)
    text = doc.source
    result = check_text(text, _path(uri))
    diags = [_diagnostic(d, text, result.path) for d in result.diagnostics.sorted()]
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=doc.version))
    try:
        nav = Navigator(result, text)
    except Exception:  # noqa: BLE001 - a bug in navigation must not take the diagnostics down with it
        logging.getLogger(__name__).exception("econdsl lsp: cannot index %s", uri)
        nav = Navigator(replace(result, ast=None), text)
    ls.navigators[uri] = nav
    if result.ast is not None:
        ls.last_good[uri] = nav
    return nav


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: EconServer, params: T.DidOpenTextDocumentParams) -> None:
    analyse(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: EconServer, params: T.DidChangeTextDocumentParams) -> None:
    analyse(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: EconServer, params: T.DidSaveTextDocumentParams) -> None:
    analyse(ls, params.text_document.uri)  # files it imports may have changed


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: EconServer, params: T.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.navigators.pop(uri, None)
    ls.last_good.pop(uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


# ---------------------------------------------------------------- navigation


def _occurrence(ls: EconServer, uri: str, position: T.Position) -> tuple[Navigator, Occurrence] | None:
    nav = ls.navigators.get(uri) or analyse(ls, uri)
    lines = nav.text.split("\n")
    if position.line >= len(lines):
        return None
    occ = nav.at(position.line + 1, _col(lines[position.line], position.character))
    return (nav, occ) if occ is not None else None


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: EconServer, params: T.HoverParams) -> T.Hover | None:
    found = _occurrence(ls, params.text_document.uri, params.position)
    if found is None:
        return None
    nav, occ = found
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, nav.hover(occ)), _range(nav.text, occ.span))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: EconServer, params: T.DefinitionParams) -> T.Location | None:
    found = _occurrence(ls, params.text_document.uri, params.position)
    if found is None or found[1].target.definition is None:
        return None
    nav, occ = found
    return _location(nav, params.text_document.uri, occ.target.definition)


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def references(ls: EconServer, params: T.ReferenceParams) -> list[T.Location]:
    found = _occurrence(ls, params.text_document.uri, params.position)
    if found is None:
        return []
    nav, occ = found
    spans = nav.references(occ.target, params.context.include_declaration)
    return [_location(nav, params.text_document.uri, s) for s in spans]


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["~", "["]))
def completion(ls: EconServer, params: T.CompletionParams) -> T.CompletionList:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    nav = ls.last_good.get(uri) or ls.navigators.get(uri) or analyse(ls, uri)
    lines = doc.source.split("\n")
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    col = _col(line, params.position.character)
    nav = Navigator(nav.result, doc.source)  # the names of the last version that parsed, the current text
    items = [T.CompletionItem(label, kind=_COMPLETION_KINDS.get(kind, T.CompletionItemKind.Text),
                              detail=f"{kind}{': ' + detail if detail else ''}")
             for label, kind, detail in nav.completions(params.position.line + 1, col)]
    return T.CompletionList(is_incomplete=False, items=items)


@server.feature(T.TEXT_DOCUMENT_PREPARE_RENAME)
def prepare_rename(ls: EconServer, params: T.PrepareRenameParams) -> T.PrepareRenamePlaceholder | None:
    found = _occurrence(ls, params.text_document.uri, params.position)
    if found is None:
        return None
    nav, occ = found
    return T.PrepareRenamePlaceholder(_range(nav.text, occ.span), occ.target.name)


@server.feature(T.TEXT_DOCUMENT_RENAME)
def rename(ls: EconServer, params: T.RenameParams) -> T.WorkspaceEdit | None:
    uri = params.text_document.uri
    found = _occurrence(ls, uri, params.position)
    if found is None:
        return None
    nav, occ = found
    try:
        spans = nav.rename(occ, params.new_name)
    except RenameError as e:
        raise JsonRpcInvalidRequest(str(e)) from None
    return T.WorkspaceEdit(changes={uri: [T.TextEdit(_range(nav.text, s), params.new_name) for s in spans]})


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: EconServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        out, _ = format_source(doc.source, _path(params.text_document.uri))
    except FormatError as e:
        ls.window_show_message(T.ShowMessageParams(T.MessageType.Error, str(e)))
        return None
    if out is None or out == doc.source:
        return None  # syntax errors (shown as diagnostics), or nothing to change
    end = T.Position(len(doc.lines), 0)
    return [T.TextEdit(T.Range(T.Position(0, 0), end), out)]


def serve() -> None:
    """Serve over stdin/stdout until the client exits."""
    server.start_io()
