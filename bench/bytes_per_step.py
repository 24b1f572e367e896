"""Bytes moved per env-step by the environment step the trainer actually runs, counted from tensor sizes.

Builds rbc_open's trainer as ``econdsl train --preset quick`` does (its ``Env``, with the quantities the
trainer turns on), wraps the compiled program's ``step`` / ``step_observe`` and runs one training
iteration, summing ``numel × element_size`` of every tensor the step is given (state and parameter
buffers, actions, t, constants, random words) and every tensor it returns (next states, rewards, named
quantities, externals, observations). Divided by replicas × steps: bytes per env-step. These are tensor
sizes, an upper bound on what a kernel reads (it may not read every buffer it is passed) and what it
writes; no GPU and no timing is involved.

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
    return 0


def count(model_path: Path, preset: str, envs: int) -> dict:
    import econdsl
    from econdsl.trainer.config import build_layers
    from econdsl.trainer.trainer import Trainer

    model = econdsl.load(model_path)
    layers = build_layers(model.resolved, preset, {}, {"envs": envs, "device": "cpu", "backend": "torch"})
    trainer = Trainer(model, layers.config, layers.curriculum_consts)
    compiled = trainer.env.compiled
    totals: dict[str, int] = defaultdict(int)
    calls = {"n": 0}
    act_info: dict[str, str] = {}

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

    step, step_observe = compiled.step, compiled.step_observe

    def counted_step(bufs, acts, t, consts, rng=None):
        res = step(bufs, acts, t, consts, rng)
        record(bufs, acts, t, consts, rng, res, {})
        return res

    def counted_step_observe(bufs, acts, t, consts, rng=None):
        res, obs = step_observe(bufs, acts, t, consts, rng)
        record(bufs, acts, t, consts, rng, res, obs)
        return res, obs

    compiled.step, compiled.step_observe = counted_step, counted_step_observe
    trainer.iterate()
    env_steps = calls["n"] * envs
    per = {k: v / env_steps for k, v in totals.items()}
    counted_total = sum(per.values())
    # int8 actions: one byte per action element (the counted actions are int64: 8 bytes each)
    actions_int8 = per["read: actions"] / 8 if all("int64" in s for s in act_info.values()) else per["read: actions"]
    lean = (per["read: states and parameters"] + actions_int8 + per["write: next states"] + per["write: rewards"])
    return {
        "bench": "bytes_per_step", "model": model.resolved.name, "preset": preset, "envs": envs,
        "env_dtype": str(next(iter(trainer.env._bufs.values())).dtype), "actions": act_info,
        "quantities_on": trainer.env.quantities, "steps_counted": calls["n"],
        "measured_counted_bytes_per_env_step": {k: round(v, 1) for k, v in per.items()},
        "measured_counted_total": round(counted_total, 1),
        "derived_lean_bytes_per_env_step": round(lean, 1),
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
    args = ap.parse_args()
    row = count(args.model, args.preset, args.envs)
    text = json.dumps(row, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
