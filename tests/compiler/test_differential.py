"""Differential tests: every model in models/ gives the same states, observations, rewards and named
quantities on every backend as on the float64 reference interpreter, on seeded random actions.

Tolerance (per compared tensor, relative to its largest magnitude): torch float64 1e-9, float32 and
Triton float32 2e-4 (see backends_under_test.py). The run crosses an episode boundary (auto-reset).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from backends_under_test import params

import econdsl

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.econ"))
N_ENVS, N_STEPS = 3, 12


def scaled_close(got: torch.Tensor, ref: torch.Tensor, tol: float) -> tuple[bool, float]:
    got, ref = got.double().cpu(), ref.double().cpu()
    if got.shape != ref.shape:
        return False, float("inf")
    if ref.dtype == torch.bool or got.dtype == torch.bool:
        return bool(torch.equal(got, ref)), 0.0
    finite = torch.isfinite(ref)
    if not torch.equal(finite, torch.isfinite(got)):
        return False, float("inf")
    if not finite.any():
        return True, 0.0
    scale = max(float(ref[finite].abs().max()), 1.0)
    err = float((got[finite] - ref[finite]).abs().max()) / scale
    return err <= tol, err


def trajectory(path: Path, backend: str, dtype: torch.dtype, seed: int = 7):
    model = econdsl.load(path)
    env = model.env(N_ENVS, backend=backend, dtype=dtype, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    out = [("reset", env.reset(), {}, {})]
    for _ in range(N_STEPS):
        obs, rew, done, _ = env.step(env.random_actions(gen))
        out.append(("step", obs, rew, env.state))
    return out


_REFERENCE: dict[Path, list] = {}


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("backend,dtype,tol", params(include_reference=False))
def test_backend_matches_reference(path, backend, dtype, tol):
    if path not in _REFERENCE:
        _REFERENCE[path] = trajectory(path, "reference", torch.float64)
    ref = _REFERENCE[path]
    got = trajectory(path, backend, dtype)
    worst = 0.0
    for t, ((_, o_ref, r_ref, s_ref), (_, o, r, s)) in enumerate(zip(ref, got, strict=True)):
        for group, a, b in (("obs", o, o_ref), ("reward", r, r_ref), ("state", s, s_ref)):
            assert a.keys() == b.keys(), (t, group)
            for name in b:
                ok, err = scaled_close(a[name], b[name], tol)
                worst = max(worst, err)
                assert ok, f"step {t}: {group} {name!r} differs from the reference by {err:.3g} (tol {tol})"
    assert worst <= tol
