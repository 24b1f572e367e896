"""GPU benchmark of the Triton backend: env-steps/s and agent-steps/s of a model's step on CUDA.

    python bench/env_step_gpu.py                       # rbc_open, 4096 / 16384 / 65536 envs, float32
    python bench/env_step_gpu.py --envs 4096 --repeats 7 --model models/rbc_closed.econ
    python bench/env_step_gpu.py --check               # compiled kernels vs torch on CUDA, then exit

Without a CUDA device it prints why and exits with code 0 (nothing is measured).

Modes (each row of the output is one mode at one env count):

- ``triton_step``: the backend's ``step`` of the lean program (next states and rewards, as ``Env.step``
  runs it), int8 actions, states chained from step to step: one kernel launch per step plus the output
  allocation (one flat buffer) and argument marshalling in Python;
- ``triton_step_observe``: the same fused with the observation of the next state (one kernel);
- ``triton_step_quantities``: the full program's ``step``, also writing every named step quantity and
  accounting external (what ``Env.state`` reads), on fixed inputs;
- ``triton_graph``: ``triton_step`` captured once in a CUDA graph and replayed (inputs fixed): the
  kernel's own throughput without Python launch overhead;
- ``torch_step``: the torch backend's generated module on the same device, for comparison;
- ``env_triton``: ``Env.step`` with the triton backend (auto-reset, quantities, step_observe), the
  whole runtime path;
- ``triton_step[VARIANT]`` and, on CUDA, ``triton_graph_observe_split[VARIANT]``: the step and the lean
  rollout's fused step with split observations (CUDA-graph replay) of each kernel variant of
  ``KERNEL_VARIANTS`` (``--variants``): the whole register tile with 1 replica per program at 8 warps (the
  kernel before issue 16's tiling), several replicas per program, and the kernels that loop over blocks of
  16 / 32 / 64 consumers. The default rows use the backend's choice (``triton.autotune`` on CUDA); every
  row records the launch config used (``launch``: replicas, block, num_warps, table or autotune).

What to expect for rbc_open on an H100 (derived, not measured: no GPU was available when this was
written). The lean step moves ~3.4 KB per env-step (int8 actions 1.2 KB, states and parameters 1.1 KB
read, next states 0.65 KB and rewards 0.44 KB written): ~1e9 env-steps/s at 3.35 TB/s, so it is not
memory-bound. Compiled for sm_90 without a GPU (``python -m econdsl.compiler.backends.triton_aot``),
the step kernel at 8 warps has 1648 SASS instructions per thread, 97 registers, no spills: 13.2k
warp-instructions per env-step, i.e. at most ~7e7 env-steps/s at the H100 SXM issue rate (132 SMs x 4
schedulers x 1.755 GHz) and ~3-5e7 at a realistic 40-70 % issue efficiency. Python launch glue costs
tens of µs per step, which caps ``triton_step`` near 5e7 env-steps/s at 4096 envs; ``triton_graph``
removes it. The fused observation writes ~20 KB per env-step (every agent's row repeats the global
state, as the Env interface requires), so ``triton_step_observe`` is bounded near 1.4e8 by bandwidth.

Timing: CUDA events around ``--steps`` consecutive steps, after ``--warmup`` steps (compilation and
autotuning excluded); the median of ``--repeats`` runs is reported, with min and max. JSON rows are
appended to ``bench/results/env_step_gpu.jsonl`` with the device name, SM count, driver, torch and
triton versions, dtype and the action dtype.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "rbc_open.econ"
RESULTS = ROOT / "bench" / "results" / "env_step_gpu.jsonl"


def machine() -> dict:
    import triton

    props = torch.cuda.get_device_properties(0)
    driver = ""
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"device": torch.cuda.get_device_name(0), "sm_count": props.multi_processor_count,
            "capability": f"{props.major}.{props.minor}", "memory_gb": round(props.total_memory / 2**30, 1),
            "nvidia_smi": driver, "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "python": platform.python_version(), "host": platform.node()}


def random_actions(prog, n_envs: int, gen: torch.Generator, dtype: torch.dtype,
                   device: str = "cuda") -> dict[str, torch.Tensor]:
    out = {}
    for a in prog.agents:
        cols = [torch.randint(0, h.n, (n_envs, prog.n_agents(a), h.n_columns), generator=gen, device=device)
                for h in prog.heads if h.agent == a]
        out[a] = (torch.cat(cols, -1) if cols else torch.zeros(n_envs, prog.n_agents(a), 0, device=device)).to(dtype)
    return out


def timed(fn: Callable[[], None], steps: int, warmup: int, repeats: int, device: str = "cuda") -> list[float]:
    """Seconds per ``steps`` calls of ``fn``, measured with CUDA events (wall clock on the CPU, for the
    dry run of bench/gpu_check.py), one value per repeat."""
    for _ in range(warmup):
        fn()
    if not device.startswith("cuda"):
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            out.append(time.perf_counter() - t0)
        return out
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) / 1e3)
    return out


# Kernel variants measured side by side (compile options of the triton backend; derived register and
# occupancy estimates for rbc_open in docs/performance.md).
KERNEL_VARIANTS: dict[str, dict] = {
    "whole_r1_w8": {"tile": False, "replicas": 1, "num_warps": 8},  # the kernel before issue 16's tiling
    "whole_r2_w16": {"tile": False, "replicas": 2, "num_warps": 16},
    "tiled_b16_w8": {"tile": True, "block": 16, "num_warps": 8},
    "tiled_b16_w4": {"tile": True, "block": 16, "num_warps": 4},
    "tiled_b32_w8": {"tile": True, "block": 32, "num_warps": 8},
    "tiled_b64_w8": {"tile": True, "block": 64, "num_warps": 8},
}


def _launch(compiled, n_envs: int) -> dict:
    """The launch config the backend used for the step kernels at ``n_envs`` (after a first launch)."""
    configs = getattr(compiled, "launch_configs", {})
    names = ("k_step", "k_step_observe", "k_step_observe_split")
    return {name: dataclasses.asdict(configs[(name, n_envs)]) for name in names if (name, n_envs) in configs}


def bench_size(model, n_envs: int, args, dtype: torch.dtype, act_dtype: torch.dtype, num_warps: int,
               device: str = "cuda", variants: tuple[str, ...] = tuple(KERNEL_VARIANTS)) -> list[dict]:
    """One row per mode at ``n_envs`` replicas. On a CPU (``device="cpu"``, Triton through its interpreter)
    the same code paths run without the CUDA graph: bench/gpu_check.py --dry-run."""
    from econdsl.compiler.backends import compile_program

    prog = model.lean_program()  # next states and rewards only: what Env.step runs
    n_agents = sum(prog.n_agents(a) for a in prog.agents)
    gen = torch.Generator(device=device).manual_seed(0)
    consts = {n: torch.tensor(v, dtype=dtype, device=device) for n, v in prog.runtime_consts.items()}
    uniforms = {n: torch.rand(n_envs, *prog.size(d), generator=gen, device=device, dtype=torch.float64)
                for n, d in prog.uniforms.items()}
    acts = random_actions(prog, n_envs, gen, act_dtype, device)
    t = torch.zeros(n_envs, dtype=dtype, device=device)
    opts = {"num_warps": num_warps} if num_warps else {}
    lean = compile_program(prog, "triton", device, dtype, **opts)
    full = compile_program(model.program, "triton", device, dtype, quantities=True, **opts)
    base = compile_program(prog, "torch", device, dtype)
    init = lean.init(n_envs, uniforms, consts)
    state = {"bufs": dict(init)}

    def chained(compiled, fused: bool = False, split: bool = False) -> Callable[[], None]:
        def run() -> None:
            if split:  # the lean rollout's: the observations' shared columns once per replica
                res, _ = compiled.step_observe_split(state["bufs"], acts, t, consts)
            elif fused:
                res, _ = compiled.step_observe(state["bufs"], acts, t, consts)
            else:
                res = compiled.step(state["bufs"], acts, t, consts)
            state["bufs"] = {**state["bufs"], **res.states}
        return run

    modes: dict[str, Callable[[], None]] = {
        "triton_step": chained(lean),
        "triton_step_observe": chained(lean, fused=True),
        "triton_step_observe_split": chained(lean, split=True),
        "triton_step_quantities": lambda: full.step(state["bufs"], acts, t, consts),
        "torch_step": chained(base),
    }
    if device.startswith("cuda"):  # CUDA graph of one lean step on fixed inputs: no Python launch overhead
        lean.step(init, acts, t, consts)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            lean.step(init, acts, t, consts)
        modes["triton_graph"] = graph.replay
        lean.step_observe_split(init, acts, t, consts)  # the same for the step with split observations
        torch.cuda.synchronize()
        graph_split = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph_split):
            lean.step_observe_split(init, acts, t, consts)
        modes["triton_graph_observe_split"] = graph_split.replay
    if args.env:
        env = model.env(n_envs, backend="triton", device=device, dtype=dtype, **opts)
        env.reset()
        env_acts = {a: x.long() for a, x in acts.items()}
        modes["env_triton"] = lambda: env.step(env_acts)
        # the lean trainer's environment: split observations, actions in their narrowest type, no quantities
        env_lean = model.env(n_envs, backend="triton", device=device, dtype=dtype, split_obs=True, **opts)
        env_lean.reset()
        lean_acts = {a: x.to(torch.int8) for a, x in acts.items()}
        modes["env_triton_lean"] = lambda: env_lean.step(lean_acts)
    compiled_for = {mode: lean for mode in modes} | {"triton_step_quantities": full}
    for label in variants:
        kv = compile_program(prog, "triton", device, dtype, **KERNEL_VARIANTS[label])
        modes[f"triton_step[{label}]"] = chained(kv)
        compiled_for[f"triton_step[{label}]"] = kv
        if device.startswith("cuda"):
            kv.step_observe_split(init, acts, t, consts)
            torch.cuda.synchronize()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                kv.step_observe_split(init, acts, t, consts)
            modes[f"triton_graph_observe_split[{label}]"] = g.replay
            compiled_for[f"triton_graph_observe_split[{label}]"] = kv

    rows = []
    for mode, fn in modes.items():
        secs = timed(fn, args.steps, args.warmup, args.repeats, device)
        rates = sorted(n_envs * args.steps / s for s in secs)
        med = statistics.median(rates)
        launch = _launch(compiled_for.get(mode, lean), n_envs) if mode.startswith("triton") else {}
        rows.append({"mode": mode, "n_envs": n_envs, "num_warps": lean.num_warps, "launch": launch,
                     "steps": args.steps,
                     "repeats": args.repeats,
                     "env_steps_per_s": med, "env_steps_per_s_min": rates[0], "env_steps_per_s_max": rates[-1],
                     "agent_steps_per_s": med * n_agents, "agents_per_env": n_agents,
                     "us_per_step": 1e6 * statistics.median(secs) / args.steps})
        used = next(iter(launch.values()), {})
        cfg = f"R={used.get('replicas', '-')} BT={used.get('block') or '-'} nw={used.get('num_warps', '-')}"
        print(f"{n_envs:>7} {cfg:<18} {mode:<38} {med:>12.4g} env-steps/s "
              f"{med * n_agents:>12.4g} agent-steps/s {rows[-1]['us_per_step']:>9.1f} µs/step", flush=True)
    return rows


def check(model_path: Path, n_envs: int = 256, steps: int = 12) -> bool:
    """Compiled Triton kernels on CUDA against the torch backend on CUDA (float32, 2e-4 of scale)."""
    from econdsl.compiler.backends import compile_program

    import econdsl

    prog = econdsl.load(model_path).program
    tri = compile_program(prog, "triton", "cuda", torch.float32)
    base = compile_program(prog, "torch", "cuda", torch.float32)
    gen = torch.Generator(device="cuda").manual_seed(1)
    consts = {n: torch.tensor(v, device="cuda") for n, v in prog.runtime_consts.items()}
    uniforms = {n: torch.rand(n_envs, *prog.size(d), generator=gen, device="cuda", dtype=torch.float64)
                for n, d in prog.uniforms.items()}
    b1, b2 = tri.init(n_envs, uniforms, consts), base.init(n_envs, uniforms, consts)
    t = torch.zeros(n_envs, device="cuda")
    worst = 0.0

    def cmp(a: dict, b: dict, what: str) -> None:
        nonlocal worst
        for k, y in b.items():
            x = a[k]
            if y.dtype == torch.bool or not y.dtype.is_floating_point:
                ok = torch.equal(x, y)
                err = 0.0 if ok else float("inf")
            else:
                err = float((x.double() - y.double()).abs().max()) / max(1.0, float(y.double().abs().max()))
            worst = max(worst, err)
            if err > 2e-4:
                print(f"MISMATCH {what} {k}: {err:.3e}")

    cmp(b1, b2, "init")
    for k in range(steps):
        acts = random_actions(prog, n_envs, gen, torch.int64)
        r1, o1 = tri.step_observe(b1, {a: x.to(torch.int8) for a, x in acts.items()}, t, consts)
        r2, o2 = base.step_observe(b2, acts, t, consts)
        for field in r2._fields:
            cmp(getattr(r1, field), getattr(r2, field), f"step {k} {field}")
        cmp(o1, o2, f"step {k} obs")
        b1, b2, t = {**b1, **r1.states}, {**b2, **r2.states}, t + 1
    print(f"worst scale-relative difference {worst:.3e} over {steps} steps x {n_envs} envs")
    return worst <= 2e-4


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--envs", type=int, nargs="+", default=[4096, 16384, 65536])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--action-dtype", choices=["int8", "int32", "int64"], default="int8")
    ap.add_argument("--num-warps", type=int, nargs="+", default=[0],
                    help="num_warps values to sweep (0: the backend's heuristic, 8 for rbc_open)")
    ap.add_argument("--no-env", dest="env", action="store_false", help="skip the Env.step row")
    ap.add_argument("--variants", nargs="*", default=list(KERNEL_VARIANTS), choices=list(KERNEL_VARIANTS),
                    help="kernel variants measured next to the backend's choice (none: skip)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--check", action="store_true", help="compare compiled kernels with torch on CUDA and exit")
    args = ap.parse_args()
    # The interpreter mode is fixed when Triton code is first imported: this benchmark measures compiled kernels.
    os.environ.pop("TRITON_INTERPRET", None)

    if not torch.cuda.is_available():
        print("env_step_gpu: no CUDA device available (torch.cuda.is_available() is False); "
              "this benchmark measures compiled Triton kernels on a GPU, so nothing was measured.")
        return 0
    sys.path.insert(0, str(ROOT))
    if args.check:
        ok = check(args.model)
        print("check passed" if ok else "check FAILED")
        return 0 if ok else 1

    import econdsl

    dtype = getattr(torch, args.dtype)
    act_dtype = getattr(torch, args.action_dtype)
    info = machine()
    print(json.dumps(info))
    model = econdsl.load(args.model)
    rows = []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for n in args.envs:
        for nw in args.num_warps:
            for row in bench_size(model, n, args, dtype, act_dtype, nw, variants=tuple(args.variants)):
                rows.append({"bench": "env_step_gpu", "time": stamp, "model": model.name, "dtype": args.dtype,
                             "action_dtype": args.action_dtype, **row, **info})
            torch.cuda.empty_cache()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} rows appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
