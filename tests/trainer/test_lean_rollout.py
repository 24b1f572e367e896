"""The lean rollout (issue 16): int8 actions, the observations' shared columns once per replica combined in
the policy's first layer, economy series every ``analytics_every`` iterations. It must give the numbers of
the full rollout: to float rounding in the first layer (W·[s; o] = W_s·s + W_o·o), and metric for metric
over a 40-iteration run of rbc_open's quick preset (in float64, where the reordered sums cannot flip a
sampled action)."""

from pathlib import Path

import pytest
import torch

import econdsl
from econdsl.trainer.config import build_layers
from econdsl.trainer.policy import SplitObs, TypePolicy, action_dtype
from econdsl.trainer.trainer import Trainer

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def rbc():
    return econdsl.load(MODELS / "rbc_open.econ")


def test_narrowest_action_type():
    assert action_dtype([11, 30, 36]) == torch.int8 and action_dtype([127]) == torch.int8
    assert action_dtype([128]) == torch.int16 and action_dtype([40_000]) == torch.int32
    assert action_dtype([]) == torch.int8
    logp = torch.log_softmax(torch.randn(50, 3, 127), -1)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    wide, narrow = TypePolicy.sample(logp, g1), TypePolicy.sample(logp, g2, dtype=torch.int8)
    assert narrow.dtype == torch.int8 and torch.equal(wide, narrow.long())
    assert torch.equal(TypePolicy.log_prob(logp, wide), TypePolicy.log_prob(logp, narrow))


@pytest.mark.parametrize("mode,digits,critic", [("running", None, True), ("digits", [0, 5], True),
                                                ("scaled", [3], False), ("none", None, False)])
def test_split_first_layer_is_the_concatenated_layer(mode, digits, critic):
    """W·[s; o] + b = W_s·s + (W_o·o + b) for every preprocessing (normalised, digit-expanded, scaled), with
    the shared part computed once per group, for groups given by size or by row index (PPO minibatches)."""
    torch.manual_seed(0)
    pol = TypePolicy(8, [3, 4], (16, 16), mode, digit_features=digits, shared_value=critic,
                     obs_scales=[2.0] * 8 if mode == "scaled" else None, n_real=2, shared_columns=[0, 1, 3, 5])
    x = (torch.randn(6, 5, 8) * 5 + 3).double()
    x[:, :, [0, 1, 3, 5]] = x[:, :1, [0, 1, 3, 5]]  # the shared columns: one value per group of 5 rows
    x = x.view(30, 8)
    pol = pol.double()
    pol.norm.update(x)
    split = pol.split(x, 5)
    assert split.shared.shape == (6, 4) and split.own.shape == (30, 4) and torch.equal(pol.concat(split), x)
    plain, v_plain = pol.dist(x)
    lean, v_lean = pol.dist(split)
    for a, b in ((plain.logp, lean.logp), (plain.mean, lean.mean), (v_plain, v_lean)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    idx = torch.randperm(30)[:7]
    part, v_part = pol.dist(split.take(idx))
    torch.testing.assert_close(part.logp, plain.logp[idx], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v_part, v_plain[idx], rtol=1e-12, atol=1e-12)


def test_split_statistics_are_the_repeated_rows_statistics():
    torch.manual_seed(1)
    a = TypePolicy(6, [2], (8,), "digits", digit_features=[1, 4], shared_columns=[1, 2]).double()
    b = TypePolicy(6, [2], (8,), "digits", digit_features=[1, 4], shared_columns=[1, 2]).double()
    x = torch.randn(4, 3, 6).double() * 7
    x[:, :, [1, 2]] = x[:, :1, [1, 2]]
    x = x.view(12, 6)
    for _ in range(2):
        a.update_norm(x)
        b.update_norm(b.split(x, 3))
    for name in ("count", "mean", "m2"):
        torch.testing.assert_close(getattr(a.norm, name), getattr(b.norm, name), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["rbc_open", "nk_calvo", "search_matching", "tax_competition"])
def test_shared_columns_are_the_same_for_every_member(model):
    m = econdsl.load(MODELS / f"{model}.econ")
    env = m.env(3, seed=2)
    obs = env.reset()
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        for a, x in obs.items():
            cols = env.obs_shared[a]
            if cols and not torch.isnan(x).all():
                assert torch.equal(x[:, :, cols], x[:, :1, cols].expand(-1, x.shape[1], -1)), a
        obs, _, _, _ = env.step(env.random_actions(gen))


ALL_MODELS = sorted(p.stem for p in MODELS.glob("*.econ"))


@pytest.mark.parametrize("model,backend", [(m, "torch") for m in ALL_MODELS] +
                         [("cournot", "reference"), ("stackelberg", "reference")])  # the reference is slow
def test_split_observations_are_the_whole_rows(model, backend):
    """``Env(split_obs=True)`` (the torch printer's observe_split / step_observe_split; the reference's
    default slicing) gives the whole rows' numbers: shared columns once per replica, the others per member."""
    m = econdsl.load(MODELS / f"{model}.econ")
    whole, split = m.env(3, backend=backend, seed=1), m.env(3, backend=backend, seed=1, split_obs=True)
    a_obs, b_obs = whole.reset(), split.reset()
    gen = torch.Generator().manual_seed(0)
    for _ in range(min(whole.horizon, 12) + 1):  # through an episode's end (the next one's first observation)
        for a, x in a_obs.items():
            shared, own = b_obs[a]
            cols = whole.obs_shared[a]
            rest = [k for k in range(x.shape[-1]) if k not in cols]
            assert shared.shape == (3, len(cols)) and own.shape == (3, x.shape[1], len(rest))
            torch.testing.assert_close(shared, x[:, 0, cols], rtol=0, atol=0, equal_nan=True)
            torch.testing.assert_close(own, x[:, :, rest], rtol=0, atol=0, equal_nan=True)
        acts = whole.random_actions(gen)
        a_obs, *_ = whole.step(acts)
        b_obs, *_ = split.step(acts)


def test_lean_buffers_hold_narrow_actions_and_the_shared_part_once(rbc):
    layers = build_layers(rbc.resolved, "quick", {"envs": 2, "lean": "on"})
    tr = Trainer(rbc, layers.config, layers.curriculum_consts)
    assert tr.env.quantities is False and tr.env.split_obs and tr.lean
    m = tr.iterate()
    b = tr._buf.types["Consumer"]
    assert b.obs is None and b.actions.dtype == torch.int8
    assert b.shared.shape == (10, 2, 43) and b.own.shape == (10, 2, 100, 2)
    assert isinstance(b.observations(), SplitObs)
    assert "econ/p" in m  # iteration 0 collects the series
    assert layers.config.series_every() == 3  # the quick preset's 300 iterations: 100 points per plot
    assert "econ/p" not in tr.iterate()


def _run(rbc, flags: dict, n: int) -> list[dict]:
    layers = build_layers(rbc.resolved, "quick", {"envs": 2, **flags})
    tr = Trainer(rbc, layers.config, layers.curriculum_consts, dtype=torch.float64)
    return [tr.iterate() for _ in range(n)]


@pytest.mark.slow
def test_lean_rollout_gives_the_full_rollouts_metrics_over_40_iterations(rbc):
    """Every metric of every iteration agrees (econ/… where the lean run collects them: every 5th); float64,
    so that the first layer's reordered sums (differences ~1e-16) cannot flip an inverse-CDF draw."""
    full = _run(rbc, {"lean": "off"}, 40)
    lean = _run(rbc, {"lean": "on", "analytics_every": 5}, 40)
    for e, (a, b) in enumerate(zip(full, lean, strict=True)):
        econ = {k for k in a if k.startswith("econ/")}
        assert econ and (set(b) == set(a) if e % 5 == 0 else set(b) == set(a) - econ), e
        for k, v in b.items():
            if not k.startswith("time/"):
                assert v == pytest.approx(a[k], rel=1e-9, abs=1e-9), (e, k)
