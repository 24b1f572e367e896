"""The run report judges the run: its health section flags broken runs (nobody works; a policy that cannot
learn) and passes a good one; every panel it draws says its unit; the HTML page stands alone."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from econdsl.cli import main
from econdsl.trainer import session
from econdsl.trainer.report import MAX_PANELS, build_report

pytestmark = pytest.mark.slow  # five small training runs (about a minute on two idle cores)

MODELS = Path(__file__).resolve().parents[2] / "models"


def _run(out: Path, seed: int, iterations: int, **sets: str) -> Path:
    s = session.prepare(str(MODELS / "labour_leisure.econ"), str(out),
                        sets={"threads": "1", "envs": "32", **sets}, flags={"iterations": iterations, "seed": seed})
    session.train(s)
    return out


def _problems(report) -> dict[str, str]:
    return {f.check: f.detail for f in report.findings if f.level != "ok"}


def _titles_have_units(report) -> None:
    assert report.figures
    for fig in report.figures:
        assert 0 < len(fig.titles) <= MAX_PANELS, fig.file
        for title in fig.titles:
            assert title.endswith(")") and ("(no unit)" in title or "(" in title.split("\n")[-1]), (fig.file, title)


@pytest.mark.parametrize("seed", [0, 1])
def test_good_run_passes_and_every_panel_has_a_unit(tmp_path, seed):
    report = build_report(_run(tmp_path / "good", seed, 60))
    assert _problems(report) == {}, _problems(report)
    _titles_have_units(report)
    md = report.markdown.read_text(encoding="utf-8")
    assert "## Health" in md and "no problem found" in md and "**sampled** actions" in md
    page = report.html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and 'src="episode_' not in page  # figures embedded


@pytest.mark.parametrize("seed", [0, 1])
def test_nobody_works_is_a_collapse(tmp_path, seed):
    # χ = 1000: every hour of work costs far more than it earns, so the optimum is h = 0 for everyone
    report = build_report(_run(tmp_path / "lazy", seed, 40, **{"χ": "1000"}))
    assert "hours` = 0" in _problems(report).get("collapse", "")
    _titles_have_units(report)


def test_a_policy_that_does_not_learn_keeps_its_maximum_entropy(tmp_path):
    # lr must be > 0 (the config refuses 0); 1e-9 is zero for every practical purpose
    report = build_report(_run(tmp_path / "frozen", 0, 20, lr="1e-9"))
    assert "close to uniformly random" in _problems(report).get("entropy near its maximum", "")
    res = CliRunner().invoke(main, ["report", str(tmp_path / "frozen"), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0 and "entropy near its maximum" in res.output
    assert (tmp_path / "rep" / "report.html").exists()


def test_entropy_table_marks_the_heads_without_a_bonus() -> None:
    from econdsl.trainer.report import _entropy_table

    row = {"Consumer/entropy": "12.0", "Consumer/entropy[demand]": "1.2", "Consumer/entropy_fraction[demand]": "0.5",
           "Consumer/entropy[hours]": "0.8", "Consumer/entropy_fraction[hours]": "0.5",
           "Firm/entropy[(price, wage)]": "1.0", "Firm/entropy_fraction[(price, wage)]": "0.5"}
    info = {"architecture": {"types": {"Consumer": {"action_nvec": [11] * 10 + [5]}, "Firm": {"action_nvec": [6]}}},
            "config": {"per_type": {"entropy_exclude": {"Consumer": "demand", "Firm": "wage"}}}}
    table = "\n".join(_entropy_table([row] * 10, info, ["Consumer", "Firm"]))
    assert "| Consumer | demand (per column, no bonus) | 1.2 |" in table
    assert "| Consumer | hours (per column) | 0.8 |" in table  # the bonus as before
    assert "| Firm | (price, wage) (per column, no bonus) |" in table  # a joint head, named by a component
