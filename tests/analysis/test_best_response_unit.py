"""Best responses on a hand-written one-shot game whose best response is known exactly.

The environment here is a test double of the compiled-environment API (issue 3), so that the
best-response machinery is tested on its own: type A's reward is −(a − 3)², whatever B does, and B's
reward is −(b − a)², so B's best response is to copy A.
"""

from __future__ import annotations

import torch

from econdsl.analysis.best_response import BRSettings, Setup, best_response
from econdsl.trainer.config import TrainConfig
from econdsl.trainer.policy import TypePolicy


class GuessEnv:
    agent_types = ("A", "B")
    stages = [["A", "B"]]  # one stage: both types act at once
    n_agents = {"A": 4, "B": 4}
    action_nvec = {"A": [5], "B": [5]}
    obs_dim = {"A": 1, "B": 1}
    horizon = 1
    device = torch.device("cpu")

    def __init__(self, n_envs: int):
        self.n_envs = n_envs
        self.state: dict[str, torch.Tensor] = {}
        self.b_actions: list[torch.Tensor] = []  # every batch of B's actions, in order

    def reset(self) -> dict[str, torch.Tensor]:
        return {a: torch.zeros(self.n_envs, 4, 1) for a in self.agent_types}

    def step(self, actions):
        a = actions["A"][..., 0].float()
        b = actions["B"][..., 0].float()
        self.b_actions.append(actions["B"].clone())
        rewards = {"A": -(a - 3) ** 2, "B": -(b - a) ** 2}
        done = torch.ones(self.n_envs, dtype=torch.bool)
        return self.reset(), rewards, done, {}


def _policy(favourite: int) -> TypePolicy:
    """A policy that plays ``favourite`` with probability ≈ 0.97 (stochastic, as learned ones are)."""
    torch.manual_seed(0)
    p = TypePolicy(1, [5], (16,), obs_norm="none")
    with torch.no_grad():
        p.logits.weight.zero_()
        p.logits.bias.fill_(-2.0)
        p.logits.bias[favourite] = 3.0
    return p


def _setup(fav_a: int, fav_b: int) -> Setup:
    cfg = TrainConfig(lr=0.02, epochs=4, returns="monte_carlo", gamma=1.0, entropy=0.0)
    env = GuessEnv(64)
    return Setup(env, 64, {"A": _policy(fav_a), "B": _policy(fav_b)}, cfg, horizon=1,
                 entropy_end={"A": 0.0, "B": 0.0}, entropy_start={"A": 0.0, "B": 0.0}, make_env=GuessEnv)


def test_equilibrium_profile_has_small_epsilon() -> None:
    s = _setup(3, 3)
    for agent in ("A", "B"):
        r = best_response(s, agent, BRSettings(iterations=60, eval_iterations=4), seed=1)
        # Near-deterministic at the optimum: the only gain left is removing the 3% exploration.
        assert -0.05 < r.eps_abs < 0.25, (agent, r.before, r.after)


def test_perturbed_policy_recovers_the_analytic_gain() -> None:
    s = _setup(0, 3)  # A plays 0 instead of 3: analytic gain of a best response ≈ 9
    r = best_response(s, "A", BRSettings(iterations=80, eval_iterations=4), seed=1)
    # Analytic gain: from E[−(a−3)²] under the perturbed policy's own distribution up to 0 (a = 3).
    probs = torch.softmax(s.policies["A"].logits.bias.detach(), 0)
    analytic = float(sum(p * (k - 3) ** 2 for k, p in enumerate(probs)))
    assert 8.5 < analytic < 9.0
    assert abs(r.eps_abs - analytic) < 0.3, (r.before, r.after, analytic)
    # The frozen type B is not retrained: evaluated with the same seed before and after, it samples the
    # very same actions (its payoff still moves with A's).
    before, after = s.env.b_actions[-8:-4], s.env.b_actions[-4:]  # the two evaluations
    assert all(torch.equal(x, y) for x, y in zip(before, after, strict=True))
    assert r.after_all["B"] != r.before_all["B"]


def test_paper_variant_pg_also_finds_it() -> None:
    s = _setup(0, 3)
    r = best_response(s, "A", BRSettings(iterations=150, algo="pg", lr=0.05, eval_iterations=4), seed=2)
    assert r.eps_abs > 6.0, (r.before, r.after)


def test_relative_epsilon_uses_training_gain() -> None:
    s = _setup(0, 3)
    r = best_response(s, "A", BRSettings(iterations=5, eval_iterations=2), seed=0, train_gain=-20.0)
    assert r.eps_rel == r.eps_abs / 20.0
