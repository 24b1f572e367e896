"""The training progress fits an 80-column terminal and says where the run is; off a terminal it prints
one plain line every few iterations."""

import io
import re
from pathlib import Path

from econdsl.language import check_model
from econdsl.trainer.curriculum import Curriculum
from econdsl.trainer.progress import TrainProgress, describe_stage

MODELS = Path(__file__).resolve().parents[2] / "models"
METRICS = {"time/env_steps_per_s": 426.0, "Consumer/reward": 4.864, "Firm/reward": -65590.0,
           "Government/reward": 123.4}
TYPES = ["Consumer", "Firm", "Government"]
STAGE = "Firm trains from iteration 80, Government from 160; Firm actions limited (3% allowed); κ=0.0392"


def _lines(text: str) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # drop the terminal's cursor and colour codes
    return [ln for ln in re.split(r"[\r\n]", plain) if ln.strip()]


def test_progress_line_at_80_columns_has_iterations_bar_and_eta():
    out = io.StringIO()
    with TrainProgress(400, 0, TYPES, stream=out, terminal=True, width=80) as p:
        for it in range(1, 298):
            p.update(it, METRICS, STAGE)
    lines = _lines(out.getvalue())
    assert all(len(ln) <= 80 for ln in lines), max(lines, key=len)
    bar = [ln for ln in lines if "297/400" in ln]
    assert bar and "eta" in bar[-1] and "━" in bar[-1]
    status = [ln for ln in lines if "env-steps/s" in ln]
    assert status and "426 env-steps/s" in status[-1] and "Firm trains from iteration 80" in status[-1]


def test_plain_lines_off_a_terminal():
    out = io.StringIO()
    with TrainProgress(100, 0, TYPES, stream=out, terminal=False) as p:
        for it in range(1, 101):
            p.update(it, METRICS, STAGE)
    lines = out.getvalue().splitlines()
    assert len(lines) == 20  # one per 5% of the run, the last at 100/100
    assert lines[0].startswith("it 5/100 (5%)") and " eta " in lines[0]
    assert lines[-1].startswith("it 100/100 (100%)") and "eta 0:00:00" in lines[-1]


def test_stage_in_words_follows_the_curriculum():
    cur = Curriculum(check_model(MODELS / "rbc_open.econ"), {"N_a": 80, "D_decay": 40})
    first = describe_stage(cur, 0)
    assert "Firm trains from iteration 80, Government from 160" in first
    assert "Firm actions limited" in first and "κ=0" in first
    late = describe_stage(cur, 500)
    assert "trains from" not in late and "Firm actions limited" not in late
    assert describe_stage(Curriculum(cur.resolved, enabled=False), 0).startswith("no curriculum")
