"""An agent type without an `observe` line trains: its policy has no inputs, so its action distribution is
the same in every state, which is all a one-shot game needs. The network sees one constant input."""

from pathlib import Path

import numpy as np
import pytest
import torch

from econdsl.trainer import evaluate, session
from econdsl.trainer.policy import TypePolicy

# A monopolist facing demand 10 - p at zero cost: profit p·(10 - p) is largest at p = 5 (25), and 4 or 6
# give 24, within 4% of it.
MONOPOLY = """
model blind_monopoly
horizon 1
agent Monopolist
    action price in 0:1:10
    reward profit
end
step
    profit = price * (10 - price)
end
train
    envs = 64
    hidden = [16]
    lr = 0.02
    reward_scale = 10
    gamma = 0
    epochs = 4
end
end
"""


def test_a_policy_without_inputs_is_a_distribution_that_learns():
    pol = TypePolicy(0, [3], (8,))
    logp, value = pol(torch.zeros(5, 0))
    assert logp.shape == (5, 1, 3) and value.shape == (5,)
    assert torch.allclose(logp, logp[:1].expand_as(logp))  # the same distribution for every row


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_agent_that_observes_nothing_trains_and_is_evaluated(tmp_path: Path, seed: int):
    model = tmp_path / "blind.econ"
    model.write_text(MONOPOLY, encoding="utf-8")
    s = session.prepare(str(model), str(tmp_path / "run"),
                        sets={"threads": "1", "iterations": "30", "seed": str(seed)})
    session.train(s)
    arrays, summary = evaluate.load(tmp_path / "run")
    prices = arrays["action/Monopolist"][..., 0]  # grid 0:1:10, so the index is the price
    assert np.mean(np.abs(prices - 5) <= 1) >= 0.9  # the optimum or an adjacent grid point
    assert summary["reward"]["Monopolist"] >= 0.9 * 25
