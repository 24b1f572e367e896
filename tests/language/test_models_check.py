"""Every model in models/ passes `econdsl check` with no errors and no warnings."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.cli import main
from econdsl.language import check_file

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.econ"))


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_model_is_clean(path):
    result = check_file(path)
    assert not result.diagnostics.has_errors(), result.diagnostics.render()
    assert not result.diagnostics.warnings, result.diagnostics.render()  # no setting without effect (W1010)
    assert result.resolved is not None


def test_cli_check_all_models_exit_zero():
    res = CliRunner().invoke(main, ["check", *map(str, MODELS)])
    assert res.exit_code == 0, res.output
    assert "rbc_open" in res.output


def test_rbc_open_shapes():
    r = check_file(MODELS[0].parent / "rbc_open.econ").resolved
    assert {p.name: p.size for p in r.populations.values()} == {"Consumer": 100, "Firm": 10, "Government": 1}
    heads = {a: [h.n for h in hs] for a, hs in r.heads.items()}
    assert heads == {"Consumer": [11, 5, 10], "Firm": [30], "Government": [36]}
    assert r.symbols["demand"].dims == ("Consumer", "Firm")
