"""The PettingZoo adapter passes PettingZoo's own parallel API test and exposes Gymnasium spaces."""

from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

from econdsl.runtime.pettingzoo_env import parallel_env

MODELS = Path(__file__).resolve().parents[2] / "models"


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


def test_a_staged_model_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="has stages"):
        parallel_env(str(MODELS / "stackelberg.econ"))
