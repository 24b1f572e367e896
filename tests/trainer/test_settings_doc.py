"""`econdsl settings` and `econdsl train --help` list every training setting with its default, range and
meaning; a misspelt setting gets "did you mean"."""

from click.testing import CliRunner

from econdsl.cli import main
from econdsl.trainer.config import PER_TYPE, SETTINGS
from econdsl.trainer.settings_doc import settings

from .fakes import MODELS


def test_every_setting_has_a_default_a_range_and_a_meaning():
    docs = {s.name: s for s in settings()}
    assert set(docs) == set(SETTINGS)
    for s in docs.values():
        assert s.default and s.range and len(s.meaning) > 10, s
    assert docs["lr"].range == "> 0" and docs["lr"].per_type and docs["lr"].default == "0.001"
    assert docs["returns"].range == "gae | monte_carlo" and docs["gamma"].range == "0-1"
    assert {s.name for s in docs.values() if s.per_type} == set(PER_TYPE)


def test_settings_command_and_train_help_list_them_within_80_columns():
    runner = CliRunner()
    out = runner.invoke(main, ["settings"], terminal_width=80).output
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    for name in SETTINGS:
        assert any(ln.startswith(name) and "default" in ln and "range" in ln for ln in lines), name
    helped = runner.invoke(main, ["train", "--help"], terminal_width=80).output
    for name in SETTINGS:
        assert f"\n  {name}" in helped, name
    assert "  lr[Type]  default 0.001  range > 0" in helped
    table = runner.invoke(main, ["settings", "--format", "markdown"]).output
    assert "| `entropy` (per type) | `0.01` | ≥ 0 |" in table


def test_misspelt_setting_gets_did_you_mean(tmp_path):
    res = CliRunner().invoke(main, ["train", str(MODELS / "cournot.econ"), "--set", "lrr=0.1",
                                    "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "did you mean `lr`?" in res.output
    assert not (tmp_path / "r").exists()
