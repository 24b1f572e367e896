"""Differential-test tolerances that follow the magnitude of the terms that make each value (issue 9).

The reference backend computes, next to every value, a float64 bound ``M`` on the size of the terms it
is made of (``ReferenceProgram.step_with_magnitudes``; the rules are in ``backends/reference.py``): a
sum of large terms has a large ``M`` even where it is small, a one-hot column or a parameter copied into
an observation has ``M = |value|``, an exact integer choice ``M = |value|``. A backend whose operations
are each rounded to a relative precision ε differs from the exact result by at most about
ε · (operations on the value's longest path) · M, so each element is checked against

    |got − ref| ≤ GROWTH · ε(dtype) · M + TINY

with ε = 2^-52 (float64) or 2^-23 (float32), GROWTH = 2^6 and TINY = 1e-30 (values that underflow).
Measured worst |got − ref| / (ε·M) on models/ (test_differential.py prints it): torch float64 0.83,
torch float32 0.88, Triton float32 (interpreter) 1.81; GROWTH leaves a margin of 35 for deeper models. Booleans and
integers must be equal. Non-finite values must be the same (NaN where NaN, ±inf where ±inf).

The comparison is one step at a time from the reference's own states (``lockstep``): every backend gets
the same inputs each step, so errors do not compound over a trajectory and a value near a threshold
(a comparison, ``floor``) is computed from the same inputs on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from econdsl.compiler import cache
from econdsl.compiler.backends import CompiledProgram, compile_program, split_observations
from econdsl.compiler.ir import Program, real_key
from econdsl.compiler.philox import rng_words

EPS = {torch.float64: 2.0 ** -52, torch.float32: 2.0 ** -23}
GROWTH = 2.0 ** 6
TINY = 1e-30


def tolerance(mag: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return GROWTH * EPS[dtype] * mag.double() + TINY


def compare(got: torch.Tensor, ref: torch.Tensor, mag: torch.Tensor, dtype: torch.dtype) -> tuple[bool, float]:
    """(every element within its tolerance, the worst |got − ref| / (ε · M + TINY) ratio)."""
    got, ref = got.cpu(), ref.cpu()
    if got.shape != ref.shape:
        return False, float("inf")
    if ref.dtype in (torch.bool, torch.int64) or got.dtype in (torch.bool, torch.int64):
        return bool(torch.equal(got.long(), ref.long())), 0.0
    got, ref, mag = got.double(), ref.double(), mag.double().cpu().reshape(ref.shape)
    finite = torch.isfinite(ref)
    same_special = torch.equal(torch.isnan(got), torch.isnan(ref)) and \
        torch.equal(torch.where(finite, 0.0, torch.nan_to_num(ref)), torch.where(torch.isfinite(got), 0.0,
                                                                                 torch.nan_to_num(got)))
    if not same_special or not torch.equal(finite, torch.isfinite(got)):
        return False, float("inf")
    err = (got - ref).abs()[finite]
    if err.numel() == 0:
        return True, 0.0
    ratio = float((err / (EPS[dtype] * mag[finite] + TINY)).max())
    return bool((err <= tolerance(mag[finite], dtype)).all()), ratio


@dataclass
class ReferenceRun:
    """The reference's inputs, results and magnitudes, step by step (computed once per program and seed)."""

    uniforms: dict
    consts: dict
    init: tuple[dict, dict]  # values, magnitudes
    steps: list = field(default_factory=list)  # (bufs, actions, t, (res, mag), (obs, obs_mag))
    staged: list = field(default_factory=list)  # with stages: (obs, obs_mag) of each step's period, with its actions


_RUNS: dict[tuple, ReferenceRun] = {}


def reference_run(program: Program, n_envs: int, n_steps: int, seed: int) -> ReferenceRun:
    key = (cache.program_fingerprint(program), n_envs, n_steps, seed)
    if key in _RUNS:
        return _RUNS[key]
    ref = compile_program(program, "reference", "cpu", torch.float64)
    gen = torch.Generator().manual_seed(seed)
    uniforms = {n: torch.rand((n_envs, *program.size(d)), generator=gen, dtype=torch.float64)
                for n, d in program.uniforms.items()}
    consts = {n: torch.tensor(float(v), dtype=torch.float64) for n, v in program.runtime_consts.items()}
    run = ReferenceRun(uniforms, consts, ref.init_with_magnitudes(n_envs, uniforms, consts))
    bufs = run.init[0]
    nvec = {a: [h.n for h in program.heads if h.agent == a and not h.continuous for _ in range(h.n_columns)]
            for a in program.agents}
    bounds = {a: torch.tensor(program.real_bounds(a), dtype=torch.float64).T for a in program.real_agents()}
    for step in range(n_steps):
        t = torch.full((n_envs,), float(step % program.horizon), dtype=torch.float64)
        actions = {}
        for a in program.agents:
            u = torch.rand((n_envs, program.n_agents(a), len(nvec[a])), generator=gen, dtype=torch.float64)
            actions[a] = (u * torch.tensor(nvec[a], dtype=torch.float64)).long()
        for a, (lo, hi) in bounds.items():  # continuous heads: uniform values in their intervals
            u = torch.rand((n_envs, program.n_agents(a), len(lo)), generator=gen, dtype=torch.float64)
            actions[real_key(a)] = lo + u * (hi - lo)
        res = ref.step_with_magnitudes(bufs, actions, t, consts, rng_words(seed, step, n_envs))
        nxt = {**bufs, **res[0].states}
        run.steps.append((bufs, actions, t, res, ref.observe_with_magnitudes(nxt, t + 1, consts)))
        if program.stages:  # the period's later stages observe its earlier actions
            run.staged.append(ref.observe_with_magnitudes(bufs, t, consts, actions))
        bufs = nxt
    _RUNS[key] = run
    return run


def lockstep(program: Program, backend: str, dtype: torch.dtype, n_envs: int = 3, n_steps: int = 12,
             seed: int = 7, device: str = "cpu",
             **opts) -> Iterator[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(label, backend value, reference value, magnitude) for every parameter and initial state, then for
    every step: next states, rewards, quantities, externals (from the backend's fused ``step_observe``)
    and the observations of the next states (with stages, also the observations of each period given its
    actions, those later stages see); the fused observation is also checked against the
    backend's own ``observe`` of its next states. Actions are uniformly random (seeded); each step starts
    from the reference's states, and ``t`` wraps at the horizon. ``device``: where the backend runs
    (bench/gpu_check.py checks the compiled kernels on CUDA); the reference runs on the CPU. ``opts``: the
    backend's compile options (the Triton kernel variants: ``tile``, ``block``, ``replicas``)."""
    run = reference_run(program, n_envs, n_steps, seed)
    got = compile_program(program, backend, device, dtype, **opts)
    consts = {n: v.to(device, dtype) for n, v in run.consts.items()}

    def cast(bufs):
        return {k: v.to(device, dtype) for k, v in bufs.items()}

    def put(xs):
        return {k: v.to(device) for k, v in xs.items()}

    init = got.init(n_envs, put(run.uniforms), consts)
    for name, ref in run.init[0].items():
        yield f"init {name}", init[name], ref, run.init[1][name]
    for step, (bufs, actions, t, (res, mag), (obs, obs_mag)) in enumerate(run.steps):
        # draws inside the step: the random words of (seed, step), as the environment makes them
        t_dev = t.to(device, dtype)
        out, fused_obs = got.step_observe(cast(bufs), put(actions), t_dev, consts,
                                          rng_words(seed, step, n_envs).to(device))
        for group in ("states", "rewards", "quantities", "externals"):
            for name, r in getattr(res, group).items():
                yield f"step {step} {group} {name}", getattr(out, group)[name], r, getattr(mag, group)[name]
        # the fused observation (of the backend's own next states) is the backend's observe of them
        own = got.observe({**cast(bufs), **out.states}, t_dev + 1, consts)
        for agent in own:
            yield f"step {step} fused obs {agent}", fused_obs[agent], own[agent], own[agent].abs()
        if step == 0 and type(got).step_observe_split is not CompiledProgram.step_observe_split:
            # a backend that writes split observations itself (the lean rollout's): the same columns
            # (on the first step: every item's store is checked once, at a fraction of the interpreter's time)
            _, split = got.step_observe_split(cast(bufs), put(actions), t_dev, consts,
                                              rng_words(seed, step, n_envs).to(device))
            whole = split_observations(program, own)
            for agent in own:
                for k, part in enumerate(("shared", "own")):
                    yield (f"step {step} split obs {agent} {part}", split[agent][k], whole[agent][k],
                           whole[agent][k].abs())
        obs_got = got.observe(cast({**bufs, **res.states}), t_dev + 1, consts)
        for agent in obs:
            yield f"step {step} obs {agent}", obs_got[agent], obs[agent], obs_mag[agent]
        if program.stages:
            staged, staged_mag = run.staged[step]
            obs_got = got.observe(cast(bufs), t.to(dtype), consts, actions)
            for agent in staged:
                yield f"step {step} staged obs {agent}", obs_got[agent], staged[agent], staged_mag[agent]
