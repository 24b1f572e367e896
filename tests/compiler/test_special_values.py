"""Special values every backend must compute alike (issue 9: a model that checks clean gives the same
numbers on every backend), found by looking for them:

- a `min`/`max` reduction over members of which some are NaN is NaN (IEEE, torch's amin/amax); the
  reference's Python `max` kept a number or NaN depending on the members' order, and Triton's `tl.max`
  drops NaN on a GPU (maxnum);
- an integer power that overflows keeps the sign of an odd power of a negative base (`(-10)^401` is -Inf);
- `x ^ Inf` and `x ^ -Inf` follow IEEE pow: 1 ^ ±Inf is 1 (torch's exp(c · log x) gave NaN, the Triton
  printer crashed on `math.floor(inf)`).
"""

from __future__ import annotations

import math

import pytest
import torch
from backends_under_test import params
from tolerances import compare, lockstep

import econdsl

NAN_EXTREMES = """model nan_extremes
horizon 2
agent A[3] index j
    state v = j in [0, 2]
    action a in {0, 1}
    observe v[j]
    reward worst + best + a[j]
end
step
    lowest = min(v[k] for k in A if v[k] > 5)      # nobody is above 5: Inf
    g[j] = ifelse(v[j] > 0, lowest * 0, 1)         # Inf * 0: NaN for members 1 and 2, 1 for member 0
    worst = max(g[k] for k in A)
    best = min(g[k] for k in A)
    first = max(ifelse(k == 0, lowest * 0, 1) for k in A)   # NaN first, then numbers
    next v[j] = v[j]
end
end
"""

OVERFLOW = """model overflow
horizon 2
agent A[2] index j
    state v = -10 + 20 * j in [-10, 10]
    action a in {0, 1}
    observe v[j]
    reward big[j] + a[j]
end
step
    big[j] = v[j] ^ 401
    next v[j] = v[j]
end
end
"""

# `x ^ Inf` is allowed for a non-negative pure number (E110 is for a unit, E701 for a negative base): 1 ^ Inf
# is 1 (IEEE pow, Python, torch.pow), 0.5 ^ Inf is 0, 2 ^ -Inf is 0; exp(Inf · log 1) is NaN.
INFINITE_POWERS = """model infinite_powers
horizon 2
agent A[4] index j
    param x = [1, 0.5, 2, 1.5]
    action a in {0, 1}
    observe x[j]
    reward up[j] + down[j] + a[j]
end
step
    up[j] = x[j] ^ Inf
    down[j] = x[j] ^ -Inf
end
end
"""

# Checked and found to agree already (kept as a differential model): floor and ceil of negative numbers,
# whole-number states compared with reals and with whole numbers, integer powers of negative bases, a
# member index compared with a real.
MIXED = """model mixed
horizon 3
agent A[3] index j
    state e = j in 0:2
    state v = -2.5 + 2 * j in [-Inf, Inf]
    action a in {0, 1}
    observe v[j], e[j]
    reward fl[j] + ce[j] + cmp[j] + p3[j] + pm[j] + a[j]
end
step
    fl[j] = floor(v[j] / 2)
    ce[j] = ceil(-v[j] / 3)
    cmp[j] = ifelse(e[j] < 1.5, 1, 0) + ifelse(e[j] == 1, 10, 0) + ifelse(j > 0.5, 100, 0)
    p3[j] = v[j] ^ 3 + v[j] ^ 2 + (v[j] - 0.5) ^ 4
    pm[j] = min(v[j], -v[j]) * max(e[j] - 1, -1)
    next v[j] = v[j] - 1.5 * a[j]
    next e[j] = clamp(e[j] + a[j], 0, 2)
end
end
"""


def _run(tmp_path, text: str, backend: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    path = tmp_path / "m.econ"
    path.write_text(text, encoding="utf-8")
    program = econdsl.load(path).program
    compiled = econdsl.compiler.backends.compile_program(program, backend, "cpu", dtype)
    bufs = compiled.init(1, {}, {})
    acts = {"A": torch.zeros((1, program.n_agents("A"), 1), dtype=torch.long)}
    return compiled.step(bufs, acts, torch.zeros(1, dtype=dtype), {}, None).quantities


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_min_and_max_over_a_nan_member_are_nan(tmp_path, backend, dtype, tol):
    q = _run(tmp_path, NAN_EXTREMES, backend, dtype)
    for name in ("worst", "best", "first"):
        assert math.isnan(float(q[name])), (name, q[name])


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_an_odd_power_of_a_negative_base_overflows_to_minus_inf(tmp_path, backend, dtype, tol):
    big = _run(tmp_path, OVERFLOW, backend, dtype)["big"]
    assert big.double().tolist() == [[-math.inf, math.inf]]


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_infinite_powers_follow_ieee(tmp_path, backend, dtype, tol):
    q = _run(tmp_path, INFINITE_POWERS, backend, dtype)
    assert q["up"].double().tolist() == [[1.0, 0.0, math.inf, math.inf]]
    assert q["down"].double().tolist() == [[1.0, math.inf, 0.0, 0.0]]


@pytest.mark.parametrize("text", [NAN_EXTREMES, OVERFLOW, MIXED, INFINITE_POWERS],
                         ids=["nan_extremes", "overflow", "mixed", "infinite_powers"])
@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_special_values_agree_with_the_reference(tmp_path, text, backend, dtype, tol):
    path = tmp_path / "m.econ"
    path.write_text(text, encoding="utf-8")
    program = econdsl.load(path).program
    for label, got, ref, mag in lockstep(program, backend, dtype, n_envs=2, n_steps=2, seed=5):
        ok, ratio = compare(got, ref, mag, dtype)
        assert ok, f"{label}: {got} against the reference {ref}"
