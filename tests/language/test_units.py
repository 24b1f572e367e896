"""The units rule: a name declared without a unit is a pure number, so unit errors cannot hide behind
missing annotations; what cannot be checked (fractional powers of dimensioned values) is listed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from econdsl.cli import main
from econdsl.language import check_file

ROOT = Path(__file__).resolve().parents[2]

# A market with one seller and three buyers; each variant below changes one line.
MARKET = """
model market
horizon 1
const cost::money/goods = 2
const unit::goods = 1
function twice(x) = 2 * x
agent Buyer[3] index c
    param wtp::money/goods = 1 + 9 * c / 2
    action buy in {0, 1}
    observe wtp[c]
    reward surplus[c]
end
agent Seller
    state p::money/goods = 5 in [0, 10]
    state w::money/hours = 1 in [0, 10]
    action (price::money/goods, wage::money/hours) in {4, 5} × {1, 2}
    observe p
    reward profit
end
step
    q[c] = buy[c] * unit
    surplus[c] = (wtp[c] - p) * q[c]
    sold = sum(q[c] for c in Buyer)
    profit = twice(p * sold) - cost * sold
    next p = price
    next w = wage
end
end
"""


def diagnostics(tmp_path: Path, text: str, old: str = "", new: str = "") -> list[str]:
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "model.econ"
    path.write_text(text, encoding="utf-8")
    return [f"{d.code} {d.span.line}: {d.message}" for d in check_file(path).diagnostics.items]


def test_the_market_is_clean(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, MARKET) == []


def test_an_unannotated_constant_is_a_pure_number(tmp_path: Path) -> None:
    got = diagnostics(tmp_path, MARKET, "const cost::money/goods = 2", "const cost = 2")
    assert got == ["E601 24: `-` mixes `money` and `goods`"]


def test_joint_components_carry_their_own_units(tmp_path: Path) -> None:
    got = diagnostics(tmp_path, MARKET, "next p = price\n    next w = wage", "next p = wage\n    next w = price")
    assert sorted(got) == ["E601 25: `p` is in `money/goods`, but its transition gives `money/hours`",
                           "E601 26: `w` is in `money/hours`, but its transition gives `money/goods`"]


def test_an_unannotated_function_argument_takes_the_unit_of_each_call(tmp_path: Path) -> None:
    # twice(money) is money; a body that adds money/goods to its argument is wrong for this call only
    got = diagnostics(tmp_path, MARKET, "function twice(x) = 2 * x", "function twice(x) = x + cost")
    assert len(got) == 1 and got[0].startswith("E601 24: with the units of these arguments, the body of `twice`")


def test_a_formula_of_the_index_takes_the_declared_unit(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, MARKET, "1 + 9 * c / 2", "1 + 9 * c / 49") == []
    # but a declared unit is still checked against the names the formula uses
    got = diagnostics(tmp_path, MARKET, "1 + 9 * c / 2", "unit + 9 * c / 2")
    assert got == ["E601 8: `wtp` is declared in `money/goods`, but its value is in `goods`"]


def test_check_lists_what_it_could_not_check(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["check", "--no-color", str(ROOT / "models" / "rbc_open.econ")])
    assert res.exit_code == 0, res.output
    assert "not checked (3)" in res.output
    assert "`(c + 1)^(1 - η)` has no unit: `goods` to the power 0.9" in res.output
    assert "`L^α` has no unit: `hours` to a power that is not a constant" in res.output
    res = CliRunner().invoke(main, ["check", "--no-color", str(ROOT / "models" / "cournot.econ")])
    assert res.exit_code == 0 and "not checked" not in res.output
