"""Differential tests: every model in models/ (and tests/compiler/models/, made to cover IR features)
gives the same parameters, initial states, next states, rewards, named quantities, externals and
observations on every backend as on the float64 reference interpreter, on seeded random actions, one
step at a time from the reference's states.

Tolerance: per element, from the magnitude of the terms that make each value
(tests/compiler/tolerances.py): |got - ref| <= 2^6 · eps(dtype) · M + 1e-30. The steps cross the
horizon (t wraps to 0).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from backends_under_test import params
from tolerances import GROWTH, compare, lockstep

import econdsl

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.econ")) + \
    sorted((Path(__file__).resolve().parent / "models").glob("*.econ"))  # models made to cover IR features
N_ENVS, N_STEPS = 3, 12
OPEN = Path(__file__).resolve().parents[2] / "models" / "rbc_open.econ"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_backend_matches_reference(path, backend, dtype, tol):
    program = econdsl.load(path).program
    worst = 0.0
    for label, got, ref, mag in lockstep(program, backend, dtype, N_ENVS, N_STEPS):
        ok, ratio = compare(got, ref, mag, dtype)
        worst = max(worst, ratio)
        assert ok, f"{label} differs from the reference by {ratio:.3g} eps·M"
    print(f"{path.stem} {backend} {dtype}: worst |got - ref| = {worst:.3g} eps·M")


def _old_scaled_close(got, ref, tol=2e-4):
    """The tolerance these tests used before: relative to the largest value of the whole tensor."""
    scale = max(float(ref.abs().max()), 1.0)
    return float((got.double() - ref.double()).abs().max()) <= tol * scale


@pytest.mark.parametrize("column", ["α[i]", "τ", "onehot(i)[3]"])
def test_an_error_in_one_firm_observation_column_is_caught(column):
    """rbc_open's firm observations hold budgets of ~10^6 next to α (~0.3), τ and one-hot columns: a
    tolerance scaled by the tensor's largest value (about 440 in float32) let an error of 0.01 in any of
    them pass; the per-element magnitude tolerance catches it."""
    program = econdsl.load(OPEN).program
    labels = [lab for o in program.obs_outputs("Firm") for lab in o.labels]
    col = labels.index(column)
    for label, got, ref, mag in lockstep(program, "torch", torch.float32, n_envs=2, n_steps=1):
        if label != "step 0 obs Firm":
            continue
        assert compare(got, ref, mag, torch.float32)[0]
        bad = got.clone()
        bad[:, 3, col] += 0.01
        assert _old_scaled_close(bad, ref), "the old tolerance let this error pass"
        ok, ratio = compare(bad, ref, mag, torch.float32)
        assert not ok and ratio > GROWTH, ratio
        return
    raise AssertionError("no firm observation")


BEYOND_FLOAT32 = """model beyond_float32
horizon 4
const huge = 1e39
agent Firm[2] index i
    action q in {1, 2}
    observe t
    reward r[i]
end
step
    a = ifelse(t == 2, huge, 1)
    b[i] = ifelse(t == 1, q[i], -huge)
    c[i] = min(q[i], huge) + max(q[i], -huge) + clamp(q[i], -huge, huge)
    r[i] = a + c[i]
end
end
"""


@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_constants_beyond_float32_round_to_the_programs_dtype(tmp_path, backend, dtype, tol):
    """A constant beyond float32's range is exact in float64 and ±inf in float32 (what the value rounds to),
    in `where`, `min`/`max`/`clamp` and arithmetic alike: torch raised "value cannot be converted to type
    float without overflow" for a Python number beyond float32 in torch.where / torch.clamp."""
    path = tmp_path / "beyond_float32.econ"
    path.write_text(BEYOND_FLOAT32, encoding="utf-8")
    program = econdsl.load(path).program
    overflowed = 0
    for label, got, ref, mag in lockstep(program, backend, dtype, n_envs=2, n_steps=4):
        if dtype == torch.float32 and got.is_floating_point():
            beyond = ref.abs() > torch.finfo(torch.float32).max
            assert torch.equal(got[beyond], ref[beyond].float()), label  # ±inf, with the reference's sign
            overflowed += int(beyond.sum())
            got, ref, mag = got[~beyond], ref[~beyond], mag[~beyond]
        ok, ratio = compare(got, ref, mag, dtype)
        assert ok, f"{label} differs from the reference by {ratio:.3g} eps·M"
    assert dtype == torch.float64 or overflowed > 0
