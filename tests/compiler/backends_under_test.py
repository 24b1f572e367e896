"""The backends every differential and test-vector test runs on: (id, backend name, dtype, tolerance).

A backend whose module cannot be imported (e.g. Triton on a platform without it) is skipped.
The last field is a tolerance relative to the scale (max |value|) of each compared tensor, used by the
tests that compare against analytic vectors or another backend (test_rbc_vectors.py, test_triton.py);
the differential tests against the reference use per-element tolerances from the magnitude of each
value's terms (tolerances.py). Documented in compiler/README.md.
"""

from __future__ import annotations

import importlib

import pytest
import torch

BACKENDS = [
    ("reference", "reference", torch.float64, 1e-12),
    ("torch-f64", "torch", torch.float64, 1e-9),
    ("torch-f32", "torch", torch.float32, 2e-4),
    ("triton-f32", "triton", torch.float32, 2e-4),
]


def available(name: str) -> bool:
    from econdsl.compiler.backends import BACKENDS as REGISTRY

    try:
        mod = importlib.import_module(REGISTRY[name], "econdsl.compiler.backends")
    except Exception:
        return False
    return hasattr(mod, "compile_program")


def params(include_reference: bool = True):
    out = []
    for ident, name, dtype, tol in BACKENDS:
        if not include_reference and name == "reference":
            continue
        marks = [] if available(name) else [pytest.mark.skip(reason=f"backend {name} not available")]
        out.append(pytest.param(name, dtype, tol, id=ident, marks=marks))
    return out
