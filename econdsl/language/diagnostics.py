"""Diagnostics: coded messages with a source span, rendered rustc-style or as JSON.

Every user-facing problem with a ``.econ`` file is a :class:`Diagnostic`. Stages collect them in a
:class:`Diagnostics` list instead of raising, so that one run reports every error of a file.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .ast import NOWHERE, Span
from .catalogue import CATALOGUE


@dataclass(frozen=True)
class Diagnostic:
    code: str  # "E201", "W601", ...
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class Diagnostics:
    """An ordered collection of diagnostics, with the source texts needed to render them."""

    items: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    # What a check could not decide, as (check, span, what): not a problem of the model, but not proven
    # either; `econdsl check` lists it under "not checked".
    unchecked: list[tuple[str, Span, str]] = field(default_factory=list)

    def not_checked(self, check: str, span: Span, what: str) -> None:
        if (check, span, what) not in self.unchecked:
            self.unchecked.append((check, span, what))

    def nested_too_deeply(self, file: str) -> None:
        """E108 for a model that some stage could not follow within Python's recursion limit. Which stage hits
        the limit depends on the caller's stack and on the limit, so the message names none and points at the
        file's start."""
        self.add("E108", "the model is nested too deeply to process", Span(file, 1, 1, 1, 2), NESTING_HINT)

    def add(self, code: str, message: str, span: Span, hint: str | None = None, *notes: str) -> None:
        assert code in CATALOGUE, f"unknown diagnostic code {code}"
        d = Diagnostic(code, message, span, hint, tuple(notes))
        if d not in self.items:
            self.items.append(d)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.span.file, d.span.line, d.span.col, d.code))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.sorted() if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.sorted() if not d.is_error]

    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def render(self, color: bool = False) -> str:
        return "\n".join(render(d, self.sources.get(d.span.file), color) for d in self.sorted())

    def to_json(self) -> str:
        return json.dumps([to_dict(d) for d in self.sorted()], indent=2, ensure_ascii=False)


class EconError(Exception):
    """Raised by the public API when a model has errors; carries every diagnostic."""

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        super().__init__(diagnostics.render())


def to_dict(d: Diagnostic) -> dict:
    """The LSP-like JSON form used by ``econdsl check --format json``."""
    out = {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "file": d.span.file,
        "range": {
            "start": {"line": d.span.line, "column": d.span.col},
            "end": {"line": d.span.end_line, "column": d.span.end_col},
        },
        "hint": d.hint,
        "notes": list(d.notes),
        "title": CATALOGUE[d.code].title,
    }
    return out


def _style(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


NESTING_HINT = "split deeply nested expressions into several step quantities"  # E108, wherever it is found
LONG_LINE = 160  # source lines longer than this are shown as a window of SHOWN characters around the caret
SHOWN = 120


def render(d: Diagnostic, source: str | None, color: bool = False) -> str:
    """``file:line:col: error[E201]: message``, the source line, a caret underline, then hint and notes."""
    sev = _style(d.severity, "1;31" if d.is_error else "1;33", color)
    head = f"{d.span}: {sev}[{d.code}]: {d.message}"
    lines = [head]
    if source is not None and d.span is not NOWHERE and d.span.line > 0:
        src_lines = source.splitlines()
        if 0 < d.span.line <= len(src_lines):
            text = src_lines[d.span.line - 1].replace("\t", " ")
            gutter = f"{d.span.line:>4} | "
            start = max(d.span.col - 1, 0)
            if d.span.end_line == d.span.line and d.span.end_col > d.span.col:
                width = d.span.end_col - d.span.col
            else:
                width = max(len(text.rstrip()) - start, 1)
            if len(text) > LONG_LINE:  # a window around the caret, with … where the line goes on
                left = max(0, start - 40)
                shown = ("…" if left else "") + text[left:left + SHOWN]
                start -= left - (1 if left else 0)
                width = min(width, len(shown) - start)
                text = shown + ("…" if left + SHOWN < len(text) else "")
            lines.append(gutter + text)
            lines.append(" " * len(gutter) + " " * start + _style("^" * max(width, 1), "1;36", color))
    if d.hint:
        lines.append(f"  = hint: {d.hint}")
    for n in d.notes:
        lines.append(f"  = note: {n}")
    return "\n".join(lines)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint from the closest known name, if one is close enough."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
