"""The public runtime API: econdsl.load, Model.env, Env (shapes, dtypes, auto-reset, state, consts,
masks, overrides, seeded parameter draws) and the accounting identity on random trajectories."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import econdsl
from econdsl.language import EconError

MODELS = Path(__file__).resolve().parents[2] / "models"
OPEN = MODELS / "rbc_open.econ"


@pytest.fixture(scope="module")
def model():
    return econdsl.load(OPEN)


def test_api_shapes_and_names(model):
    env = model.env(4, seed=1)
    assert env.agent_types == ["Consumer", "Firm", "Government"]
    assert env.n_agents == {"Consumer": 100, "Firm": 10, "Government": 1}
    assert env.action_nvec == {"Consumer": [11] * 10 + [5, 10], "Firm": [30], "Government": [36]}
    assert env.obs_dim == {"Consumer": 45, "Firm": 56, "Government": 43}
    assert env.obs_labels["Consumer"][:2] == ["p[0]", "p[1]"]
    assert env.obs_labels["Consumer"][-2:] == ["B[j]", "θ[j] * κ"]
    assert env.obs_labels["Firm"][-10:] == [f"onehot(i)[{k}]" for k in range(10)]
    assert env.runtime_consts == ["κ"]
    obs = env.reset()
    for a in env.agent_types:
        assert obs[a].shape == (4, env.n_agents[a], env.obs_dim[a]) and obs[a].dtype == torch.float32
    obs, rew, done, info = env.step(env.random_actions(torch.Generator().manual_seed(0)))
    assert rew["Consumer"].shape == (4, 100) and rew["Firm"].shape == (4, 10) and rew["Government"].shape == (4, 1)
    assert done.shape == (4,) and done.dtype == torch.bool and not done.any()
    s = env.state
    assert s["p"].shape == (4, 10) and s["B"].shape == (4, 100) and s["τ"].shape == (4,)
    assert s["d"].shape == (4, 100, 10) and s["L"].shape == (4, 10) and s["R"].shape == (4,)
    assert s["ρ"].dtype == torch.bool
    # the firm observation holds every firm's price and its own budget
    assert torch.equal(obs["Firm"][:, 3, :10], s["p"]) and torch.equal(obs["Firm"][:, 3, 43], s["B_f"][:, 3])


def test_small_int_actions_and_auto_reset(model):
    env = model.env(2, seed=0)
    first = env.reset()
    gen = torch.Generator().manual_seed(1)
    for t in range(10):
        acts = {a: x.to(torch.int8 if a == "Consumer" else torch.int16) for a, x in env.random_actions(gen).items()}
        obs, rew, done, info = env.step(acts)
        assert bool(done.all()) == (t == 9) and info["t"] == t
    # the returned obs is the first observation of the new episode
    for a in env.agent_types:
        assert torch.equal(obs[a], first[a])
    assert env.t == 0 and float(env.state["p"][0, 0]) == 1000.0
    obs, *_ = env.step(env.random_actions(gen))  # and it keeps going
    assert env.t == 1


def test_bad_actions_are_rejected(model):
    env = model.env(2)
    acts = env.random_actions()
    with pytest.raises(ValueError):
        env.step({**acts, "Firm": acts["Firm"][:, :5]})
    with pytest.raises(TypeError):
        env.step({**acts, "Firm": acts["Firm"].float()})


def test_set_const_changes_disutility(model):
    env = model.env(1, dtype=torch.float64)
    acts = env.random_actions(torch.Generator().manual_seed(2))
    acts["Consumer"][..., :10] = 0  # consume nothing: reward = -θ κ h / 2
    acts["Consumer"][..., 10] = 4
    _, r1, _, _ = env.step(acts)
    env.reset()
    env.set_const("κ", 0.25)
    assert env.get_const("κ") == 0.25
    obs, r2, _, _ = env.step(acts)
    assert torch.allclose(r2["Consumer"], 0.25 * r1["Consumer"])
    theta = 0.01 * (1 - torch.arange(100, dtype=torch.float64) / 100) ** 0.25
    assert torch.allclose(env.reset()["Consumer"][0, :, 44], theta * 0.25)
    with pytest.raises(KeyError):
        env.set_const("η", 0.5)


def test_action_masks(model):
    env = model.env(1)
    m = env.action_mask("Consumer")
    assert m.shape == (12, 11) and m.dtype == torch.bool
    assert m[0].all() and m[10, :5].all() and not m[10, 5:].any()
    new = torch.zeros(1, 30, dtype=torch.bool)
    new[0, 12] = True
    env.set_action_mask("Firm", new)
    assert torch.equal(env.action_mask("Firm"), new)
    with pytest.raises(ValueError):
        env.set_action_mask("Firm", torch.ones(1, 29, dtype=torch.bool))


def test_overrides():
    closed_like = econdsl.load(OPEN, {"q_x": 0, "α": [0.5] * 10, "N_a": 10})
    env = closed_like.env(1, dtype=torch.float64)
    assert torch.allclose(env.state["α"], torch.full((1, 10), 0.5, dtype=torch.float64))
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        env.step(env.random_actions(gen))
        assert float(env.state["X"].abs().sum()) == 0.0
    with pytest.raises(EconError) as err:
        econdsl.load(OPEN, {"no_such_constant": 1})
    assert "E205" in str(err.value)


DRAWS = """
model draws
horizon 3
agent Trader[6] index k
    param a ~ Normal(2, 0.5)
    param b ~ Uniform(1, 3)
    param c ~ LogNormal(0, 0.25)
    param d ~ Pareto(1, 4)
    state m = 10 * b[k]
    action x in {0, 1, 2}
    observe a[k], b[k], c[k], d[k], m[k]
    reward m[k] * x[k] + a[k] + c[k] + d[k]
end
step
    next m[k] = m[k] + x[k]
end
end
"""


@pytest.fixture
def draws_model(tmp_path):
    p = tmp_path / "draws.econ"
    p.write_text(DRAWS, encoding="utf-8")
    return econdsl.load(p)


def test_seeded_draws_are_the_same_on_every_backend(draws_model):
    ref = draws_model.env(5, backend="reference", seed=11).state
    for backend, dtype in (("torch", torch.float64), ("torch", torch.float32)):
        s = draws_model.env(5, backend=backend, dtype=dtype, seed=11).state
        for name in "abcd":
            assert torch.allclose(s[name].double(), ref[name].double(), rtol=1e-5), (backend, name)
    other = draws_model.env(5, seed=12).state
    assert not torch.allclose(other["a"].double(), ref["a"].double())
    # the draws follow their distributions: bounds and (coarse) moments over many replicas
    big = draws_model.env(4000, dtype=torch.float64, seed=0).state
    assert abs(float(big["a"].mean()) - 2) < 0.02 and abs(float(big["a"].std()) - 0.5) < 0.02
    assert float(big["b"].min()) >= 1 and float(big["b"].max()) <= 3
    assert float(big["c"].min()) > 0 and float(big["d"].min()) >= 1
    assert torch.allclose(big["m"], 10 * big["b"])  # initial states may use parameters


def _budget_sum(state, names) -> torch.Tensor:
    return sum(state[n].double().reshape(state[n].shape[0], -1).sum(1) for n in names)


@pytest.mark.parametrize("path,overrides", [(OPEN, None), (MODELS / "rbc_closed.econ", None), (OPEN, {"r": 0.1})],
                         ids=["open", "closed", "open-interest"])
def test_accounting_identity_every_step(path, overrides):
    """Σ changes of all money budgets = Σ declared externals, every step of random trajectories."""
    m = econdsl.load(path, overrides)
    budgets = [b.name for b in m.program.buffers if b.kind == "state" and b.unit == "money"]
    assert sorted(budgets) == ["B", "B_f", "K"]  # capital is valued in money
    env = m.env(4, dtype=torch.float64, accounting=True, seed=5)
    gen = torch.Generator().manual_seed(5)
    before = _budget_sum(env.state, budgets)
    for t in range(25):
        _, _, done, info = env.step(env.random_actions(gen))
        ext = sum(info["externals"].values())
        if bool(done[0]):  # the budgets were reset; compare with the quantities of the last step instead
            before = _budget_sum(env.state, budgets)
            continue
        after = _budget_sum(env.state, budgets)
        scale = float(after.abs().max())
        assert torch.allclose(after - before, ext, atol=1e-9 * scale), (t, after - before, ext)
        before = after


def test_stages_observe_the_earlier_stages_actions():
    """Stackelberg: the follower's observation is the leader's quantity of the same period, known only
    through observe_stage; the step then pays both with the period's price."""
    from econdsl.compiler.ir import real_key

    env = econdsl.load(MODELS / "stackelberg.econ").env(2, backend="torch", dtype=torch.float64)
    assert env.stages == [["Leader"], ["Follower"]]
    obs = env.reset()
    assert torch.isnan(obs["Follower"]).all() and not torch.isnan(obs["Leader"]).any()
    none = torch.zeros(2, 1, 0, dtype=torch.long)
    leader = {"Leader": none, real_key("Leader"): torch.tensor([[[45.0]], [[30.0]]])}
    assert env.observe_stage(leader, 1)["Follower"].flatten().tolist() == [45.0, 30.0]
    acts = {**leader, "Follower": none, real_key("Follower"): torch.tensor([[[22.5]], [[30.0]]])}
    obs, rew, _, _ = env.step(acts)
    assert rew["Leader"].flatten().tolist() == [(100 - 67.5 - 10) * 45, (100 - 60 - 10) * 30]
    assert rew["Follower"].flatten().tolist() == [(100 - 67.5 - 10) * 22.5, (100 - 60 - 10) * 30]
    assert torch.isnan(obs["Follower"]).all()
