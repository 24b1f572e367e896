"""The final evaluation: one episode of fresh replicas under the trained policies, recorded by name.

At step t, a state's value is the one the step starts from (t = 0: the initial state) and a step
quantity's value is the one step t computes, as in the paper's records.

Every state and named step quantity is read from ``Env.state`` after each step, so analysis code and
plots find the economy's series under their ``.econ`` names (``p``, ``w``, ``hours``, ``Y`` …).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import files
from .fileio import write_atomic
from .policy import TypePolicy, real_values
from .rollout import declared_bounds

STATE_TIMING = "pre_step"
"""eval.json's ``state_timing``: a state's entry t is its value before step t (the value step t starts from)."""
STATE_TIMING_NOTE = ("states: the value step t starts from (t = 0: the initial state, so the state after the last "
                     "step is not recorded); step quantities and rewards: the values step t computes")


@torch.inference_mode()
def evaluate(trainer, n_envs: int, greedy: bool = False, seed_offset: int = 1000) -> dict[str, Any]:
    """Run one episode (the model's horizon) in ``n_envs`` new replicas with the curriculum of the last
    trained iteration; return ``{"series": {name: [T, E, ...]}, "rewards": {type: [T, E, n]}, ...}``."""
    cfg = trainer.cfg
    env = trainer.model.env(n_envs, backend=cfg.backend, device=cfg.device, seed=cfg.seed + seed_offset,
                            quantities=bool(trainer.series_names))
    e = max(trainer.iteration - 1, 0)
    trainer.apply_curriculum(env, e)
    masks = trainer.masks(e)
    gen = torch.Generator(device=trainer.device).manual_seed(cfg.seed + seed_offset)
    obs = env.reset()
    steps = trainer.resolved.horizon or trainer.steps
    series: dict[str, list[np.ndarray]] = {n: [] for n in trainer.series_names}
    rewards: dict[str, list[np.ndarray]] = {a: [] for a in trainer.types}
    actions: dict[str, list[np.ndarray]] = {a: [] for a in trainer.types}
    # continuous heads: the values taken (sampled) and the policy's central value (z = μ, its median)
    reals = [a for a in trainer.types if trainer.policies[a].n_real]
    real_taken: dict[str, list[np.ndarray]] = {a: [] for a in reals}
    real_central: dict[str, list[np.ndarray]] = {a: [] for a in reals}
    bounds = {a: b if (b := trainer.bounds(e)[a]) is not None else declared_bounds(env, a, trainer.device)
              for a in reals}
    states = {n for n in series if trainer.resolved.symbols[n].kind == "state"}
    for _ in range(steps):
        # states as the step sees them (before it), quantities as the step computes them: at the episode's
        # last step the environment has already reset its states when it returns
        before = env.state
        for name in states:
            series[name].append(before[name].float().cpu().numpy())
        act: dict[str, torch.Tensor] = {}
        for k, stage in enumerate(env.stages):
            if k:  # a later stage observes the actions of the earlier ones
                obs = {**obs, **env.observe_stage(act, k)}
            for a in stage:
                x = obs[a]
                E, n, d = x.shape
                if a in bounds:
                    dist, _ = trainer.policies[a].dist(x.reshape(E * n, d).float(), masks[a])
                    both = TypePolicy.sample_action(dist, gen, greedy)
                    act[a] = both.index.view(E, n, -1)
                    act[env.real_key[a]] = real_values(both.z.view(E, n, -1), bounds[a])
                    real_taken[a].append(act[env.real_key[a]].cpu().numpy())
                    real_central[a].append(real_values(dist.mean.view(E, n, -1), bounds[a]).cpu().numpy())
                else:
                    logp, _ = trainer.policies[a](x.reshape(E * n, d).float(), masks[a])
                    act[a] = TypePolicy.sample(logp, gen, greedy).view(E, n, -1)
                actions[a].append(act[a].cpu().numpy())
        obs, r, _, _ = env.step(act)
        for a in trainer.types:
            rewards[a].append(r[a].float().cpu().numpy())
        after = env.state
        for name in series:
            if name not in states:
                series[name].append(after[name].float().cpu().numpy())
    return {
        "series": {k: np.stack(v) for k, v in series.items()},
        "rewards": {k: np.stack(v) for k, v in rewards.items()},
        "actions": {k: np.stack(v) for k, v in actions.items()},
        "real_actions": {k: np.stack(v) for k, v in real_taken.items()},
        "real_central": {k: np.stack(v) for k, v in real_central.items()},
        "iteration": e,
    }


def save(result: dict[str, Any], resolved, path: Path) -> dict[str, Any]:
    """Write ``eval.npz`` (arrays) and ``eval.json`` (dims, units and episode means of every series)."""
    arrays = {f"series/{k}": v for k, v in result["series"].items()}
    arrays |= {f"reward/{k}": v for k, v in result["rewards"].items()}
    arrays |= {f"action/{k}": v for k, v in result["actions"].items()}
    arrays |= {f"{files.REAL_ACTION}{k}": v for k, v in result.get("real_actions", {}).items()}
    arrays |= {f"{files.REAL_CENTRAL}{k}": v for k, v in result.get("real_central", {}).items()}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_atomic(path / files.EVAL_ARRAYS, buf.getvalue())
    summary: dict[str, Any] = {
        "iteration": result["iteration"],
        # how the series are recorded, so that readers need not infer it from the data
        "state_timing": STATE_TIMING, "state_timing_note": STATE_TIMING_NOTE,
        "series": {}, "reward": {}}
    for k, v in result["series"].items():
        sym = resolved.symbols.get(k)
        summary["series"][k] = {
            "kind": sym.kind if sym else "?", "dims": list(sym.dims) if sym else [],
            "mean": float(np.mean(v)), "first_step_mean": float(np.mean(v[0])), "last_step_mean": float(np.mean(v[-1])),
        }
    for k, v in result["rewards"].items():
        summary["reward"][k] = float(np.mean(v))
    if result.get("real_actions"):
        from ..analysis.runs import action_values

        summary["actions"] = {}
        for a, taken in result["real_actions"].items():
            idx = result["actions"][a]
            central = action_values(resolved, a, idx, result["real_central"][a])
            continuous = {c for h in resolved.heads[a] if h.continuous for c in h.components}
            for comp, v in action_values(resolved, a, idx, taken).items():
                if comp in continuous:
                    summary["actions"][comp] = {"mean": float(np.mean(v)),
                                                "central_mean": float(np.mean(central[comp]))}
    write_atomic(path / files.EVAL_SUMMARY, json.dumps(summary, ensure_ascii=False, indent=1))  # last: "finished"
    return summary


def load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The evaluation episode of the run at ``path``; a damaged eval.npz or eval.json is a RunError."""
    from .fileio import RunError

    try:
        with np.load(path / files.EVAL_ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        summary = json.loads((path / files.EVAL_SUMMARY).read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001 - zip, npy, JSON and decoding errors all mean a damaged file
        raise RunError(f"the evaluation files of `{path}` are damaged ({type(e).__name__}: {e}); rerun "
                       f"`econdsl train --resume` or delete eval.npz and eval.json") from None
    ok = isinstance(summary, dict) and isinstance(summary.get("series"), dict) \
        and isinstance(summary.get("reward"), dict) and all(
            isinstance(v, dict) and all(isinstance(v.get(k), int | float) for k in ("mean", "first_step_mean",
                                                                                     "last_step_mean"))
            and isinstance(v.get("dims", []), list) for v in summary["series"].values()) \
        and all(isinstance(v, int | float) for v in summary["reward"].values()) \
        and all(isinstance(a, np.ndarray) and a.dtype.kind in "fiub" for a in arrays.values())
    if not ok:
        raise RunError(f"`{path / files.EVAL_SUMMARY}` or `{path / files.EVAL_ARRAYS}` is damaged: not the "
                       f"evaluation episode econdsl writes")
    return arrays, summary
