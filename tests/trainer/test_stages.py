"""Stages in training: the Stackelberg duopoly (models/stackelberg.econ: P = 100 - Q, cost 10, the leader
in stage `lead`, the follower in stage `follow` observing q_L) reaches the Stackelberg outcome, and the
same model without stages (the follower cannot see q_L) reaches Cournot. Analytic answers (the model's
comments): Stackelberg q_L = 45, q_F = 22.5, and the follower's best response q_F(q_L) = (90 - q_L) / 2;
Cournot 30 each. Tolerance 5% (the issue's), on the policies' central values (the model evaluates greedily),
with the model's own train settings on three seeds."""

from pathlib import Path

import pytest
import torch

from econdsl.trainer import evaluate, session
from econdsl.trainer.policy import real_values

MODEL = Path(__file__).resolve().parents[2] / "models" / "stackelberg.econ"


def _train(path: Path, out: Path, seed: int) -> tuple[dict, session.Session]:
    s = session.prepare(str(path), str(out), sets={"threads": "1", "seed": str(seed)})
    session.train(s)
    return evaluate.load(out)[1]["actions"], s


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leader_and_follower_reach_the_stackelberg_outcome(tmp_path, seed):
    q, s = _train(MODEL, tmp_path / "run", seed)
    assert q["q_L"]["central_mean"] == pytest.approx(45.0, rel=0.05)
    assert q["q_F"]["central_mean"] == pytest.approx(22.5, rel=0.05)
    # what makes it Stackelberg: the follower answers other leader quantities near the path with its best
    # response, so the leader's gradient sees the response's slope (-1/2)
    follower = s.trainer.policies["Follower"]
    with torch.no_grad():
        d, _ = follower.dist(torch.tensor([[40.0], [50.0]]))
        answer = real_values(d.mean, torch.tensor([[0.0], [90.0]]))[:, 0].tolist()
    assert answer == pytest.approx([25.0, 20.0], rel=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])  # seeds 1 and 2 also pass (29.78/29.58, 29.30/29.59); one keeps CI short
def test_without_stages_the_same_duopoly_is_cournot(tmp_path, seed):
    text = MODEL.read_text(encoding="utf-8")
    text = text.replace("stage lead: Leader\n", "").replace("stage follow: Follower\n", "")
    text = text.replace("    observe q_L ", "    observe c   ")  # a follower that acts at once cannot see q_L
    simultaneous = tmp_path / "cournot_pair.econ"
    simultaneous.write_text(text, encoding="utf-8")
    q, _ = _train(simultaneous, tmp_path / "run", seed)
    assert q["q_L"]["central_mean"] == pytest.approx(30.0, rel=0.05)
    assert q["q_F"]["central_mean"] == pytest.approx(30.0, rel=0.05)


def test_anneal_lr_decays_each_types_rate_linearly_to_zero(tmp_path):
    """`anneal_lr`: lr · (1 − e / iterations), per type, set on the optimisers before each update."""
    s = session.prepare(str(MODEL), str(tmp_path / "run"),
                        sets={"threads": "1", "iterations": "4", "envs": "8", "lr[Leader]": "0.002"})
    tr = s.trainer
    assert [tr.learning_rate("Leader", e) for e in range(5)] == pytest.approx([0.002, 0.0015, 0.001, 0.0005, 0.0])
    assert tr.learning_rate("Follower", 2) == pytest.approx(0.003)  # lr = 0.006, half-way
    tr.iterate()
    tr.iterate()
    assert tr.optimizers["Leader"].param_groups[0]["lr"] == pytest.approx(0.0015)  # set for iteration 1
    tr.cfg.anneal_lr = False
    assert tr.learning_rate("Follower", 2) == pytest.approx(0.006)
