"""`econdsl check` and `econdsl explain`: output formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from econdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
OPEN = str(ROOT / "models" / "rbc_open.econ")
BAD = str(ROOT / "tests" / "golden" / "errors" / "many_errors_one_run.econ")


def test_summary_of_a_clean_model() -> None:
    res = CliRunner().invoke(main, ["check", OPEN])
    assert res.exit_code == 0, res.output
    assert "populations: Consumer[100], Firm[10], Government[1]" in res.output
    assert "observation sizes: Consumer 45, Firm 56, Government 43" in res.output
    assert "demand[Firm] 11 × 10 heads" in res.output
    assert "(horizon 10 steps)" in res.output


def test_summary_says_one_step_in_the_singular() -> None:
    res = CliRunner().invoke(main, ["check", str(ROOT / "models" / "cournot.econ")])
    assert res.exit_code == 0, res.output
    assert "(horizon 1 step)" in res.output


def test_errors_exit_1_with_every_error() -> None:
    res = CliRunner().invoke(main, ["check", "--no-color", BAD])
    assert res.exit_code == 1
    for code in ("E201", "E301", "E403", "E601"):
        assert f"error[{code}]" in res.output
    assert "^" in res.output and "= hint:" in res.output


def test_json_format() -> None:
    res = CliRunner().invoke(main, ["check", "--format", "json", BAD, OPEN])
    assert res.exit_code == 1
    reports = json.loads(res.output)
    assert [r["ok"] for r in reports] == [False, True]
    d = reports[0]["diagnostics"][0]
    assert set(d) >= {"code", "severity", "message", "range", "hint", "file"}


def test_emit_stages() -> None:
    res = CliRunner().invoke(main, ["check", "--emit", "ast", str(ROOT / "models" / "rbc_closed.econ")])
    assert res.exit_code == 0 and json.loads(res.output)["extends"] == "rbc_open"
    res = CliRunner().invoke(main, ["check", "--emit", "resolved", str(ROOT / "models" / "rbc_closed.econ")])
    dump = json.loads(res.output)
    assert dump["symbols"]["B"] == {"kind": "state", "owner": "Consumer", "dims": ["Consumer"], "unit": "money",
                                    "chooses": None}
    assert "p_x" not in dump["consts"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["check"]).exit_code == 2
    assert CliRunner().invoke(main, ["explain", "E999"]).exit_code == 2


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["check", str(tmp_path / "nope.econ")])
    assert res.exit_code == 2 and "does not exist" in res.output  # docs/cli.md: a missing file is misuse


def test_explain() -> None:
    res = CliRunner().invoke(main, ["explain", "E702"])
    assert res.exit_code == 0 and "division" in res.output
    res = CliRunner().invoke(main, ["explain"])
    assert "E901" in res.output
