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
ECONOMY = MODELS / "economy_states.econ"
LINK = MODELS / "employer_link.econ"


@pytest.mark.parametrize("path", [TABLES, ECONOMY, LINK], ids=lambda p: p.stem)
@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_tables_and_levels_match_reference(path, backend, dtype, tol):
    program = econdsl.load(path).program
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


def test_economy_wide_states_are_one_per_replica():
    env = econdsl.load(ECONOMY).env(4, backend="torch", dtype=torch.float64, seed=5)
    gen = torch.Generator().manual_seed(5)
    assert env.obs_dim == {"H": 5, "Bank": 2}
    for _ in range(env.horizon - 1):
        before = env.state
        obs, _, _, _ = env.step(env.random_actions(gen))
        s = env.state
        assert s["z"].shape == s["K"].shape == s["regime"].shape == (4,)
        rate = s["K"] - before["k"].sum(1)  # K is next from this step's k (start-of-step values)
        assert set(rate.round().tolist()) <= {0.0, 1.0}
        assert torch.allclose(obs["H"][:, :, 1], s["K"][:, None].expand(4, 3))  # every member sees K
        assert torch.allclose(obs["Bank"][:, 0, 1], s["z"])
        assert not torch.equal(s["z"], before["z"])  # the shock is drawn every step


def test_money_paid_through_a_member_state_balances(tmp_path):
    """The accounting check follows `w[employer[j]]` from the firm's budget to the worker's; a payment that
    arrives nowhere is E901."""
    from econdsl.language import check_file

    assert not check_file(LINK).diagnostics.has_errors()
    text = LINK.read_text(encoding="utf-8")
    old = "next B_f[i] = B_f[i] - bill[i]"
    assert old in text
    bad = tmp_path / "leak.econ"
    bad.write_text(text.replace(old, "next B_f[i] = B_f[i] - bill[i] + dw * h"), encoding="utf-8")
    assert "E901" in {d.code for d in check_file(bad).diagnostics.items}
    env = econdsl.load(LINK).env(2, backend="torch", dtype=torch.float64, seed=1)
    gen = torch.Generator().manual_seed(1)
    for _ in range(env.horizon - 1):
        before = env.state
        env.step(env.random_actions(gen))
        after = env.state
        total = lambda s: s["B"].sum(1) + s["B_f"].sum(1)  # noqa: E731
        assert torch.allclose(total(after), total(before))
        paid = torch.gather(before["w"], 1, before["employer"].long()) * 8
        assert torch.allclose(after["B"] - before["B"], paid)
