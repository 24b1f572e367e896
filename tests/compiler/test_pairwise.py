"""Pairwise quantities over one population (issue 9): ``agent W[3] index j, k`` names two indices of W,
so that ``x[j, k] = ...`` defines one value per ordered pair of members and ``sum(x[j, k] for k in W)``
reduces it. The IR stores such a value over the axes ``W`` and ``W~1`` (compiler/ir.py).

Every answer here is worked out by hand; every backend of backends_under_test.py must give it (float32 to
1e-5 relative: the values are small integers and sums of a few of them).
"""

from __future__ import annotations

import pytest
import torch
from backends_under_test import params
from test_axes import close, run_one_step

PAIRS = """
model pairs
horizon 2
agent W[3] index j, k
    state v = 1 + j * j in [-Inf, Inf]       # v = [1, 2, 5]
    action a in 0:1
    observe v[j]
    reward sum(dist[j, k] for k in W) + 0 * a[j]   # k reduced inside the block
end
agent F[2] index f
    param p = [1, 10]
    action b in 0:1
    observe p[f]
    reward s3[f] + 0 * b[f]
end
step
    d[j, k] = v[j] - v[k]                      # d[j, k] = v[j] - v[k]
    dist[j, k] = abs(d[j, k])
    out[j] = sum(dist[j, k] for k in W)        # row sums of |v[j] - v[k]|
    inn[k] = sum(d[j, k] for j in W)           # column sums
    tr[j, k] = d[k, j]                         # the transpose
    trsum[j] = sum(tr[j, k] for k in W)
    e2[j, k] = 10 * v[j] + v[k]
    diag[j] = e2[j, j]                         # the diagonal
    total = sum(sum(d[j, k] * d[j, k] for k in W) for j in W)
    closer[j] = sum(1 for k in W if dist[j, k] < 2)
    t3[j, f, k] = p[f] * dist[j, k]            # two roles of W and another population
    s3[f] = sum(sum(t3[j, f, k] for k in W) for j in W)
    next v[j] = v[j] + out[j] / 100
end
end
"""


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_pairwise_quantities_over_one_population(tmp_path, backend, dtype, tol):
    rewards, s = run_one_step(PAIRS, tmp_path, backend, dtype)
    # v = [1, 2, 5]; d = [[0, -1, -4], [1, 0, -3], [4, 3, 0]]
    assert close(s["out"], [5, 4, 7]), s["out"]
    assert close(rewards["W"], [5, 4, 7])
    assert close(s["inn"], [5, 2, -7]), s["inn"]
    assert close(s["trsum"], [5, 2, -7]), s["trsum"]  # Σ_k v[k] - 3 v[j]
    assert close(s["diag"], [11, 22, 55]), s["diag"]
    assert close(s["total"], 52), s["total"]  # 2 · (1 + 16 + 9)
    assert close(s["closer"], [2, 2, 1]), s["closer"]
    assert close(s["s3"], [16, 160]), s["s3"]  # p[f] · Σ |d|
    assert close(rewards["F"], [16, 160])
    assert close(s["v"], [1.05, 2.04, 5.07]), s["v"]
    d = torch.tensor([[0.0, -1, -4], [1, 0, -3], [4, 3, 0]])
    assert close(s["d"], d), s["d"]
    assert close(s["tr"], d.T), s["tr"]
