"""`extends` adds to a base model: declarations to an existing agent, new agents and economy-wide states,
and step equations at a named place (`step after cash`); the variant compiles and runs like any model."""

from __future__ import annotations

from pathlib import Path

import torch

import econdsl
from econdsl.language import check_file

VARIANT = Path(__file__).resolve().parent / "data" / "variants" / "aiyagari_tax.econ"


def test_additions_land_where_they_are_named():
    result = check_file(VARIANT)
    assert not result.diagnostics.has_errors(), result.diagnostics.render()
    r = result.resolved
    order = [("next " if e.is_next else "") + e.name for e in r.equations]
    assert order.index("tax") == order.index("cash") + 1 and order.index("tax") < order.index("c")
    assert order[-2:] == ["next paid", "next τ_last"]
    household = r.agents["Household"]
    assert {d.name for d in household.decls} >= {"a", "e", "paid", "s"}
    assert r.symbols["paid"].owner == "Household" and "Government" in r.agents


def test_variant_runs_and_taxes_reduce_consumption():
    model = econdsl.load(VARIANT)
    env = model.env(3, backend="torch", dtype=torch.float64, seed=2)
    assert env.obs_dim["Household"] == 7
    gen = torch.Generator().manual_seed(2)
    z = torch.tensor([0.2, 1.0, 1.8], dtype=torch.float64)
    for _ in range(4):
        e, w = env.state["e"].long(), env.state["w"]  # this period's productivity and wage
        acts = env.random_actions(gen)
        env.step(acts)
        s = env.state
        saved = acts["Household"][:, :, 0].double() * 0.05  # the grid 0:0.05:0.95
        τ = acts["Government"][:, 0, 0].double() * 0.1  # the grid {0, 0.1, 0.2}
        assert torch.allclose(s["tax"], τ[:, None] * w[:, None] * z[e])
        assert torch.allclose(s["c"], (1 - saved) * s["cash"] - s["tax"])


def test_unknown_place_is_a_located_error(tmp_path):
    text = VARIANT.read_text(encoding="utf-8").replace("step after cash", "step after cashh")
    text = text.replace('import "../../../../models/aiyagari.econ"',
                        f'import "{(VARIANT.parent / "../../../../models/aiyagari.econ").resolve()}"')
    bad = tmp_path / "bad.econ"
    bad.write_text(text, encoding="utf-8")
    diags = check_file(bad).diagnostics
    assert any(d.code == "E205" and "cashh" in d.message for d in diags.items)
