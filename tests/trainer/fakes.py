"""A small hand-written environment with the compiled environment's API, for unit tests of the trainer
that must not depend on the compiler: the Cournot duopoly of models/cournot.econ, written by hand."""

from __future__ import annotations

from pathlib import Path

import torch

from econdsl.language import check_model

MODELS = Path(__file__).resolve().parents[2] / "models"


class FakeCournotEnv:
    """Two firms choose q on 0:2:60; P = max(a − bQ, 0); profit (P − c)q; horizon 1."""

    def __init__(self, n_envs: int, consts: dict[str, float], device: str = "cpu", nan_at: int | None = None):
        self.n_envs, self.device = n_envs, device
        self.agent_types = ["Firm"]
        self.n_agents = {"Firm": 2}
        self.action_nvec = {"Firm": [31]}
        self.action_bounds: dict[str, list[tuple[float, float]]] = {"Firm": []}  # no continuous heads
        self.stages = [self.agent_types]  # one stage: every type acts at once
        self.obs_dim = {"Firm": 1}
        self.obs_labels = {"Firm": ["c"]}
        self.runtime_consts = dict(consts)
        self.state: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.nan_at = nan_at  # make the price NaN from this env step on (tests of NaN detection)

    def set_const(self, name: str, value: float) -> None:
        self.runtime_consts[name] = value

    def _obs(self):
        return {"Firm": torch.full((self.n_envs, 2, 1), self.runtime_consts["c"])}

    def reset(self):
        return self._obs()

    def step(self, actions):
        k = self.runtime_consts
        q = actions["Firm"][..., 0].float() * 2.0
        Q = q.sum(1)
        P = (k["a"] - k["b"] * Q).clamp_min(0)
        if self.nan_at is not None and self.steps >= self.nan_at:
            P = P * float("nan")
        profit = (P.unsqueeze(1) - k["c"]) * q
        self.steps += 1
        self.state = {"Q": Q, "P": P, "π": profit}
        return self._obs(), {"Firm": profit}, torch.ones(self.n_envs, dtype=torch.bool), {}


class FakeModel:
    def __init__(self, nan_at: int | None = None):
        self.resolved = check_model(MODELS / "cournot.econ")
        self.nan_at = nan_at

    def env(self, n_envs, backend="torch", device="cpu", dtype=torch.float32, seed=0, quantities=False):
        return FakeCournotEnv(n_envs, self.resolved.consts, device, self.nan_at)
