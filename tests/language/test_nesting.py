"""The nesting cap (E108): a model at the cap goes through every stage at Python's default recursion limit
from a deep caller; one level more is a located E108, the same at every recursion limit; long source lines
are shown as a window around the caret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import econdsl
from econdsl.language import check_text
from econdsl.language.diagnostics import Diagnostic, Span, render
from econdsl.language.formatter import format_source
from econdsl.language.parser import MAX_NESTING, _parser, _too_deep

PRODUCT = "x * ({})"
CALL = "max(x, {})"


def _model(n: int, form: str) -> str:
    e = "x"
    for _ in range(n):
        e = form.format(e)
    return (f"model deep\nhorizon 1\nagent A\n    state x = 0\n    action a in 0:1\n    reward x * a + {e}\nend\n"
            "step\n    next x = a\nend\nend\n")


def _deepest_accepted(form: str) -> int:
    """The most nested levels of ``form`` the parser accepts (its tree then has MAX_NESTING levels)."""
    from econdsl.language.diagnostics import Diagnostics

    n = 1
    while not _too_deep(_parser().parse(_model(n + 1, form)), "d.econ", Diagnostics()):
        n += 1
    return n


def _at_stack_depth(depth: int, fn):
    return fn() if depth == 0 else _at_stack_depth(depth - 1, fn)


@pytest.mark.parametrize("form", [PRODUCT, CALL], ids=["products", "calls"])
def test_a_model_at_the_cap_checks_formats_and_compiles_from_a_deep_caller(form: str, tmp_path: Path) -> None:
    n = _deepest_accepted(form)
    assert n >= MAX_NESTING // 2 - 10  # a call adds two levels, a bracketed product one
    text = _model(n, form)
    path = tmp_path / "deep.econ"
    path.write_text(text, encoding="utf-8")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, 400 frames already used by the caller
    try:
        result = _at_stack_depth(400, lambda: check_text(text, path))
        formatted, diags = _at_stack_depth(400, lambda: format_source(text, path.name))
        env = _at_stack_depth(400, lambda: econdsl.load(path))
    finally:
        sys.setrecursionlimit(old)
    assert not result.diagnostics.items, result.diagnostics.render()
    assert formatted is not None and not diags.items
    assert env is not None


@pytest.mark.parametrize("limit", [1000, 3000, 10000])
@pytest.mark.parametrize("form", [PRODUCT, CALL], ids=["products", "calls"])
def test_one_level_more_is_e108_at_the_innermost_operand_at_every_recursion_limit(form: str, limit: int) -> None:
    n = _deepest_accepted(form) + 1
    text = _model(n, form)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        result = check_text(text, "deep.econ")
    finally:
        sys.setrecursionlimit(old)
    [d] = result.diagnostics.items
    line = text.splitlines()[d.span.line - 1]
    assert (d.code, d.span.line) == ("E108", 6) and f"more than {MAX_NESTING} levels" in d.message
    assert line[d.span.col - 1] in "xm"  # an operand (or call) deep inside, not the start of the file
    assert d.span.col > len("    reward x * a + ") + 100


def test_a_long_line_is_shown_as_a_window_around_the_caret() -> None:
    line = "    reward " + " + ".join(f"v{k}" for k in range(200))
    col = line.index("v150") + 1
    d = Diagnostic("E201", "unknown name", Span("f.econ", 1, col, 1, col + 4), "hint")
    shown = render(d, line + "\n").splitlines()
    src, caret = shown[1], shown[2]
    assert len(src) < 140 and src.count("…") == 2
    at = caret.index("^")
    assert src[at:at + 4] == "v150" and caret.count("^") == 4


def test_a_short_line_is_shown_whole() -> None:
    line = "    reward x + y"
    d = Diagnostic("E201", "unknown name", Span("f.econ", 1, 16, 1, 17), None)
    assert render(d, line + "\n").splitlines()[1:] == ["   1 |     reward x + y", " " * (7 + 15) + "^"]
