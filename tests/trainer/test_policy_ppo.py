"""Policies (masked multi-head sampling, normalisation, digits) and the PPO update on synthetic batches."""

import pytest
import torch

from econdsl.trainer import ppo
from econdsl.trainer.policy import ObsNormalizer, TypePolicy


def test_masks_and_padding_are_never_sampled():
    torch.manual_seed(0)
    pol = TypePolicy(3, [11, 5, 10], (16,))
    mask = torch.ones(3, 11, dtype=torch.bool)
    mask[1, :4] = False  # head 1 may only choose its last value (index 4)
    logp, value = pol(torch.randn(4096, 3), mask)
    a = TypePolicy.sample(logp, torch.Generator().manual_seed(1))
    assert a.shape == (4096, 3) and value.shape == (4096,)
    assert (a[:, 1] == 4).all() and (a[:, 2] < 10).all() and a[:, 0].max() == 10
    assert torch.isfinite(TypePolicy.log_prob(logp, a)).all() and torch.isfinite(TypePolicy.entropy(logp)).all()


def test_sampling_follows_the_distribution():
    logp = torch.log(torch.tensor([[[0.7, 0.2, 0.1]]])).expand(200000, 1, 3)
    a = TypePolicy.sample(logp, torch.Generator().manual_seed(0))
    freq = torch.bincount(a.flatten(), minlength=3).float() / a.numel()
    assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.01)


def test_running_normaliser_statistics():
    norm = ObsNormalizer(2)
    x = torch.randn(10000, 2) * torch.tensor([5.0, 0.1]) + torch.tensor([100.0, -3.0])
    norm.update(x[:3000])
    norm.update(x[3000:])
    assert torch.allclose(norm.mean.float(), x.mean(0), atol=1e-3)
    z = norm(x)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=1e-2) and torch.allclose(z.std(0), torch.ones(2), atol=1e-2)


def test_digit_expansion_matches_the_paper():
    norm = ObsNormalizer(2, mode="digits", digit_features=[1])
    z = norm._expand(torch.tensor([[0.0, 1234.5]]))
    assert z.shape == (1, 10)
    assert torch.allclose(z[0, :4], torch.tensor([0.45, 0.345, 0.2345, 0.12345]), atol=1e-6)
    assert norm.out_dim == 11


def test_scaled_inputs_divide_by_fixed_scales_without_centring_or_clipping():
    norm = ObsNormalizer(3, mode="scaled", digit_features=[2], scales=[2500.0, 0.01, 1.0])
    x = torch.tensor([[1000.0, 0.5, 1234.5]])
    norm.update(x * 7)  # fixed scales: statistics never move
    z = norm(x)
    assert norm.out_dim == 12 and z.shape == (1, 12)
    assert torch.allclose(z[0, :2], torch.tensor([0.4, 50.0]))  # 50 > obs_clip: not clipped, as in the paper
    assert torch.allclose(z[0, 2:6], torch.tensor([0.45, 0.345, 0.2345, 0.12345]), atol=1e-6)
    assert "inv_scale" not in norm.state_dict()  # rebuilt from the config: older checkpoints still load


def test_gae_and_monte_carlo_returns():
    r = torch.tensor([[1.0], [1.0], [1.0]])
    v = torch.zeros(3, 1)
    d = torch.tensor([[0.0], [0.0], [1.0]])
    adv, ret = ppo.gae(r, v, d, torch.tensor([5.0]), gamma=0.5, lam=1.0)
    assert torch.allclose(ret[:, 0], torch.tensor([1.75, 1.5, 1.0]))  # no bootstrap past the episode end
    _, mc = ppo.monte_carlo(r, v, d, torch.tensor([5.0]), gamma=1.0)
    assert torch.allclose(mc[:, 0], torch.tensor([3.0, 2.0, 1.0]))
    _, cut = ppo.monte_carlo(r, v, torch.zeros(3, 1), torch.tensor([5.0]), gamma=1.0)
    assert cut[0, 0] == 8.0  # a rollout cut mid-episode is bootstrapped


@pytest.mark.parametrize("minibatches", [1, 4])
def test_ppo_update_raises_the_probability_of_good_actions(minibatches):
    torch.manual_seed(0)
    pol = TypePolicy(2, [4], (32,))
    opt = torch.optim.Adam(pol.parameters(), lr=3e-3)
    obs = torch.randn(1024, 2)
    s = ppo.PPOSettings(clip=0.2, value_clip=0.2, value_coef=0.5, value_loss="huber", entropy=0.0, epochs=4,
                        minibatches=minibatches, max_grad_norm=1.0, norm_adv=True)
    for _ in range(15):
        with torch.no_grad():
            logp_all, v = pol(obs)
            a = TypePolicy.sample(logp_all)
            logp = TypePolicy.log_prob(logp_all, a)
        reward = (a[:, 0] == 2).float()  # action 2 is the only good one
        batch = ppo.Batch(obs, a, logp, v, reward - v, reward)
        stats = ppo.update(pol, opt, batch, None, s)
    with torch.no_grad():
        p2 = pol(obs)[0][:, 0, 2].exp().mean()
    assert p2 > 0.6  # from 0.25 at initialisation
    assert set(stats) >= {"policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance"}


def _entropy_only_step(per_head: bool, columns: tuple[bool, ...] | None, first: int):
    """One PPO update with no reward signal (zero advantages, no value loss) of a policy with heads of 4, 4, 4
    and 1 choices, plain SGD at rate 1: returns the bias step per head, the gradient of the entropy of heads
    ``first``… at the parameters before it, the logged stats and the heads' entropies before it."""
    torch.manual_seed(0)
    pol = TypePolicy(2, [4, 4, 4, 1], (8,), obs_norm="none")
    with torch.no_grad():
        pol.logits.bias.copy_(torch.linspace(-1.0, 1.0, pol.logits.bias.numel()))
    obs = torch.randn(64, 2)
    with torch.no_grad():
        logp_all, v = pol(obs)
    a = TypePolicy.sample(logp_all)
    batch = ppo.Batch(obs, a, TypePolicy.log_prob(logp_all, a), v, torch.zeros(64), v)
    s = ppo.PPOSettings(clip=0.2, value_clip=0.0, value_coef=0.0, value_loss="mse", entropy=1.0, epochs=1,
                        minibatches=1, max_grad_norm=0.0, norm_adv=False, entropy_per_head=per_head,
                        entropy_columns=columns)
    opt = torch.optim.SGD(pol.parameters(), lr=1.0)
    before = pol.logits.bias.detach().clone()
    grad = torch.autograd.functional.jacobian(
        lambda b: TypePolicy.head_entropy(_logp_with_bias(pol, obs, b))[:, first:].sum(-1).mean(), before)
    stats = ppo.update(pol, opt, batch, None, s)
    step = (pol.logits.bias.detach() - before).view(4, -1)
    return step, grad, stats, TypePolicy.head_entropy(logp_all)


@pytest.mark.parametrize("per_head", [False, True])
def test_entropy_bonus_per_head_or_summed(per_head):
    """With no reward signal, the entropy bonus alone moves the logits. Summed over heads (the paper's), each
    head's logits get the full weight; averaged over the heads that have a choice (``entropy_per_head``),
    each of the 3 live heads gets a third of it (the single-choice head counts for neither)."""
    step, grad, stats, heads = _entropy_only_step(per_head, None, 0)
    expected = grad.abs().sum() / (3 if per_head else 1)
    assert float(step.abs().sum()) == pytest.approx(float(expected), rel=1e-4)
    assert len(stats["entropy_columns"]) == 4 and stats["entropy_columns"][3] == pytest.approx(0.0, abs=1e-6)
    assert stats["entropy"] == pytest.approx(float(heads.sum(-1).mean()), rel=1e-5)


def _logp_with_bias(pol: TypePolicy, obs: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    z = pol.trunk(pol.norm(obs))
    logits = (z @ pol.logits.weight.T + bias).view(-1, pol.n_heads, pol.max_n)
    logits = logits + torch.where(pol.valid, 0.0, -1e9)
    return logits - logits.logsumexp(-1, keepdim=True)


@pytest.mark.parametrize("per_head", [False, True])
def test_excluded_heads_get_no_entropy_bonus(per_head):
    """``entropy_exclude``: with no reward signal, the logits of an excluded head do not move at all, and the
    others move as if the excluded head did not exist (summed, or averaged over the 2 live heads left)."""
    step, grad, stats, heads = _entropy_only_step(per_head, (False, True, True, True), 1)
    assert float(step[0].abs().sum()) == 0.0  # the excluded head: untouched
    assert float(step.abs().sum()) == pytest.approx(float(grad.abs().sum()) / (2 if per_head else 1), rel=1e-4)
    assert stats["entropy"] == pytest.approx(float(heads.sum(-1).mean()), rel=1e-5)  # still logged in full
