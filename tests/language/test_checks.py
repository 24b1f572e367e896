"""Each check module produces its diagnostics, and they disappear when that check is removed from CHECKS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from econdsl.language import check_file, checks

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "errors"
RBC = (ROOT / "models" / "rbc_open.econ").read_text(encoding="utf-8")

# check function -> (golden model, a code only that check emits for it)
CASES = [
    (checks.check_names, "e201_undeclared_name", "E201"),
    (checks.check_shapes, "e302_index_of_wrong_population", "E302"),
    (checks.check_literals, "e308_list_in_a_formula", "E308"),
    (checks.check_timing, "e402_used_before_defined", "E402"),
    (checks.check_structure, "e501_missing_transition", "E501"),
    (checks.check_units, "e601_unit_mismatch", "E601"),
    (checks.check_domains, "e702_division_by_zero", "E702"),
    (checks.check_bounds, "e703_value_outside_bounds", "E703"),
    (checks.check_economics, "w801_convex_utility", "W801"),
    (checks.check_accounting, "e901_unbalanced_money", "E901"),
    (checks.check_settings, "e1002_unknown_setting", "E1002"),
    (checks.check_discrete, "e311_integer_state", "E311"),
]


def _codes(path: Path) -> set[str]:
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        return {d.code for d in check_file(path.name).diagnostics.items}
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize(("check", "golden", "code"), CASES, ids=[c[0].__name__ for c in CASES])
def test_check_is_needed(monkeypatch, check, golden, code) -> None:
    path = GOLDEN / f"{golden}.econ"
    assert code in _codes(path)
    monkeypatch.setattr(checks, "CHECKS", [c for c in checks.CHECKS if c is not check])
    assert code not in _codes(path)


def test_every_check_module_is_registered() -> None:
    assert {c[0] for c in CASES} == set(checks.CHECKS)


def _variant(tmp_path: Path, old: str, new: str) -> set[str]:
    assert old in RBC
    path = tmp_path / "variant.econ"
    path.write_text(RBC.replace(old, new, 1), encoding="utf-8")
    return {d.code for d in check_file(path).diagnostics.items}


def test_rbc_guards_are_understood(tmp_path: Path) -> None:
    """Both guarded divisions of rbc_open pass; without their guards they fail."""
    assert _variant(tmp_path, "ifelse(ρ[i], y[i] / D[i], 1)", "y[i] / D[i]") >= {"E702"}
    assert "E702" in _variant(tmp_path, "ifelse(S[j] > 0 && S[j] > B[j], B[j] / S[j], 1)", "B[j] / S[j]")
    assert not _variant(tmp_path, "ρ[i] = D[i] > 0 && D[i] > y[i]", "ρ[i] = D[i] > 0 && D[i] > y[i]")


def test_unpaid_revenue_is_unbalanced(tmp_path: Path) -> None:
    """Firms are paid for goods that consumers never pay for: Walras' law fails (E901)."""
    assert "E901" in _variant(tmp_path, "+ guard - spend[j] + (1 - τ)", "+ guard + (1 - τ)")


def test_undeclared_external_flow_is_unbalanced(tmp_path: Path) -> None:
    line = "    external exports = sum(p[i] * X[i] for i in Firm)"
    assert "E901" in _variant(tmp_path, line, "    external exports = 0")


def test_plain_symbols_with_sympy_names(tmp_path: Path) -> None:
    """Names SymPy gives meaning to (E, I, N, S, Q, beta) are ordinary user names."""
    text = """model names
horizon 2
const E = 2
const I = 3
const beta = 0.5
utility u(c) = (c + 1)^beta / E
agent N[2] index n
    state S::money = 10 in [0, Inf]
    state Q::money = 0
    action a::money in 1:3
    observe S[n]
    reward u(a[n]) + I / a[n]
end
step
    pay[n] = ifelse(S[n] > 0, S[n] / S[n], 0) * a[n]
    next S[n] = S[n] - pay[n]
    next Q[n] = Q[n] + pay[n]
end
end
"""
    path = tmp_path / "names.econ"
    path.write_text(text, encoding="utf-8")
    diags = check_file(path).diagnostics
    assert not diags.items, diags.render()
