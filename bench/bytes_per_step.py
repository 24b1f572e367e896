"""Bytes moved per env-step by the environment step the trainer actually runs, counted from tensor sizes.

Builds rbc_open's trainer as ``econdsl train --preset quick`` does (its ``Env``, with the quantities the
trainer turns on), wraps the compiled program's ``step`` / ``step_observe`` and runs training iterations,
summing ``numel × element_size`` of every tensor the step is given (state and parameter buffers, actions,
t, constants, random words) and every tensor it returns (next states, rewards, named quantities,
externals, observations). Divided by replicas × steps: bytes per env-step. These are tensor sizes, an
upper bound on what a kernel reads (it may not read every buffer it is passed) and what it writes; no GPU
and no timing is involved.

Both rollouts are counted: ``lean = off`` ("before": int64 actions, quantities in every step, whole
observation rows in the rollout buffers) and ``lean = on`` ("after": the trainer's lean rollout, its
narrow actions as the step receives them; the economy series computed by ``Env.state``'s full step only
on the iterations that collect them, counted on one such iteration and on one without, and amortised
over ``analytics_every``). The rollout buffers' bytes per env-step (what the rollout stores of each step)
are counted from their sizes too.

"Derived" rows are arithmetic on the counted sizes, not measurements: the lean step's traffic with int8
actions and without quantities and observations.

    python bench/bytes_per_step.py [--out bench/results/bytes_per_step_rbc_open.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402


def nbytes(x) -> int:
    if isinstance(x, torch.Tensor):
        return x.numel() * x.element_size()
    if isinstance(x, dict):
        return sum(nbytes(v) for v in x.values())
    if isinstance(x, list | tuple):
        return sum(nbytes(v) for v in x)
    return 0


def count(model_path: Path, preset: str, envs: int, lean: str = "off") -> dict:
    from econdsl.compiler.backends import compile_program

    import econdsl
    from econdsl.trainer.config import build_layers
    from econdsl.trainer.trainer import Trainer

    model = econdsl.load(model_path)
    layers = build_layers(model.resolved, preset, {},
                          {"envs": envs, "device": "cpu", "backend": "torch", "lean": lean})
    trainer = Trainer(model, layers.config, layers.curriculum_consts)
    env = trainer.env
    act_info: dict[str, str] = {}
    totals: dict[str, int] = defaultdict(int)
    calls = {"n": 0}

    def record(bufs, acts, t, consts, rng, res, obs) -> None:
        calls["n"] += 1
        totals["read: states and parameters"] += nbytes(bufs)
        totals["read: actions"] += nbytes(acts)
        totals["read: t, constants, random words"] += nbytes(t) + nbytes(consts) + nbytes(rng)
        totals["write: next states"] += nbytes(res.states)
        totals["write: rewards"] += nbytes(res.rewards)
        totals["write: quantities"] += nbytes(res.quantities)
        totals["write: externals"] += nbytes(res.externals)
        totals["write: observations"] += nbytes(obs)
        for a, x in acts.items():
            act_info[a] = f"{tuple(x.shape)} {x.dtype}"

    def wrap(compiled, analytics: bool) -> None:
        step, step_observe = compiled.step, compiled.step_observe

        def counted_step(bufs, acts, t, consts, rng=None):
            res = step(bufs, acts, t, consts, rng)
            if analytics:  # Env.state's full step: what it reads again and the quantities it writes
                totals["analytics: read again (states, parameters, actions, …)"] += (
                    nbytes(bufs) + nbytes(acts) + nbytes(t) + nbytes(consts) + nbytes(rng))
                totals["analytics: write quantities and everything else"] += (
                    nbytes(res.states) + nbytes(res.rewards) + nbytes(res.quantities) + nbytes(res.externals))
            else:
                record(bufs, acts, t, consts, rng, res, {})
            return res

        def counted_step_observe(bufs, acts, t, consts, rng=None):
            res, obs = step_observe(bufs, acts, t, consts, rng)
            record(bufs, acts, t, consts, rng, res, obs)
            return res, obs

        step_observe_split = compiled.step_observe_split

        def counted_step_observe_split(bufs, acts, t, consts, rng=None):
            res, obs = step_observe_split(bufs, acts, t, consts, rng)  # obs: {type: (shared, own)}
            record(bufs, acts, t, consts, rng, res, obs)
            return res, obs

        compiled.step, compiled.step_observe = counted_step, counted_step_observe
        compiled.step_observe_split = counted_step_observe_split

    wrap(env.compiled, False)
    if trainer.lean:  # Env.state makes this program itself on first use; made here to count it
        env._full = compile_program(model.program, env.backend, env.device, env.dtype, **env._backend_opts)
        wrap(env._full, True)

    def per_step() -> dict[str, float]:
        n = calls["n"] * envs
        out = {k: v / n for k, v in totals.items()}
        totals.clear()
        calls["n"] = 0
        return out

    rows: dict[str, dict[str, float]] = {}
    trainer.iterate()  # iteration 0 collects the series
    rows["with series"] = per_step()
    every = layers.config.series_every()
    if every > 1:
        trainer.iterate()
        rows["without series"] = per_step()
    # the step's traffic averaged over `analytics_every` iterations: one with the series, the others without
    plain = rows.get("without series", rows["with series"])
    keys = sorted(set(rows["with series"]) | set(plain))
    amortised = {k: (rows["with series"].get(k, 0.0) + (every - 1) * plain.get(k, 0.0)) / every for k in keys}
    step_keys = [k for k in amortised if not k.startswith("analytics")]
    buf = trainer._buf
    T = buf.dones.shape[0]
    stored = defaultdict(float)
    for b in buf.types.values():
        stored["observations"] += (nbytes(b.obs) + nbytes(b.shared) + nbytes(b.own)) / (T * envs)
        stored["actions"] += nbytes(b.actions) / (T * envs)
        stored["log-probabilities, values, rewards"] += nbytes([b.logp, b.values, b.rewards]) / (T * envs)
        stored["continuous draws"] += nbytes(b.reals) / (T * envs)
    per = rows["with series"] if every == 1 else plain
    actions_int8 = per["read: actions"] / 8 if all("int64" in s for s in act_info.values()) else per["read: actions"]
    lean_derived = (per["read: states and parameters"] + actions_int8 + per["write: next states"]
                    + per["write: rewards"])
    return {
        "bench": "bytes_per_step", "model": model.resolved.name, "preset": preset, "envs": envs,
        "lean": lean, "lean_rollout": trainer.lean, "analytics_every": every,
        "env_dtype": str(next(iter(env._bufs.values())).dtype), "actions": act_info,
        "quantities_in_step": env.quantities,
        "measured_counted_bytes_per_env_step": {k: round(v, 1) for k, v in rows["with series"].items()},
        "measured_counted_bytes_per_env_step_without_series": (
            {k: round(v, 1) for k, v in rows["without series"].items()} if "without series" in rows else None),
        "measured_counted_amortised": {k: round(v, 1) for k, v in amortised.items()},
        "measured_counted_total": round(sum(amortised[k] for k in step_keys), 1),
        "measured_counted_total_with_analytics": round(sum(amortised.values()), 1),
        "measured_rollout_buffer_bytes_per_env_step": {k: round(v, 1) for k, v in stored.items()},
        "measured_rollout_buffer_total": round(sum(stored.values()), 1),
        "derived_lean_bytes_per_env_step": round(lean_derived, 1),
        "derived_lean_definition": "states and parameters read + actions as int8 + next states + rewards "
                                   "(no quantities, no observations), from the counted sizes",
        **describe(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "rbc_open.econ")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--envs", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--lean", nargs="+", default=["off", "on"], choices=["off", "on"],
                    help="the rollouts to count: off (before) and on (the lean rollout, after)")
    args = ap.parse_args()
    rows = [count(args.model, args.preset, args.envs, lean) for lean in args.lean]
    text = json.dumps(rows if len(rows) > 1 else rows[0], indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
