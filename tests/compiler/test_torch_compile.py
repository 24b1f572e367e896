"""The torch backend wrapped in torch.compile gives the same numbers as eager (small model, CPU)."""

import pytest
import torch
from econdsl.compiler.backends.torch_printer import FUSE_OBSERVE_BELOW_ENVS

import econdsl

MODEL = """
model small
horizon 3
agent Trader[5] index k
    param a ~ Normal(2, 0.5)
    state m = 10
    action x in {0, 1, 2}
    action to in Shop
    observe m[k], a[k], n
    reward m[k] * x[k] - n[to[k]] / 10
end
agent Shop[2] index s
    state n = 0
    action price in 1:3
    observe n, m
    reward sum(x[k] for k in Trader if to[k] == s) * price[s]
end
step
    next m[k] = m[k] + x[k] * a[k]
    next n[s] = n[s] + sum(x[k] for k in Trader if to[k] == s) - price[s]
end
end
"""


@pytest.mark.slow
@pytest.mark.parametrize("n_envs", [8, FUSE_OBSERVE_BELOW_ENVS])
def test_compiled_matches_eager(tmp_path, n_envs):
    """Below the threshold step + observe run as one compiled graph, from it on as two."""
    path = tmp_path / "small.econ"
    path.write_text(MODEL, encoding="utf-8")
    model = econdsl.load(path)
    eager = model.env(n_envs, dtype=torch.float32, seed=3)
    comp = model.env(n_envs, dtype=torch.float32, seed=3, compile=True)
    assert comp.compiled._fuse_observe(n_envs) == (n_envs < FUSE_OBSERVE_BELOW_ENVS)
    gen = torch.Generator().manual_seed(3)
    for _ in range(7):
        acts = eager.random_actions(gen)
        o1, r1, d1, _ = eager.step(acts)
        o2, r2, d2, _ = comp.step(acts)
        assert torch.equal(d1, d2)
        for a in r1:
            assert torch.allclose(r1[a], r2[a], rtol=1e-5, atol=1e-5)
            assert torch.allclose(o1[a], o2[a], rtol=1e-5, atol=1e-5)
