"""Per-member action heads over a population declared before the agent (issue 9, item 2).

`agent Shop` is declared first, so the IR's axis order is (Shop, Person), while the action tensor of
Person is [E, members, columns] = [E, Person, Shop]. Every backend must read spend[j, s] as member j's
column s: checked against a hand computation from the actions, for unequal sizes (Shop[5], Person[3]:
a shape error in torch before the fix) and equal sizes (Shop[3]: silently transposed before the fix).
"""

from __future__ import annotations

import pytest
import torch
from backends_under_test import params

import econdsl

MODEL = """
model shops
horizon 3
agent Shop[{n_shops}] index s
    param price = 1 + s
    state stock = 10 * (s + 1) in [-Inf, Inf]
    action mark in 0:1
    observe stock[s]
    reward sales[s] + 0 * mark[s]
end
agent Person[3] index j
    param weight = 1 + 10 * j
    state cash = 100 in [-Inf, Inf]
    action spend[Shop] in 0:2
    observe cash[j]
    reward paid[j]
end
step
    paid[j] = sum(spend[j, k] * price[k] for k in Shop)
    sales[s] = sum(weight[i] * spend[i, s] for i in Person)
    next cash[j] = cash[j] - paid[j]
    next stock[s] = stock[s] - sales[s]
end
end
"""


@pytest.mark.parametrize("n_shops", [5, 3])
@pytest.mark.parametrize("backend,dtype,tol", params())
def test_per_member_head_over_an_earlier_population(tmp_path, backend, dtype, tol, n_shops):
    path = tmp_path / "shops.econ"
    path.write_text(MODEL.format(n_shops=n_shops), encoding="utf-8")
    env = econdsl.load(path).env(2, backend=backend, dtype=dtype, seed=0)
    env.reset()
    acts = env.random_actions(torch.Generator().manual_seed(5))
    _, rewards, _, _ = env.step(acts)
    spend = acts["Person"].double()  # [E, Person, Shop]
    price = 1 + torch.arange(n_shops, dtype=torch.float64)
    weight = 1 + 10 * torch.arange(3, dtype=torch.float64)
    paid = (spend * price).sum(2)
    sales = torch.einsum("ejs,j->es", spend, weight)
    assert torch.allclose(rewards["Person"].double(), paid, rtol=1e-5, atol=1e-5), (rewards["Person"], paid)
    assert torch.allclose(rewards["Shop"].double(), sales, rtol=1e-5, atol=1e-5), (rewards["Shop"], sales)
    assert torch.allclose(env.state["stock"].double(), 10 * (1 + torch.arange(n_shops)) - sales, rtol=1e-5)
