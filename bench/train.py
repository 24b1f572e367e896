"""End-to-end training throughput: rollout (policies + environment) and PPO updates, every type training.

For each number of envs, builds the trainer of a model (default rbc_open, its ``quick`` preset's
settings unless overridden) with every agent type training from iteration 0 and every action allowed
(the most expensive iteration of a run), runs ``--warmup`` iterations, then reports the median over
``--repeats`` iterations of env-steps/s and agent-steps/s (the whole iteration: rollout, returns,
updates, normaliser), plus the rollout and update times. One JSON row per size.

    python bench/train.py --envs 64 256 1024 --out bench/results/train_rbc_open.json
    python bench/train.py --preset none --device cuda --envs 1024 4096   # paper-scale settings on a GPU
    python bench/train.py --envs 64 256 1024 --lean off on --repeats 5   # the full and the lean rollout side by side
    python bench/train.py --device cuda --envs 1024 --lean on --capture off graph   # CUDA graphs on and off

Several ``--lean`` / ``--capture`` values: for each size, one trainer per combination, all made first, their
iterations taking turns (one of each, then the next round), so their ratios are measured under the same load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402


def machine() -> dict:
    return describe()


def make_trainer(model, preset: str, n: int, sets: dict, device: str = "cpu", backend: str | None = None,
                 lean: str | None = None, capture: str | None = None):
    """A trainer with ``n`` replicas, every type training and every action allowed. ``preset="none"``: the
    train section's own settings (the paper's); ``backend``: the environment backend (default: the
    settings'); ``lean`` / ``capture``: the rollout's settings (default: the settings', "auto")."""
    from econdsl.trainer.config import build_layers
    from econdsl.trainer.trainer import Trainer

    cli = {"envs": n, "device": device} | ({"backend": backend} if backend else {}) | ({"lean": lean} if lean else {}) \
        | ({"capture": capture} if capture else {})
    layers = build_layers(model.resolved, None if preset == "none" else preset, sets, cli)
    cfg = layers.config
    cfg.curriculum = False  # every type trains, every action allowed: the costliest iteration
    return Trainer(model, cfg, layers.curriculum_consts)


def measure_interleaved(model, preset: str, n: int, sets: dict, device: str = "cpu", warmup: int = 1,
                        repeats: int = 5, backend: str | None = None,
                        variants: list[tuple[str | None, str | None]] = ((None, None),)) -> list[dict]:
    """One row per (lean, capture) of ``variants``: the median over ``repeats`` iterations (after ``warmup``)
    of its trainer (:func:`make_trainer`). The trainers are made first and then iterate in turn (variant 1,
    2, …, 1, 2, …), so that every variant's iterations run under the same machine load."""
    trainers = [make_trainer(model, preset, n, sets, device, backend, lean, capture) for lean, capture in variants]
    runs: list[list[dict]] = [[] for _ in trainers]
    for k in range(warmup + repeats):
        for trainer, got in zip(trainers, runs, strict=True):
            m = trainer.iterate()
            if k >= warmup:
                got.append(m)
    return [row_of(model, preset, n, device, t, got) | {"interleaved_with": len(trainers)}
            for t, got in zip(trainers, runs, strict=True)]


def measure(model, preset: str, n: int, sets: dict, device: str = "cpu", warmup: int = 1, repeats: int = 5,
            backend: str | None = None, lean: str | None = None, capture: str | None = None) -> dict:
    """One row: the median over ``repeats`` iterations (after ``warmup``) of one trainer (:func:`make_trainer`)."""
    return measure_interleaved(model, preset, n, sets, device, warmup, repeats, backend, [(lean, capture)])[0]


def row_of(model, preset: str, n: int, device: str, trainer, runs: list[dict]) -> dict:
    cfg = trainer.cfg
    eps = statistics.median(r["time/env_steps_per_s"] for r in runs)
    agents = sum(trainer.env.n_agents[a] for a in trainer.types)
    return {
        "bench": "train", "model": model.resolved.name, "preset": preset, "envs": n,
        "steps_per_iteration": trainer.steps, "epochs": cfg.epochs, "minibatches": cfg.minibatches,
        "hidden": list(cfg.hidden), "threads": torch.get_num_threads(), "device": device,
        "backend": cfg.backend, "lean": trainer.lean, "capture": trainer.capture,
        "analytics_every": cfg.series_every(),
        "env_steps_per_s": round(eps, 1), "agent_steps_per_s": round(eps * agents, 1),
        "rollout_s": round(statistics.median(r["time/rollout_s"] for r in runs), 4),
        "update_s": round(statistics.median(r["time/update_s"] for r in runs), 4),
        "repeats": len(runs), **machine(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "rbc_open.econ"))
    ap.add_argument("--preset", default="quick", help="a preset of the model's train section, or `none`")
    ap.add_argument("--envs", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default=None, choices=["torch", "triton"], help="environment backend")
    ap.add_argument("--lean", nargs="+", default=[None], choices=["auto", "on", "off"],
                    help="the rollout's lean setting (default: the settings'); several: each size measured with "
                         "each, their iterations taking turns (side by side in one run)")
    ap.add_argument("--capture", nargs="+", default=[None], choices=["auto", "graph", "compile", "off"],
                    help="how the rollout step runs (default: the settings'); several: as --lean (every pair)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="append JSON rows to this file")
    args = ap.parse_args()

    import econdsl

    model = econdsl.load(args.model)
    sets = dict(s.split("=", 1) for s in args.sets)
    rows = []
    variants = [(lean, capture) for lean in args.lean for capture in args.capture]
    for n in args.envs:
        for row in measure_interleaved(model, args.preset, n, sets, args.device, args.warmup, args.repeats,
                                       args.backend, variants):
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
