"""Property: a model that checks clean compiles for every backend, and reference (float64), torch (float64
and float32) and Triton (interpreter, float32) agree on random actions with per-element tolerances from
the magnitude of each value's terms (tolerances.py). The models come from model_generator.py, which
uses every construct the compiler handles (populations in either order, equal and unequal sizes,
single-member and singleton agents, per-member heads over another population, actions and states that
hold a member used as indices, nested indexing, filtered reductions that compare with the outer member,
every reduction, ifelse, distributions, an agent without observations, values near and outside their declared
bounds, whole-number states around 2^24 and 2^31).

A generated model that `check` rejects is skipped (the checker must have said why, with a location);
one that `check` accepts and that fails to compile or disagrees is a bug.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from backends_under_test import available
from hypothesis import HealthCheck, example, given, settings
from model_generator import expectation_problems, models
from tolerances import compare, lockstep

import econdsl
from econdsl.language import EconError

# CI budget (2 cores, shared): ~0.2 s of CPU per model for reference + torch float64/float32, ~0.45 s
# more for the Triton interpreter (measured on 20 models: bench/fuzz_models.py prints the same split).
N_MODELS = int(os.environ.get("ECONDSL_GENERATED_MODELS", "200"))
N_MODELS_TRITON = int(os.environ.get("ECONDSL_GENERATED_MODELS_TRITON", "60"))
TORCH = [("torch", torch.float64), ("torch", torch.float32)]
TRITON = [("triton", torch.float32)] if available("triton") else []


def check_model(text: str, path, backends=(*TORCH, *TRITON)) -> list[str]:
    """Every disagreement of one model (none if `check` rejects it: nothing is promised then), and every
    contradiction of what it was generated to be (a value outside its declared range must be rejected with
    E703 or E311, one inside must not be: model_generator.expectation_problems)."""
    path.write_text(text, encoding="utf-8")
    try:
        program = econdsl.load(path).program
    except EconError as e:
        return expectation_problems(text, {d.code for d in e.diagnostics.items})
    problems = expectation_problems(text, set())
    for backend, dtype in backends:
        for label, got, ref, mag in lockstep(program, backend, dtype, n_envs=2, n_steps=2, seed=len(text)):
            ok, ratio = compare(got, ref, mag, dtype)
            if not ok:
                problems.append(f"{backend} {dtype}: {label} differs by {ratio:.3g} eps·M")
    return problems


SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.mark.slow  # hundreds of generated models
@settings(max_examples=N_MODELS, **SETTINGS)
@given(text=models())
def test_checked_models_compile_and_agree_on_reference_and_torch(tmp_path_factory, text):
    problems = check_model(text, tmp_path_factory.mktemp("gen") / "generated.econ", TORCH)
    assert not problems, "\n".join(problems[:5]) + "\n" + text


# Found by this test: the Triton kernel's inverse normal CDF (LogNormal draws) lost ~90 ulp in float32.
LOGNORMAL = (Path(__file__).parent / "models" / "generated_lognormal.econ").read_text(encoding="utf-8")


@pytest.mark.slow  # tens of generated models through the Triton interpreter
@pytest.mark.skipif(not TRITON, reason="the Triton backend is not available")
@settings(max_examples=N_MODELS_TRITON, **SETTINGS)
@given(text=models())
@example(text=LOGNORMAL)
def test_checked_models_compile_and_agree_on_every_backend(tmp_path_factory, text):
    problems = check_model(text, tmp_path_factory.mktemp("gen") / "generated.econ")
    assert not problems, "\n".join(problems[:5]) + "\n" + text
