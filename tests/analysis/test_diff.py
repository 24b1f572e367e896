"""`econdsl diff`: semantic differences by name, expressions compared structurally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.analysis import source
from econdsl.analysis.diff import diff_files, load_flat
from econdsl.cli import main
from econdsl.language import ast
from econdsl.language.diagnostics import Diagnostics
from econdsl.language.parser import parse

MODELS = Path(__file__).resolve().parents[2] / "models"


def _variant(tmp_path: Path, body: str, name: str = "v.econ") -> Path:
    (tmp_path / "rbc_open.econ").write_text((MODELS / "rbc_open.econ").read_text(encoding="utf-8"),
                                            encoding="utf-8")
    p = tmp_path / name
    p.write_text(f'import "rbc_open.econ"\n\nmodel v extends rbc_open\n{body}\nend\n', encoding="utf-8")
    return p


def test_open_vs_closed_is_exactly_the_export_change() -> None:
    d = diff_files(MODELS / "rbc_open.econ", MODELS / "rbc_closed.econ")
    got = {(c.section, c.name, c.status) for c in d.changes}
    assert got == {("equations", "X", "changed"), ("constants", "p_x", "removed"),
                   ("constants", "q_x", "removed")}
    x = d.section("equations")[0]
    assert x.new == "X[i] = 0"
    assert x.old == "X[i] = ifelse(p[i] >= p_x, max(0, min(q_x, y[i] - C[i])), 0)"


def test_identical_files_have_no_differences(tmp_path: Path) -> None:
    d = diff_files(MODELS / "rbc_open.econ", MODELS / "rbc_open.econ")
    assert d.identical and d.changes == []
    # Spacing, comments and operator spelling are not differences either.
    text = (MODELS / "rbc_open.econ").read_text(encoding="utf-8")
    reworded = text.replace("S[j] > 0 && S[j] > B[j]", "S[j]>0 and S[j]>B[j]").replace(
        "const A = 0.01 ", "const A = 0.010   # reworded\n")
    assert reworded != text
    other = tmp_path / "rbc_open.econ"
    other.write_text(reworded, encoding="utf-8")
    assert diff_files(MODELS / "rbc_open.econ", other).identical


def test_set_variant_shows_the_value_change(tmp_path: Path) -> None:
    d = diff_files(MODELS / "rbc_open.econ", _variant(tmp_path, "    set η = 0.2\n    set q_x = 50"))
    by_name = {c.name: c for c in d.changes}
    assert set(by_name) == {"η", "q_x"}
    assert by_name["η"].status == "changed"
    assert by_name["η"].old == "const η = 0.1" and by_name["η"].new == "const η = 0.2"
    assert by_name["q_x"].new == "const q_x::goods = 50"


def test_added_removed_and_replaced_items(tmp_path: Path) -> None:
    body = ("    replace reward r_c[j] * 2\n"
            "    remove Y\n"
            "    const extra = 3\n")
    d = diff_files(MODELS / "rbc_open.econ", _variant(tmp_path, body))
    got = {(c.section, c.name, c.status) for c in d.changes}
    assert got == {("equations", "Y", "removed"), ("constants", "extra", "added"), ("rewards", "Consumer", "changed")}
    reward = next(c for c in d.changes if c.section == "rewards")
    assert (reward.old, reward.new) == ("r_c[j]", "r_c[j] * 2")


def test_preset_and_curriculum_values(tmp_path: Path) -> None:
    text = (MODELS / "rbc_open.econ").read_text(encoding="utf-8")
    changed = text.replace("N_a = 60", "N_a = 120", 1).replace("const D_decay = 10000", "const D_decay = 5000")
    other = tmp_path / "rbc_open.econ"
    other.write_text(changed, encoding="utf-8")
    d = diff_files(MODELS / "rbc_open.econ", other)
    got = {(c.section, c.name): c for c in d.changes}
    assert set(got) == {("train", "preset quick: N_a"), ("curriculum", "const D_decay")}
    assert got[("train", "preset quick: N_a")].new == "N_a = 120"


@pytest.mark.parametrize("model", sorted(p.name for p in MODELS.glob("*.econ")))
def test_printed_expressions_parse_back_to_the_same_ast(model: str) -> None:
    """The diff's source form is faithful: every expression of every model round-trips."""
    flat = load_flat(MODELS / model)
    exprs = [n for n in flat.walk() if isinstance(n, ast.Equation)]
    assert exprs
    for eq in exprs:
        sign = "~" if isinstance(eq.value, ast.Draw) else "="  # a draw is written `z ~ Dist(...)`
        text = f"model m\nstep\n    z {sign} {source.expr(eq.value)}\nend\nend\n"
        back = parse(text, "<t>", Diagnostics())
        assert back is not None, text
        step = next(it for it in back.items if isinstance(it, ast.Step))
        assert step.equations[0].value == eq.value, source.expr(eq.value)


def test_precedence_needs_parentheses() -> None:
    e = ast.BinOp("*", ast.BinOp("+", ast.Name("a"), ast.Name("b")), ast.Name("c"))
    assert source.expr(e) == "(a + b) * c"
    e = ast.BinOp("-", ast.Name("a"), ast.BinOp("-", ast.Name("b"), ast.Name("c")))
    assert source.expr(e) == "a - (b - c)"
    e = ast.BinOp("^", ast.BinOp("^", ast.Name("a"), ast.Name("b")), ast.Name("c"))
    assert source.expr(e) == "(a^b)^c"


def test_cli_formats(tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = str(MODELS / "rbc_open.econ"), str(MODELS / "rbc_closed.econ")
    r = runner.invoke(main, ["diff", a, b])
    assert r.exit_code == 0, r.output
    assert "- p_x" in r.output and "X[i] = 0" in r.output
    r = runner.invoke(main, ["diff", a, b, "--format", "json"])
    data = json.loads(r.output)
    assert not data["identical"] and len(data["changes"]) == 3
    r = runner.invoke(main, ["diff", a, b, "--format", "markdown"])
    assert "| equations | `X` | changed |" in r.output
    r = runner.invoke(main, ["diff", a, a, "--exit-code"])
    assert r.exit_code == 0 and "no semantic differences" in r.output
    r = runner.invoke(main, ["diff", a, b, "--exit-code"])
    assert r.exit_code == 1
    bad = tmp_path / "bad.econ"
    bad.write_text("model x\n  const = \nend\n", encoding="utf-8")
    r = runner.invoke(main, ["diff", a, str(bad)])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_removing_the_stages_is_a_change(tmp_path: Path) -> None:
    text = (MODELS / "stackelberg.econ").read_text(encoding="utf-8")
    p = tmp_path / "simultaneous.econ"
    p.write_text(text.replace("stage lead: Leader\n", "").replace("stage follow: Follower\n", "")
                 .replace("    observe q_L ", "    observe c   "), encoding="utf-8")
    d = diff_files(MODELS / "stackelberg.econ", p)
    eqs = {c.name: c for c in d.section("equations")}
    assert eqs["(stages)"].status == "removed" and "stage lead: Leader" in eqs["(stages)"].old
    assert "(stage follow)" in eqs["Q"].old and "(stage" not in eqs["Q"].new
