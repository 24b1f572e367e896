"""The editor queries behind `econdsl lsp` (hover, definition, references, rename, completion) on the RBC models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from econdsl.language import check_text
from econdsl.language.navigation import Navigator, RenameError

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def rbc() -> Navigator:
    path = MODELS / "rbc_open.econ"
    text = path.read_text(encoding="utf-8")
    return Navigator(check_text(text, path), text)


def _line(nav: Navigator, text: str) -> int:
    return next(k for k, x in enumerate(nav.text.split("\n"), start=1) if text in x)


def _at(nav: Navigator, line_text: str, word: str, nth: int = 0):
    """The occurrence of ``word`` (the nth whole-word match) on the first line containing ``line_text``."""
    lines = nav.text.split("\n")
    n = _line(nav, line_text)
    col = [m.start() for m in re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", lines[n - 1])][nth] + 1
    occ = nav.at(n, col)
    assert occ is not None and occ.target.name == word
    return occ


def test_hover_kinds(rbc: Navigator) -> None:
    occ = _at(rbc, "next B[j] = with_interest", "B")
    text = rbc.hover(occ)
    assert text.startswith("**state** `B` of `Consumer`: shape `[Consumer]` (100), unit `money`, range `[0, ∞)`")
    assert "budget" in text and f"rbc_open.econ:{_line(rbc, 'state B::money')}:11" in text
    text = rbc.hover(_at(rbc, "production output", "output"))
    assert "Cobb-Douglas production with labour share α." in text  # the comment line above the declaration
    assert "**agent type** `Firm`: 10 members, index `i`" in rbc.hover(_at(rbc, "S[j] = sum", "Firm"))
    assert "**index** `j` of `Consumer`: runs over 0 … 99" in rbc.hover(_at(rbc, "S[j] = sum", "j"))
    assert "**reduction variable** `i`" in rbc.hover(_at(rbc, "S[j] = sum", "i"))
    assert "unit `goods`" in rbc.hover(_at(rbc, "utility u(c::goods)", "c", 1))  # the function's parameter
    assert "**step quantity** `revenue`" in rbc.hover(_at(rbc, "G[i] = revenue[i]", "revenue"))
    assert "unit `money`" in rbc.hover(_at(rbc, "G[i] = revenue[i]", "revenue"))  # inferred by the unit check
    assert "training setting (float)" in rbc.hover(_at(rbc, "    lr = 0.001", "lr"))


def test_definition_and_references(rbc: Navigator) -> None:
    n_a = _at(rbc, "train Firm from N_a", "N_a")
    assert n_a.target.kind == "curriculum constant"
    assert (n_a.target.definition.line, n_a.target.definition.col) == (_line(rbc, "const N_a"), 11)
    lines = {s.line for s in rbc.references(n_a.target)}
    assert _line(rbc, "N_a = 60") in lines  # the quick preset's `N_a = 60` overrides the same constant
    # `c` is a step quantity, but inside `u(c::goods)` it is the function's own parameter
    c_quantity = _at(rbc, "c[j, i] = d[j, i]", "c")
    assert all(s.line != _line(rbc, "utility u(") for s in rbc.references(c_quantity.target))


def test_rename(rbc: Navigator) -> None:
    kappa = _at(rbc, "anneal κ", "κ")
    spans = rbc.rename(kappa, "labour_weight")
    assert sorted(s.line for s in spans) == [k for k, x in enumerate(rbc.text.split("\n"), start=1)
                                             for _ in re.findall(r"κ", x.split("#")[0])]
    for new, why in (("B_f", "already a name"), ("end", "not a valid name"), ("2x", "not a valid name")):
        with pytest.raises(RenameError, match=why):
            rbc.rename(_at(rbc, "next B[j] = with_interest", "B"), new)
    with pytest.raises(RenameError, match="built-in function"):
        rbc.rename(_at(rbc, "S[j] = sum", "sum"), "total")


def test_variant_definition_in_the_base_file() -> None:
    path = MODELS / "rbc_closed.econ"
    text = path.read_text(encoding="utf-8")
    nav = Navigator(check_text(text, path), text)
    occ = _at(nav, "remove p_x", "p_x")
    assert occ.target.kind == "const" and occ.target.definition.file.endswith("rbc_open.econ")
    with pytest.raises(RenameError, match="another file"):
        nav.rename(occ, "p_floor")


def test_completions(rbc: Navigator) -> None:
    in_train = {label for label, kind, _ in rbc.completions(_line(rbc, "    lr = 0.001"), 5)}
    assert {"lr", "iterations", "B", "Firm", "log"} <= in_train
    declared = "param θ::utils/hours in [0, 1] "
    after_tilde = Navigator(rbc.result, rbc.text.replace(declared + "= ", declared + "~ "))
    line = next(k for k, x in enumerate(after_tilde.text.split("\n"), start=1) if "param θ" in x)
    col = after_tilde.text.split("\n")[line - 1].index("~") + 3
    assert {label for label, _, _ in after_tilde.completions(line, col)} == {"Uniform", "Normal", "LogNormal",
                                                                             "Pareto"}
