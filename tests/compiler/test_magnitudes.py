"""The reference's magnitude of each value's terms (the scale of the differential tolerances, tolerances.py)."""

from __future__ import annotations

import torch
from econdsl.compiler.backends import compile_program

import econdsl

MODEL = """
model mags
horizon 2
agent W[3] index j
    state x = j - 1 in [-Inf, Inf]
    action a in 0:1
    observe x[j]
    reward big[j] + flagged[j] + a[j]
end
step
    big[j] = 1000000 + x[j] - 1000000
    flagged[j] = x[j] * (x[j] > 0)
    total = sum(x[k] * 2 for k in W)
    next x[j] = x[j]
end
end
"""


def test_magnitudes_follow_the_terms(tmp_path):
    path = tmp_path / "m.econ"
    path.write_text(MODEL, encoding="utf-8")
    program = econdsl.load(path).program
    ref = compile_program(program, "reference", "cpu", torch.float64)
    bufs = ref.init(1, {}, {})
    acts = {"W": torch.zeros(1, 3, 1, dtype=torch.long)}
    res, mag = ref.step_with_magnitudes(bufs, acts, torch.zeros(1, dtype=torch.float64), {})
    x = torch.tensor([[-1.0, 0.0, 1.0]], dtype=torch.float64)
    assert torch.equal(res.quantities["big"], x)
    assert torch.allclose(mag.quantities["big"], 2e6 + x.abs())  # a small value made of large terms
    # a comparison used as a number is exact: 0 (x * 0 is 0 in any precision) or 1 (x * 1: |x|)
    assert torch.allclose(mag.quantities["flagged"], x.clamp(min=0))
    assert torch.allclose(mag.quantities["total"], torch.tensor([[4.0]], dtype=torch.float64))
