"""print → parse round-trips to the same AST (spans ignored) for every model and for random expressions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econdsl.language import ast
from econdsl.language.diagnostics import Diagnostics
from econdsl.language.parser import parse
from econdsl.language.printer import print_expr, print_model

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.econ"))
GOLDEN_OK = sorted((Path(__file__).resolve().parents[1] / "golden" / "errors").glob("[ew][5-9]*.econ"))


def _parse(text: str) -> ast.Model:
    d = Diagnostics()
    m = parse(text, "<test>", d)
    assert m is not None, d.render()
    return m


@pytest.mark.parametrize("path", MODELS + GOLDEN_OK, ids=lambda p: p.name)
def test_model_round_trip(path: Path) -> None:
    model = _parse(path.read_text(encoding="utf-8"))
    text = print_model(model)
    again = _parse(text)
    assert again == model
    assert print_model(again) == text  # printing is idempotent


def test_minimal_parentheses() -> None:
    e = _parse("model m\nconst k = (a + b) * c - (d - e) - f^(g + 1) + (-x)^2 + -y^2\nend\n").items[0].value
    assert print_expr(e) == "(a + b) * c - (d - e) - f^(g + 1) + (-x)^2 + -y^2"


NAMES = st.sampled_from(["x", "y", "θ", "B", "p_x", "beta", "E", "N"])
NUMS = st.one_of(st.integers(0, 1000).map(float), st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
BINOPS = ["+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||"]


def _exprs() -> st.SearchStrategy[ast.Expr]:
    leaves = st.one_of(NAMES.map(ast.Name), NUMS.map(lambda v: ast.Num(v)), st.just(ast.Inf()))

    def extend(children):
        return st.one_of(
            st.builds(ast.BinOp, st.sampled_from(BINOPS), children, children),
            st.builds(ast.UnOp, st.sampled_from(["-", "+", "!"]), children),
            st.builds(ast.Ternary, children, children, children),
            st.builds(lambda b, i: ast.Index(b, tuple(i)), NAMES, st.lists(children, min_size=1, max_size=2)),
            st.builds(lambda f, a, p: ast.Call(f, tuple(a), tuple(p)), st.sampled_from(["log", "ifelse", "f"]),
                      st.lists(children, min_size=1, max_size=3), st.lists(children, max_size=1)),
            st.builds(lambda op, b, v, c: ast.Reduce(op, b, v, "Firm", c), st.sampled_from(["sum", "max"]),
                      children, st.sampled_from(["i", "k"]), st.none() | children),
            st.builds(lambda items: ast.Array(tuple(items)), st.lists(children, min_size=1, max_size=3)),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_exprs())
def test_expression_round_trip(e: ast.Expr) -> None:
    text = print_expr(e)
    got = _parse(f"model m\nconst k = {text}\nend\n").items[0].value
    assert got == e, text


def test_declarations_round_trip() -> None:
    """Forms the models do not use: action units, per-member heads, intervals, distributions, variants."""
    text = """import "base.econ"

model v extends base
set k = 2
replace next x[i] = x[i] + 1
remove old

agent A[3] index i
    param d::money in [0, Inf] ~ LogNormal(0, 0.5)
    action hours::hours in {0, 260} × (0:0.5:2)
    action share in [0, 1]
    action pick[B] in B
    observe x, onehot(i)
    reward -x[i]^2
end

train
    lr[A] = 0.001
    preset quick
        iterations = 4
    end
end
end
"""
    model = _parse(text)
    assert print_model(model) == text
    assert _parse(print_model(model)) == model
