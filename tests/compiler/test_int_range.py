"""Whole numbers beyond 2^31 (ir.INT_LIMIT; Triton computes "i" values in int32).

A state declared ``in lo:hi`` holds whole numbers; a range beyond ±2^31 (a count of people, a price in
cents) checks clean and must give the same numbers on every backend as on the float64 reference. The
IR's ``int`` op is also pinned directly: ``floor``, saturated into (-INT_LIMIT, INT_LIMIT), NaN → 0, on
every backend.
"""

from __future__ import annotations

import math

import pytest
import torch
from backends_under_test import params
from econdsl.compiler.backends import compile_program
from econdsl.compiler.builder import Builder
from econdsl.compiler.ir import INT_LIMIT, Buffer, Function, Program, int_value
from econdsl.compiler.philox import rng_words
from econdsl.compiler.verify import VerifyError, verify
from tolerances import compare, lockstep

import econdsl

BIG = """model big_counts
horizon 3
agent A[2] index j
    state n = 2000000000 + j in 0:5000000000        # 2^31 is 2147483648
    state m = -2000000000 - j in -5000000000:0
    action up in {0, 1500000000}
    observe n[j], m[j]
    reward n[j] - m[j] / 2 + ifelse(n[j] > 3000000000, 1, 0)
end
step
    next n[j] = clamp(n[j] + up[j], 0, 5000000000)
    next m[j] = clamp(m[j] - up[j], -5000000000, 0)
    above[j] = ifelse(n[j] >= 3500000000, 1, 0)
    count[j] = n[j]
end
end
"""


# Inside int32 but beyond float32's whole numbers (2^24): a float32 buffer cannot hold 2147482001 exactly, so
# an integer read of it (an "i" quantity, compared exactly) would differ from the float64 reference's.
NEAR = BIG
for old, new in (("5000000000", "2147483001"), ("2000000000 + j", "2147482001 + j"),
                 ("2000000000 - j", "2147482001 - j"), ("1500000000", "999"), ("3000000000", "2147482500"),
                 ("3500000000", "2147483000")):
    NEAR = NEAR.replace(old, new)


@pytest.mark.parametrize("text", [BIG, NEAR], ids=["beyond_int32", "beyond_float32_whole_numbers"])
@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_whole_number_states_beyond_int32_agree_with_the_reference(tmp_path, backend, dtype, tol, text):
    path = tmp_path / "big.econ"
    path.write_text(text, encoding="utf-8")
    program = econdsl.load(path).program
    seen = 0.0
    for label, got, ref, mag in lockstep(program, backend, dtype, n_envs=2, n_steps=3, seed=3):
        ok, ratio = compare(got, ref, mag, dtype)
        assert ok, f"{label}: {got} against the reference {ref} ({ratio:.3g} eps·M)"
        if label.startswith("step") and "rewards" in label:
            seen = max(seen, float(ref.abs().max()))
    assert seen > 2 ** 31 - 10 ** 4  # the run did go near or beyond 2^31


def _int_program(values: list[float]) -> Program:
    """A program whose step returns int(x) and float(int(x)) (as quantities) of the state x, one per member."""
    pops = {"P": len(values)}
    init, step = Builder("init", pops), Builder("step", pops)
    init.output("state", "x", init.const(tuple(values), "f", ("P",)))
    ix = step.to_int(step.input("state", "x", ("P",), "f"), 0, 10)
    step.output("quantity", "ix", ix)
    step.output("quantity", "back", step.elementwise("float", (ix,)))
    return Program("ints", pops, (), [], 1, [Buffer("x", "state", ("P",))], [], {}, {}, init.fn, step.fn,
                   Function("observe"))


LIMIT = INT_LIMIT - 1
INPUTS = [0.0, 2.5, -2.5, 2.0 ** 31 - 1, 2.0 ** 31, 3e9, -3e9, -(2.0 ** 31), 1e300, -math.inf, math.inf, math.nan]
EXPECTED = [0, 2, -3, LIMIT, LIMIT, LIMIT, -LIMIT, -LIMIT, LIMIT, -LIMIT, LIMIT, 0]  # also in float32


@pytest.mark.parametrize("backend,dtype,tol", params())
def test_the_int_op_floors_and_saturates_on_every_backend(backend, dtype, tol):
    """Outside its declared range (never, in a checked model) the op is still the same on every backend."""
    program = _int_program(INPUTS)
    verify(program)
    compiled = compile_program(program, backend, "cpu", dtype)
    state = {"x": torch.tensor([INPUTS], dtype=dtype)}
    out = compiled.step(state, {}, torch.zeros(1, dtype=dtype), {}, rng_words(0, 0, 1))
    assert out.quantities["ix"].long().tolist() == [EXPECTED]
    assert out.quantities["back"].double().tolist() == [torch.tensor(EXPECTED, dtype=dtype).double().tolist()]
    assert [int_value(v) for v in INPUTS] == EXPECTED


def test_the_verifier_wants_the_range_of_every_int_op():
    pops = {"P": 2}
    for lo, hi in ((0, INT_LIMIT), (-INT_LIMIT, 0), (0.5, 3), (None, None)):
        step = Builder("step", pops)
        x = step.input("state", "x", ("P",), "f")
        attrs = () if lo is None else (("lo", lo), ("hi", hi))
        step.output("quantity", "ix", step.elementwise("int", (x,), attrs=attrs))
        program = Program("ints", pops, (), [], 1, [Buffer("x", "state", ("P",))], [], {}, {}, Function("init"),
                          step.fn, Function("observe"))
        with pytest.raises(VerifyError, match="int without a whole-number range"):
            verify(program)
