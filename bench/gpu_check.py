"""The one prepared GPU run (issue 16): correctness, step throughput, training throughput, a full quick run.

    bash bench/gpu_check.sh              # on a machine with one CUDA GPU, at most ~8 minutes
    bash bench/gpu_check.sh --dry-run    # the same code paths on the CPU at tiny sizes (CI)

Sections, each timed, each a set of JSON rows appended to ``--out`` (default bench/results/gpu_check.jsonl;
the dry run's default is bench/results/gpu_check_dry.jsonl):

- ``machine``: device, SM count, driver, torch / triton / CUDA versions (bench/env_step_gpu.py's ``machine``);
- ``check`` (a): every models/*.econ on the Triton backend (compiled kernels) and the torch backend, float32,
  on the device, against the float64 reference interpreter on seeded random actions, one step at a time
  from the reference's states, per-element tolerance from the magnitude of each value's terms
  (tests/compiler/tolerances.py, the differential tests' rule);
  rbc_open also with the kernel variants of ``CHECK_VARIANTS`` (blocks of consumers looped over, several
  replicas per program);
- ``step`` (b): bench/env_step_gpu.py's modes for rbc_open at 4,096 / 16,384 / 65,536 replicas (Triton step,
  step+observe, step with quantities, CUDA-graph replay, torch, the whole ``Env.step``), and the step and the
  graph-replayed lean step of every kernel variant of ``env_step_gpu.KERNEL_VARIANTS`` (whole tile / several
  replicas per program / blocks of 16, 32, 64 consumers; each row records its launch config, the default
  rows the one ``triton.autotune`` chose);
- ``train`` (c): bench/train.py's ``measure_interleaved`` at 1,024 and 4,096 replicas with the paper's settings
  (the train section without a preset) and with ``quick``, environment on Triton and on torch, a few
  iterations, with the lean rollout (``lean = on``) and its step in CUDA graphs (``capture = graph``); quick
  on Triton also with the step eager (``capture = off``) and with the full rollout (``lean = off``), the three
  trainers' iterations taking turns;
- ``run`` (d): ``econdsl train models/rbc_open.econ --preset quick`` to its end on the device (Triton
  environment, the lean rollout: ``lean = auto`` is on with CUDA; ``--set lean=on`` in the dry run), its
  printed outcome, and its wall time.

Without a CUDA device (and without ``--dry-run``) it says so and exits 0. Exit 1 when a check fails or a
section raises (the other sections still run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "models").glob("*.econ"))
OPEN = ROOT / "models" / "rbc_open.econ"

# Sizes of the GPU run and of the dry run (the same code paths, tiny on the CPU interpreter).
FULL = {"check_envs": 64, "check_steps": 12, "step_envs": [4096, 16384, 65536], "steps": 100, "warmup": 10,
        "repeats": 5, "train_envs": [1024, 4096], "train_warmup": 1, "train_repeats": 3, "train_sets": {},
        "run_flags": []}
# The interpreter runs one replica at a time (~0.2 s per rbc_open step): one replica, two steps per iteration;
# training on 4 replicas (quick's 4 minibatches need at least 2 samples of the one Government each).
DRY = {"check_envs": 1, "check_steps": 1, "step_envs": [1], "steps": 1, "warmup": 1, "repeats": 1,
       "train_envs": [4], "train_warmup": 0, "train_repeats": 1, "train_sets": {"steps": "2"},
       "run_flags": ["--iterations", "1", "--envs", "1", "--set", "steps=2", "--set", "lean=on"]}


# Kernel variants of the Triton backend also checked on rbc_open (compile options; the default rows use the
# backend's own choice): blocks of 16 consumers looped over with 2 replicas per program, and the whole tile
# with 4 replicas per program (replicas per program are powers of two).
CHECK_VARIANTS = {"tiled_b16_r2": {"tile": True, "block": 16, "replicas": 2, "autotune": False},
                  "whole_r4": {"tile": False, "replicas": 4, "autotune": False}}


def section_check(device: str, size: dict) -> tuple[list[dict], bool]:
    import torch
    from tolerances import compare, lockstep

    import econdsl

    rows, ok_all = [], True
    for path in MODELS:
        program = econdsl.load(path).program
        # the config table's launch parameters (autotune would compile and time several variants of every
        # kernel of every model here; the step section measures the autotuned ones)
        runs = [("triton", "triton", {"autotune": False}), ("torch", "torch", {})]
        if path == OPEN:
            runs += [(f"triton[{k}]", "triton", opts) for k, opts in CHECK_VARIANTS.items()]
        for name, backend, opts in runs:
            worst, bad = 0.0, []
            t0 = time.perf_counter()
            for label, got, ref, mag in lockstep(program, backend, torch.float32, size["check_envs"],
                                                 size["check_steps"], device=device, **opts):
                ok, ratio = compare(got, ref, mag, torch.float32)
                worst = max(worst, ratio)
                if not ok:
                    bad.append(label)
            ok_all &= not bad
            rows.append({"section": "check", "model": path.stem, "backend": name, "dtype": "float32",
                         "envs": size["check_envs"], "steps": size["check_steps"], "ok": not bad,
                         "worst_eps_M": worst, "failures": bad[:10], "seconds": round(time.perf_counter() - t0, 2)})
            print(f"check {path.stem:<28} {name:<20} {'ok' if not bad else 'FAILED':<7} "
                  f"worst |got - ref| = {worst:.3g} eps·M{'  ' + ', '.join(bad[:3]) if bad else ''}", flush=True)
    return rows, ok_all


def section_step(device: str, size: dict) -> list[dict]:
    import env_step_gpu
    import torch

    import econdsl

    args = argparse.Namespace(steps=size["steps"], warmup=size["warmup"], repeats=size["repeats"], env=True)
    model = econdsl.load(OPEN)
    rows = []
    for n in size["step_envs"]:
        for row in env_step_gpu.bench_size(model, n, args, torch.float32, torch.int8, 0, device):
            rows.append({"section": "step", "model": model.name, "dtype": "float32", "action_dtype": "int8", **row})
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return rows


def section_train(device: str, size: dict) -> list[dict]:
    import train

    import econdsl

    model = econdsl.load(OPEN)
    rows = []
    # the lean rollout (int8 actions, split observations, series every k iterations) with its step captured
    # (capture = "auto": CUDA graphs on the GPU, eager in the dry run) on every row; for quick on Triton also
    # the step eager and the full rollout, their iterations taking turns with the first (side by side)
    on = "graph" if device.startswith("cuda") else "off"
    runs = [(preset, backend, [("on", on)]) for preset in ("none", "quick") for backend in ("triton", "torch")]
    runs[2] = ("quick", "triton", [("on", on), ("on", "off"), ("off", on)])
    for preset, backend, variants in runs:  # none: the train section's own settings, the paper's
        for n in size["train_envs"]:
            got = train.measure_interleaved(model, preset, n, size["train_sets"], device, size["train_warmup"],
                                            size["train_repeats"], backend, variants)
            for (lean, capture), row in zip(variants, got, strict=True):
                row = {"section": "train", "settings": "paper" if preset == "none" else preset, **row}
                rows.append(row)
                print(f"train {row['settings']:<6} {backend:<7} lean {lean:<3} capture {capture:<5} {n:>6} envs "
                      f"{row['env_steps_per_s']:>12.4g} env-steps/s {row['agent_steps_per_s']:>12.4g} agent-steps/s "
                      f"rollout {row['rollout_s']:.3f} s  update {row['update_s']:.3f} s", flush=True)
    return rows


def section_run(device: str, size: dict, timeout: float) -> tuple[list[dict], bool]:
    with tempfile.TemporaryDirectory(prefix="gpu_check_run_") as tmp:
        cmd = [sys.executable, "-m", "econdsl.cli", "train", str(OPEN), "--preset", "quick", "--device", device,
               "--backend", "triton", "--out", str(Path(tmp) / "run"), *size["run_flags"]]
        print("$ " + " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
            rc, text = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as e:
            rc, text = 124, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        wall = time.perf_counter() - t0
        print(text[-6000:], flush=True)
        metrics = Path(tmp) / "run" / "metrics.csv"
        iterations = max(0, len(metrics.read_text().splitlines()) - 1) if metrics.exists() else 0
        outcomes = {}
        if rc == 0:  # the outcome table of `econdsl report` (final evaluation episode)
            from econdsl.analysis.runs import load_run

            outcomes = load_run(Path(tmp) / "run").outcomes()
    print(f"run: exit {rc}, {wall:.1f} s, {iterations} iterations in metrics.csv", flush=True)
    if outcomes:
        print("outcome table (final evaluation episode):")
        for name, value in outcomes.items():
            print(f"  {name:<40} {value:>14.6g}")
    return [{"section": "run", "model": "rbc_open", "preset": "quick", "device": device, "backend": "triton",
             "flags": size["run_flags"], "exit": rc, "wall_s": round(wall, 1), "iterations": iterations,
             "outcomes": outcomes, "output_tail": text[-3000:]}], rc == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="the same code paths on the CPU at tiny sizes")
    ap.add_argument("--out", type=Path, default=None, help="JSONL file the rows are appended to")
    ap.add_argument("--sections", nargs="+", default=["check", "step", "train", "run"],
                    choices=["check", "step", "train", "run"])
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole script (the run section "
                    "gets what is left, at least 60 s)")
    args = ap.parse_args()
    start = time.perf_counter()
    # Triton's interpreter mode is fixed when Triton is first imported: compiled kernels on a GPU,
    # the interpreter in the dry run.
    if args.dry_run:
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        os.environ.pop("TRITON_INTERPRET", None)
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device available (torch.cuda.is_available() is False): nothing was measured. "
              "`bash bench/gpu_check.sh --dry-run` runs the same code paths on the CPU at tiny sizes.")
        return 0
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "compiler")]
    import env_step_gpu
    from machine import describe

    device, size = ("cpu", DRY) if args.dry_run else ("cuda", FULL)
    out = args.out or ROOT / "bench" / "results" / ("gpu_check_dry.jsonl" if args.dry_run else "gpu_check.jsonl")
    info = describe() | {"dry_run": args.dry_run}
    if device == "cuda":
        info |= env_step_gpu.machine()
    else:
        import triton

        info |= {"triton": triton.__version__, "triton_interpret": True}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps(info), flush=True)
    rows: list[dict] = [{"section": "machine", **info}]
    ok = True
    for name in args.sections:
        t0 = time.perf_counter()
        print(f"== {name} ({t0 - start:.0f} s elapsed)", flush=True)
        try:
            if name == "check":
                got, passed = section_check(device, size)
                ok &= passed
            elif name == "step":
                got = section_step(device, size)
            elif name == "train":
                got = section_train(device, size)
            else:
                left = max(60.0, args.budget - (time.perf_counter() - start))
                got, passed = section_run(device, size, left)
                ok &= passed
        except Exception:
            traceback.print_exc()
            got, ok = [{"section": name, "error": traceback.format_exc()[-3000:]}], False
        rows += got
        print(f"== {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"bench": "gpu_check", "time": stamp, "device_kind": device, **row},
                               ensure_ascii=False, default=str) + "\n")
    print(f"{len(rows)} rows appended to {out}; total {time.perf_counter() - start:.0f} s; "
          f"{'all checks passed' if ok else 'SOMETHING FAILED (see above)'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
