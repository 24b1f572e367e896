"""The PettingZoo adapters pass PettingZoo's own API tests (parallel; AEC, stage by stage) and expose Gymnasium
spaces."""

from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import api_test, parallel_api_test

from econdsl.runtime.pettingzoo_env import aec_env, parallel_env

MODELS = Path(__file__).resolve().parents[2] / "models"
STAGED_MARKET = MODELS.parent / "tests" / "compiler" / "models" / "staged_market.econ"


def test_parallel_api_test_rbc_open():
    env = parallel_env(str(MODELS / "rbc_open.econ"))
    parallel_api_test(env, num_cycles=25)


def test_spaces_and_episode_end():
    env = parallel_env(str(MODELS / "rbc_open.econ"))
    assert len(env.possible_agents) == 111
    assert env.possible_agents[0] == "Consumer_0" and env.possible_agents[-1] == "Government"
    assert env.observation_space("Consumer_3").shape == (45,)
    assert env.observation_space("Firm_0").shape == (56,)
    assert env.observation_space("Government").shape == (43,)
    assert isinstance(env.action_space("Consumer_0"), spaces.MultiDiscrete)
    assert list(env.action_space("Consumer_0").nvec) == [11] * 10 + [5, 10]
    assert list(env.action_space("Firm_2").nvec) == [30]
    obs, _ = env.reset(seed=3)
    assert obs["Firm_0"].dtype == np.float32
    steps = 0
    while env.agents:
        acts = {a: env.action_space(a).sample() for a in env.agents}
        obs, rew, term, trunc, _ = env.step(acts)
        steps += 1
    assert steps == 10 and all(trunc.values()) and not any(term.values())
    # the last observation is the state the episode ended in (t = 10 in the time column)
    assert obs["Government"][42] == 10.0


def test_continuous_heads_are_box_spaces():
    """Continuous heads: a Box of their intervals; a type with both kinds of heads: a Dict of the two."""
    env = parallel_env(str(MODELS.parent / "tests" / "compiler" / "models" / "continuous_mix.econ"))
    gov, firm, household = (env.action_space(n) for n in ("Government", "Firm_0", "Household_1"))
    assert isinstance(gov, spaces.Box) and list(gov.low) == [0.0] and list(gov.high) == [0.5]
    # markup[Household] (3 columns in [0.5, 1.5]), then raise in [-0.2, 0.3]
    assert list(firm["continuous"].low) == pytest.approx([0.5] * 3 + [-0.2])
    assert list(firm["continuous"].high) == pytest.approx([1.5] * 3 + [0.3])
    assert list(firm["discrete"].nvec) == [3] * 3
    assert list(household["continuous"].high) == [40.0, 1.0] and list(household["discrete"].nvec) == [2, 3]
    parallel_api_test(env, num_cycles=6)
    env.reset(seed=1)
    env.step({"Government": np.array([0.25], np.float32)})
    # missing actions: hours and savings at their lower bound 0, no bonus, so consume = (1 - 0.25) · wealth
    assert env._env.state["consume"].tolist() == [[7.5, 7.5, 7.5]]


def test_a_staged_model_has_no_parallel_api():
    with pytest.raises(ValueError, match="has stages.*aec_env"):
        parallel_env(str(MODELS / "stackelberg.econ"))


@pytest.mark.parametrize("model", [MODELS / "stackelberg.econ", STAGED_MARKET,
                                   MODELS / "labour_leisure_continuous.econ"])
def test_aec_api_test(model):
    """Staged models (two and three stages, continuous and discrete heads) and one without stages."""
    api_test(aec_env(str(model)), num_cycles=12)


def test_aec_agents_act_stage_by_stage_and_later_stages_see_earlier_actions():
    env = aec_env(str(MODELS / "stackelberg.econ"))
    env.reset(seed=0)
    assert env.possible_agents == ["Leader", "Follower"] and env.agent_selection == "Leader"
    assert np.isnan(env.observe("Follower")).all()  # its stage has not begun: q_L is not known yet
    env.step(np.array([40.0], np.float32))
    assert env.agent_selection == "Follower" and env.observe("Follower").tolist() == [40.0]
    assert env.rewards == {"Leader": 0.0, "Follower": 0.0}
    env.step(np.array([20.0], np.float32))
    # P = 100 - 60 = 40: π_L = (40 - 10) · 40, π_F = (40 - 10) · 20; horizon 1, so the episode ends
    assert env.rewards == {"Leader": 1200.0, "Follower": 600.0}
    assert all(env.truncations.values()) and not any(env.terminations.values())
    for agent in env.agent_iter():
        assert env.last()[1] == {"Leader": 1200.0, "Follower": 600.0}[agent]
        env.step(None)
    assert env.agents == []
    env.reset()
    env.step(np.array([500.0], np.float32))  # out of bounds: clipped to 90, as the step clips it
    assert env.observe("Follower").tolist() == [90.0]


def test_aec_three_stages_observe_in_order():
    """staged_market: the government's tax (stage 1) reaches the firms (stage 2), and the firms' prices and
    rations reach the households (stage 3); the step runs after the last household."""
    env = aec_env(str(STAGED_MARKET))
    env.reset(seed=0)
    assert env.possible_agents == ["Government", "Firm_0", "Firm_1", "Firm_2", "Household_0", "Household_1"]
    env.step(np.array([0.3], np.float32))
    labels = env._env.obs_labels["Firm"]
    assert env.observe("Firm_1")[labels.index("tax")] == pytest.approx(0.3)
    assert env.observe("Firm_1")[labels.index("tax_rate")] == pytest.approx(0.6)
    for k in range(3):
        env.step({"discrete": np.array([k]), "continuous": np.array([0.5, 1.0], np.float32)})
    obs = dict(zip(env._env.obs_labels["Household"], env.observe("Household_1").tolist(), strict=True))
    # prices 1, 2, 3; supply Σ cap · price = 5 · 6; each firm offers household 1 a ration of 1.0
    assert obs == {"price[0]": 1.0, "price[1]": 2.0, "price[2]": 3.0, "supply": 30.0, "tax_rate": pytest.approx(0.6),
                   "offered[j]": 3.0}
    assert env._env.t == 0  # the period has not been stepped yet
    env.step({"discrete": np.array([2]), "continuous": np.array([1.0], np.float32)})
    env.step(None)  # the last household acts (choice 0, amount 0): the period's step runs
    assert env._env.t == 1 and env.agent_selection == "Government"
