"""The PettingZoo adapter passes PettingZoo's own parallel API test and exposes Gymnasium spaces."""

from pathlib import Path

import numpy as np
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
