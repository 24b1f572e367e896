"""Vector/matrix constants, whole-number states and member states: every backend agrees with the
reference, and the reference computes what the model says (tables read at the state's value)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from backends_under_test import params
from tolerances import compare, lockstep

import econdsl

MODELS = Path(__file__).resolve().parent / "models"
TABLES = MODELS / "tables_and_levels.econ"


@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_tables_and_levels_match_reference(backend, dtype, tol):
    program = econdsl.load(TABLES).program
    for label, got, ref, mag in lockstep(program, backend, dtype):
        ok, ratio = compare(got, ref, mag, dtype)
        assert ok, f"{label} differs from the reference by {ratio:.3g} eps·M"


def test_tables_are_read_at_the_states_value():
    z = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)
    P = torch.tensor([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]], dtype=torch.float64)
    env = econdsl.load(TABLES).env(4, backend="reference", dtype=torch.float64, seed=3)
    gen = torch.Generator().manual_seed(3)
    for _ in range(env.horizon - 1):  # within one episode (no reset)
        s = env.state
        env.step(env.random_actions(gen))
        e, k = s["e"].long(), s["k"].long()
        want = s["a"] + z[e] * P[e, 2] + torch.gather(s["w"], 1, k)
        assert torch.allclose(env.state["a"], want, rtol=1e-12)
        assert set(env.state["e"].unique().tolist()) <= {0.0, 1.0, 2.0}
        assert set(env.state["k"].unique().tolist()) <= {0.0, 1.0, 2.0}
