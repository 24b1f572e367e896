"""Two axes over one population (issue 9, item 1): a value may vary over a population twice, once per
role (``v[k]`` and ``v[j]`` with j, k in W), and every backend computes it as written.

Each model here has an answer worked out by hand; every backend of backends_under_test.py must give it
(float32 to 1e-5 relative: the values are small integers and sums of a few of them).
"""

from __future__ import annotations

import pytest
import torch
from backends_under_test import params

import econdsl

RANK = """
model rank
horizon 3
agent W[{n}] index j
    state v = {init} in [-Inf, Inf]
    action a in 0:1
    observe v[j]
    reward below[j] + 0 * a[j]
end
step
    below[j] = sum(v[k] for k in W if v[k] < v[j])
    ahead[j] = sum(1 for k in W if v[k] > v[j])
    pairs = sum(sum(1 for k in W if v[k] < v[i]) for i in W)
    mine[j] = sum(v[k] * ifelse(k == j, 1, 0) for k in W)
    next v[j] = v[j]
end
end
"""


def run_one_step(text: str, tmp_path, backend: str, dtype: torch.dtype, seed: int = 0):
    path = tmp_path / "m.econ"
    path.write_text(text, encoding="utf-8")
    env = econdsl.load(path).env(2, backend=backend, dtype=dtype, seed=seed)
    env.reset()
    _, rewards, _, _ = env.step(env.random_actions(torch.Generator().manual_seed(seed)))
    return rewards, env.state


def close(got: torch.Tensor, want, tol: float = 1e-5) -> bool:
    want = torch.as_tensor(want, dtype=torch.float64).expand_as(got.double())
    return bool(torch.allclose(got.double().cpu(), want, rtol=tol, atol=tol))


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_filtered_reduction_compares_against_the_outer_member(tmp_path, backend, dtype, tol):
    rewards, s = run_one_step(RANK.format(n=3, init="j"), tmp_path, backend, dtype)
    assert close(s["below"], [0, 0, 1]), s["below"]  # v = [0, 1, 2]: the sum of smaller values
    assert close(rewards["W"], [0, 0, 1])
    assert close(s["ahead"], [2, 1, 0]), s["ahead"]
    assert close(s["pairs"], 3), s["pairs"]  # pairs (k, i) with v[k] < v[i]
    assert close(s["mine"], [0, 1, 2]), s["mine"]


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_ties_and_unordered_values(tmp_path, backend, dtype, tol):
    # v = [5, 1, 5, 3, 1]: below = sum of strictly smaller values
    rewards, s = run_one_step(RANK.format(n=5, init="ifelse(j == 0, 5, ifelse(j == 2, 5, ifelse(j == 3, 3, 1)))"),
                              tmp_path, backend, dtype)
    assert close(s["below"], [5, 0, 5, 2, 0]), s["below"]
    assert close(s["ahead"], [0, 3, 0, 2, 3]), s["ahead"]
    assert close(s["pairs"], 8), s["pairs"]


OWN = """
model own
horizon 3
agent W[4] index j
    state v = 1 + j * j in [-Inf, Inf]
    action partner in W
    action gift[W] in 0:2
    observe v[j]
    reward got[j]
end
step
    seen[j] = v[partner[j]]
    got[j] = sum(gift[k, j] * v[k] for k in W) - sum(gift[j, k] for k in W)
    next v[j] = v[j] + seen[j] / 100
end
end
"""


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_members_of_ones_own_population_as_indices(tmp_path, backend, dtype, tol):
    """A chosen member of the agent's own population indexes its states (`v[partner[j]]`), and a per-member
    head over the own population is read both ways (`gift[k, j]` received, `gift[j, k]` given)."""
    path = tmp_path / "own.econ"
    path.write_text(OWN, encoding="utf-8")
    env = econdsl.load(path).env(3, backend=backend, dtype=dtype, seed=1)
    env.reset()
    acts = env.random_actions(torch.Generator().manual_seed(3))
    _, rewards, _, _ = env.step(acts)
    a = acts["W"].double()  # [E, 4, 5]: partner, then gift[j, 0..3]
    v = (1 + torch.arange(4, dtype=torch.float64) ** 2).expand(3, 4)
    partner, gift = a[:, :, 0].long(), a[:, :, 1:]
    seen = torch.gather(v, 1, partner)
    got = torch.einsum("ekj,ek->ej", gift, v) - gift.sum(2)
    assert close(env.state["seen"], seen), (env.state["seen"], seen)
    assert close(rewards["W"], got), (rewards["W"], got)
    assert close(env.state["v"], v + seen / 100)


def test_axes_helpers_and_the_verifier_on_relabel():
    from econdsl.compiler.ir import Function, Op, Program, axis, canonical, population, role
    from econdsl.compiler.verify import VerifyError, verify

    pops = {"A": 2, "W": 3}
    assert canonical(pops, ("W~1", "A", "W", "W~1")) == ("A", "W", "W~1")
    assert (axis("W", 0), axis("W", 2), population("W~2"), role("W~2"), role("W")) == ("W", "W~2", "W", 2, 0)

    def program(step_ops):
        empty = Function("init"), Function("observe")
        return Program("m", pops, (), ["A", "W"], 1, [], [], {}, {}, empty[0], Function("step", step_ops), empty[1])

    x = Op("v0", "iota", (), ("W",), "i", (("dim", "W"),))
    good = Op("v1", "relabel", ("v0",), ("W~1",), "i", (("axes", (("W", "W~1"),)),))
    verify(program([x, good]))
    assert program([x, good]).size(("W", "W~1")) == (3, 3)
    for bad in (Op("v1", "relabel", ("v0",), ("A",), "i", (("axes", (("W", "A"),)),)),  # another population
                Op("v1", "relabel", ("v0",), ("W",), "i", (("axes", (("W", "W~1"),)),))):  # wrong dims
        with pytest.raises(VerifyError):
            verify(program([x, bad]))


def test_a_failed_quantity_is_reported_once_not_again_where_it_is_used(tmp_path):
    """Issue 9 item 4: lowering reported E304 for `wage[partner[j]]` with a real-valued state, then a
    spurious E402 ("used before it is defined") wherever `pay` was used. (The checker now rejects this
    model itself; the lowering is run here on the unchecked model.)"""
    from econdsl.compiler.lower import lower

    from econdsl.language import flatten, resolve
    from econdsl.language.diagnostics import Diagnostics, EconError
    from econdsl.language.parser import parse

    text = """model partners
horizon 3
agent W[3] index j
    param wage = 1 + j
    state partner = 0 in [0, 2]
    action a in 0:1
    observe partner[j]
    reward pay[j]
end
step
    pay[j] = wage[partner[j]] * a[j]
    next partner[j] = partner[j]
end
end
"""
    path = str(tmp_path / "partners.econ")
    diags = Diagnostics()
    resolved = resolve(flatten(parse(text, path, diags), path, diags), diags, path)
    with pytest.raises(EconError) as err:
        lower(resolved)
    codes = [d.code for d in err.value.diagnostics.items]
    assert codes == ["E304"], err.value.diagnostics.render()
