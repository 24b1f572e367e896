"""Draws inside the step: the same counter-based draws on every backend, reproducible from the seed and
the step counter, with the moments their distributions imply (fixed seeds, 3 standard errors)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from backends_under_test import available, params
from econdsl.compiler.backends import compile_program
from econdsl.compiler.philox import philox_numpy, philox_torch, rng_words, uniform_numpy
from tolerances import compare, lockstep

import econdsl

MODELS = Path(__file__).resolve().parent / "models"
DRAWS = MODELS / "draws.econ"


def test_philox_known_answers():
    """Random123's known-answer vectors for Philox4x32-10, in numpy and in int64 torch."""
    cases = [((0, 0, 0, 0, 0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 6, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for words, want in cases:
        assert tuple(int(x) for x in philox_numpy(*words)) == want
        assert tuple(int(x) for x in philox_torch(*(torch.tensor(w, dtype=torch.int64) for w in words))) == want


@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_draws_match_reference(backend, dtype, tol):
    program = econdsl.load(DRAWS).program
    for label, got, ref, mag in lockstep(program, backend, dtype):
        ok, ratio = compare(got, ref, mag, dtype)
        assert ok, f"{label} differs from the reference by {ratio:.3g} eps·M"


def _uniforms(backend: str, dtype: torch.dtype, seed: int = 11, steps: int = 2) -> torch.Tensor:
    env = econdsl.load(DRAWS).env(3, backend=backend, dtype=dtype, seed=seed)
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        env.step(env.random_actions(gen))
        out.append(env.state["uu"].double().cpu())
    return torch.stack(out)


def test_uniforms_are_bit_identical_on_every_backend():
    ref = _uniforms("reference", torch.float64)
    assert torch.equal(_uniforms("torch", torch.float64), ref)
    f32 = ref.float().clamp(max=1 - 2.0 ** -24)
    assert torch.equal(_uniforms("torch", torch.float32).float(), f32)
    if available("triton"):
        assert torch.equal(_uniforms("triton", torch.float64), ref)
        assert torch.equal(_uniforms("triton", torch.float32).float(), f32)


def test_uniform_is_the_documented_function_of_seed_counter_site_and_member():
    """uu is draw site 2; replica r at step counter c, member m: Philox((m, 2, c, r), key = seed)."""
    seed = 2 ** 40 + 12345
    env = econdsl.load(DRAWS).env(3, backend="torch", dtype=torch.float64, seed=seed)
    gen = torch.Generator().manual_seed(0)
    for c in range(3):
        env.step(env.random_actions(gen))
        member = np.arange(5, dtype=np.uint64)[None, :]
        replica = np.arange(3, dtype=np.uint64)[:, None]
        x0, x1, _, _ = philox_numpy(member, 2, c, replica, seed & 0xFFFFFFFF, seed >> 32)
        assert np.array_equal(env.state["uu"].numpy(), uniform_numpy(x0, x1))


def test_draws_are_reproducible_fresh_and_resumable():
    model = econdsl.load(DRAWS)

    def run(seed: int, steps: int, counter: int = 0) -> list[torch.Tensor]:
        env = model.env(2, backend="torch", dtype=torch.float64, seed=seed)
        env.counter = counter
        gen = torch.Generator().manual_seed(1)
        out = []
        for _ in range(steps):
            env.step(env.random_actions(gen))
            out.append(env.state["ε"].clone())
        return out

    a, b, other = run(5, 8), run(5, 8), run(6, 8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(torch.equal(x, y) for x, y in zip(a, other, strict=True))
    assert not torch.equal(a[0], a[6])  # a new episode draws afresh (t = 0 again, counter 6)
    resumed = run(5, 2, counter=6)  # restoring the counter resumes the stream (actions aside)
    assert torch.equal(resumed[0], a[6]) and torch.equal(resumed[1], a[7])


STATS = """
model stats
horizon 1000
const P = [0.9 0.1 0.0; 0.05 0.9 0.05; 0.0 0.1 0.9]
agent H[1000] index j
    state e = 1 in 0:2
    action s in {0}
    observe e[j]
    reward s[j]
end
step
    x[j] ~ Normal(2, 0.5)
    b[j] ~ Bernoulli(0.3)
    c[j] ~ Categorical(0.2, 0.3, 0.5)
    next e[j] ~ Categorical(P[e[j], :])
end
end
"""


def test_moments_and_markov_chain_within_three_standard_errors(tmp_path):
    """1.01·10^5 draws of each kind and transitions of the chain (1000 members × 101 steps), seed 2024."""
    path = tmp_path / "stats.econ"
    path.write_text(STATS, encoding="utf-8")
    env = econdsl.load(path).env(1, backend="torch", dtype=torch.float64, seed=2024)
    acts = {"H": torch.zeros((1, 1000, 1), dtype=torch.int64)}
    xs, bs, cs, trans = [], [], [], np.zeros((3, 3))
    for _ in range(101):
        before = env.state["e"][0].long().numpy()
        env.step(acts)
        s = env.state
        xs.append(s["x"][0].numpy())
        bs.append(s["b"][0].numpy())
        cs.append(s["c"][0].numpy())
        np.add.at(trans, (before, s["e"][0].long().numpy()), 1)
    x, b, c = np.concatenate(xs), np.concatenate(bs).astype(float), np.concatenate(cs)
    n = x.size
    assert n >= 10 ** 5
    assert abs(x.mean() - 2) <= 3 * 0.5 / math.sqrt(n)
    assert abs(x.var() - 0.25) <= 3 * 0.25 * math.sqrt(2 / n)
    assert abs(b.mean() - 0.3) <= 3 * math.sqrt(0.3 * 0.7 / n)
    for k, p in enumerate((0.2, 0.3, 0.5)):
        assert abs((c == k).mean() - p) <= 3 * math.sqrt(p * (1 - p) / n)
    P = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])
    assert trans.sum() >= 10 ** 5
    for i in range(3):
        row = trans[i].sum()
        for k in range(3):
            se = math.sqrt(P[i, k] * (1 - P[i, k]) / row)
            assert abs(trans[i, k] / row - P[i, k]) <= 3 * se, (i, k, trans[i, k] / row, P[i, k])


def test_backends_without_rng_words_use_seed_zero():
    prog = econdsl.load(DRAWS).program
    a = compile_program(prog, "torch", dtype=torch.float64)
    env = econdsl.load(DRAWS).env(2, backend="torch", dtype=torch.float64)
    acts = env.random_actions(torch.Generator().manual_seed(0))
    t = torch.zeros(2, dtype=torch.float64)
    plain = a.step(env._initial_bufs(), acts, t, {}).quantities["uu"]
    keyed = a.step(env._initial_bufs(), acts, t, {}, rng_words(0, 0, 2)).quantities["uu"]
    assert torch.equal(plain, keyed)
