"""Continuous actions in the trainer: the squashed Gaussian heads, the curriculum's narrowed intervals, and
training on the continuous labour-leisure model against its analytic optimum."""

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from econdsl.language import check_model
from econdsl.trainer import evaluate, session
from econdsl.trainer.curriculum import Curriculum, CurriculumError
from econdsl.trainer.policy import Action, Dist, TypePolicy, real_values, squashed_log_prob

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_squashed_log_prob_is_the_density_of_the_squashed_value():
    mean, log_std = torch.tensor([[0.3, -1.0]]), torch.tensor([0.2, -0.5])
    z = torch.tensor([[-2.0, 0.7]])
    ref = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform(), AffineTransform(0.5, 0.5)])
    u = (torch.tanh(z) + 1) / 2
    assert torch.allclose(squashed_log_prob(mean, log_std, z), ref.log_prob(u), atol=1e-5)
    # far in the tails the stable form stays finite where tanh saturates
    assert torch.isfinite(squashed_log_prob(mean, log_std, torch.tensor([[30.0, -30.0]]))).all()


def test_actions_stay_in_their_bounds_and_greedy_is_the_median():
    pol = TypePolicy(3, [4], (8,), obs_norm="none", n_real=2)
    with torch.no_grad():
        pol.log_std.fill_(2.0)  # wide: many draws land in the saturated tails
    dist, _ = pol.dist(torch.randn(500, 3))
    a = TypePolicy.sample_action(dist, torch.Generator().manual_seed(0))
    lo_hi = torch.tensor([[-0.2, 0.0], [0.3, 1040.0]])
    v = real_values(a.z, lo_hi)
    assert (v >= lo_hi[0]).all() and (v <= lo_hi[1]).all() and a.index.shape == (500, 1)
    greedy = TypePolicy.sample_action(dist, greedy=True)
    assert torch.equal(greedy.z, dist.mean)
    lp = TypePolicy.action_log_prob(dist, a)
    want = TypePolicy.log_prob(dist.logp, a.index) + squashed_log_prob(dist.mean, dist.log_std, a.z).sum(-1)
    assert torch.allclose(lp, want)
    ent = TypePolicy.action_entropy(dist)
    gauss = (dist.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum()
    assert torch.allclose(ent, TypePolicy.entropy(dist.logp) + gauss)


def test_discrete_types_draw_as_before():
    """A type without continuous heads samples exactly as TypePolicy.sample: the random stream is unchanged."""
    logp = torch.log_softmax(torch.randn(6, 2, 5), -1)
    dist = Dist(logp, torch.zeros(6, 0), torch.zeros(0))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = TypePolicy.sample_action(dist, g1)
    assert torch.equal(a.index, TypePolicy.sample(logp, g2))
    assert torch.equal(g1.get_state(), g2.get_state())
    assert torch.equal(TypePolicy.action_log_prob(dist, Action(a.index, a.z)), TypePolicy.log_prob(logp, a.index))


CURRICULUM = """
curriculum
    allow Worker if h <= 1 + e / 10 && 0.5 < h
    allow Worker if h >= 0.25
end
end
"""


def _with_curriculum(tmp_path: Path, text: str) -> Path:
    src = (MODELS / "labour_leisure_continuous.econ").read_text(encoding="utf-8")
    p = tmp_path / "ll.econ"
    p.write_text(src[:src.rindex("end")] + text, encoding="utf-8")
    return p


def test_allow_narrows_the_interval(tmp_path):
    cur = Curriculum(check_model(_with_curriculum(tmp_path, CURRICULUM)))
    assert cur.bounds("Worker", 0).tolist() == [[0.5], [1.0]]
    assert cur.bounds("Worker", 15).tolist() == [[0.5], [2.5]]
    assert cur.bounds("Worker", 100).tolist() == [[0.5], [3.0]]  # never wider than declared
    assert Curriculum(check_model(_with_curriculum(tmp_path, CURRICULUM)), enabled=False).bounds("Worker", 0) is None


def test_an_empty_narrowed_interval_is_an_error(tmp_path):
    cur = Curriculum(check_model(_with_curriculum(tmp_path, "curriculum\n    allow Worker if h <= 2 - e\nend\nend\n")))
    assert cur.bounds("Worker", 1).tolist() == [[0.0], [1.0]]
    assert cur.bounds("Worker", 2).tolist() == [[0.0], [0.0]]  # one point: the action is fixed at 0
    with pytest.raises(CurriculumError, match="allows no value"):
        cur.bounds("Worker", 3)


H_STAR = (-0.5 + math.sqrt(0.5**2 + 4 * 0.5 * 2.0**2)) / (2 * 0.5 * 2.0)  # 1.1861: w = 2, χ = 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labour_leisure_learns_the_optimal_hours(tmp_path, seed):
    """u = log(1 + w·h) - χ·h²/2 on h ∈ [0, 3]: the policy's hours (its central value, and the mean of the
    hours it draws) within 1% (2% for the draws, which keep some noise) of h* = 1.1861, not a grid point."""
    s = session.prepare(str(MODELS / "labour_leisure_continuous.econ"), str(tmp_path / "run"),
                        sets={"threads": "1", "seed": str(seed)})
    session.train(s)
    _, summary = evaluate.load(tmp_path / "run")
    h = summary["actions"]["h"]
    assert h["central_mean"] == pytest.approx(H_STAR, rel=0.01)
    assert h["mean"] == pytest.approx(H_STAR, rel=0.02)
