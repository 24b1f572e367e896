"""The health check's collapse finding: an activity that stopped (hours, goods), not a choice that is 0."""

from pathlib import Path

import numpy as np
import pytest

import econdsl
from econdsl.trainer.curriculum import head_layout
from econdsl.trainer.health import _collapse

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def rbc():
    return econdsl.load(MODELS / "rbc_open.econ").resolved


def _chosen(resolved, agent: str, n: int, index: dict[int, int]) -> np.ndarray:
    """Evaluation-shaped grid indices [T=3, E=2, n, columns]: head k's columns at index[k], others at 1."""
    cols = head_layout(resolved, agent).columns
    row = np.array([index.get(h, 1) for h in cols])
    return np.broadcast_to(row, (3, 2, n, len(cols))).copy()


def test_taxes_at_zero_are_a_choice_hours_at_zero_a_collapse(rbc):
    heads = {a: [h.components for h in rbc.heads[a]] for a in ("Consumer", "Government")}
    hours = heads["Consumer"].index(("hours",))
    arrays = {"action/Government": _chosen(rbc, "Government", 1, {0: 0}),  # income and corporate tax 0
              "action/Consumer": _chosen(rbc, "Consumer", 100, {})}
    found = [f for f in _collapse(arrays, rbc, skip=set()) if f.check == "collapse"]
    assert [f.level for f in found] == ["ok"], found  # a tax rate of 0 is a choice
    arrays["action/Consumer"] = _chosen(rbc, "Consumer", 100, {hours: 0})  # nobody works
    found = [f for f in _collapse(arrays, rbc, skip=set()) if f.check == "collapse"]
    assert len(found) == 1 and found[0].level == "warning" and "`hours` = 0" in found[0].detail, found
