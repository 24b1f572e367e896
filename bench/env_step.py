"""Environment-step throughput of a compiled model (default rbc_open, torch backend).

For each number of envs and each mode (eager, torch.compile), random actions are generated outside
the timed region; each timed step includes the observations (the trainer needs them) and the
automatic episode resets. Reports the median over ``--repeats`` runs of ``--steps`` steps, in
env-steps/s and agent-steps/s, plus the time of ``econdsl.load`` + compile (eager) of the model.
Every variant of one size (modes × action dtypes × observation layouts, and the hand-written step) is made
first and then timed in turn, repeat after repeat, so that the ratios between them are measured under the
same machine load (rows: ``interleaved_with`` = how many variants took turns).
``--baseline`` also times a hand-written vectorised PyTorch RBC step (same semantics, same obs) as
a reference measured under the same machine load.

    python bench/env_step.py --envs 64 1024 4096 16384 --modes eager compiled --out bench/results/x.json
    python bench/env_step.py --envs 64 1024 4096 --modes eager compiled --action-dtype int64 int8 \\
        --obs whole split --baseline --out bench/results/env_step_side_by_side.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe  # noqa: E402


def machine() -> dict:
    return describe()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_repeat(step, actions: list, steps: int, device: str = "cpu") -> tuple[float, float]:
    """Seconds per step of one repeat of ``steps`` steps: (wall time, process CPU time). On a shared machine
    CPU time (all threads of this process) is the steadier measure of the work done; wall time includes
    waiting for the scheduler."""
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(steps):
        step(actions[k % len(actions)])
    _sync(device)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


class Variant:
    """One configuration to time: a step function, its pre-generated actions and the fields of its row."""

    def __init__(self, kind: str, path, envs: int, mode: str, dtype, action_dtype, step, actions: list,
                 agents: int, setup: float, **extra):
        self.kind, self.path, self.envs, self.mode, self.dtype = kind, path, envs, mode, dtype
        self.action_dtype, self.step, self.actions, self.agents, self.setup = action_dtype, step, actions, agents, setup
        self.extra = extra
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def row(self) -> dict:
        r = row(self.kind, self.path, self.envs, self.mode, self.dtype, (self.wall, self.cpu), self.agents,
                self.setup, self.action_dtype)
        r.update(self.extra)
        return r


def time_interleaved(variants: list[Variant], steps: int, repeats: int, warmup: int, device: str = "cpu") -> None:
    """Warm every variant up, then time them in turn, repeat after repeat (variant 1, 2, …, 1, 2, …): each
    repeat of every variant runs under the same machine load, so their ratios are side by side."""
    for v in variants:
        for k in range(warmup):
            v.step(v.actions[k % len(v.actions)])
    for _ in range(repeats):
        for v in variants:
            wall, cpu = time_repeat(v.step, v.actions, steps, device)
            v.wall.append(wall)
            v.cpu.append(cpu)


def model_variant(path: str, envs: int, mode: str, dtype: torch.dtype, action_dtype: torch.dtype,
                  backend: str = "torch", device: str = "cpu", split: bool = False) -> Variant:
    import econdsl

    model = econdsl.load(path)
    t0 = time.perf_counter()
    opts = {"compile": True} if mode == "compiled" else {}
    if split:  # the lean trainer's observations: the shared columns once per replica (Env split_obs)
        opts["split_obs"] = True
    env = model.env(envs, backend=backend, device=device, dtype=dtype, **opts)
    gen = torch.Generator().manual_seed(0)
    actions = [{a: x.to(action_dtype) for a, x in env.random_actions(gen).items()} for _ in range(16)]
    env.step(actions[0])  # triggers torch.compile in compiled mode
    setup = time.perf_counter() - t0
    return Variant("econdsl", path, envs, mode, dtype, action_dtype, env.step, actions, sum(env.n_agents.values()),
                   setup, backend=backend, device=device, obs="split" if split else "whole")


def row(kind, path, envs, mode, dtype, times, agents, setup, action_dtype) -> dict:
    times, cpu = times
    med = statistics.median(times)
    cmed = statistics.median(cpu)
    return {"kind": kind, "model": Path(path).stem, "envs": envs, "mode": mode, "dtype": str(dtype),
            "action_dtype": str(action_dtype), "step_ms_median": round(med * 1e3, 4),
            "step_ms_all": [round(t * 1e3, 4) for t in times], "env_steps_per_s": round(envs / med),
            "agent_steps_per_s": round(envs * agents / med), "agents_per_env": agents,
            "setup_s": round(setup, 3), "cpu_ms_median": round(cmed * 1e3, 4),
            "cpu_ms_all": [round(t * 1e3, 4) for t in cpu], "env_steps_per_cpu_s": round(envs / cmed),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------- hand-written reference step
def handwritten_rbc(envs: int, dtype: torch.dtype):
    """A careful hand-written vectorised RBC step (rbc-spec section 1.4, open economy) with the same
    observations, for comparison under identical load. Not used by econdsl itself."""
    N, F = 100, 10
    theta = 0.01 * (1 - torch.arange(N, dtype=dtype) / N) ** 0.25
    alpha = torch.tensor([0.2, 0.3, 0.4, 0.6, 0.8] * 2, dtype=dtype)
    hours_t = torch.tensor([0, 260, 520, 780, 1040], dtype=dtype)
    price_t = torch.tensor([0, 500, 1000, 1500, 2000, 2500], dtype=dtype)
    wage_t = torch.tensor([0, 11, 22, 33, 44], dtype=dtype)
    tax_t = torch.tensor([0, 0.2, 0.4, 0.6, 0.8, 1.0], dtype=dtype)
    onehot = torch.eye(F, dtype=dtype).expand(envs, F, F)
    st = {}

    def reset():
        st.update(p=torch.full((envs, F), 1000.0, dtype=dtype), w=torch.zeros(envs, F, dtype=dtype),
                  y=torch.zeros(envs, F, dtype=dtype), o=torch.zeros(envs, F, dtype=dtype),
                  tau=torch.zeros(envs, dtype=dtype), sig=torch.zeros(envs, dtype=dtype),
                  B=torch.full((envs, N), 2000.0, dtype=dtype), Bf=torch.full((envs, F), 2.2e6, dtype=dtype),
                  K=torch.tensor([5000.0] * 5 + [10000.0] * 5, dtype=dtype).expand(envs, F).clone(), t=0)

    def obs():
        g = torch.cat([st["p"], st["w"], st["y"], st["o"], st["tau"][:, None], st["sig"][:, None],
                       torch.full((envs, 1), float(st["t"]), dtype=dtype)], 1)
        oc = torch.cat([g[:, None, :].expand(envs, N, 43), st["B"][:, :, None],
                        theta.expand(envs, N)[:, :, None]], 2)
        of = torch.cat([g[:, None, :].expand(envs, F, 43), st["Bf"][:, :, None], st["K"][:, :, None],
                        alpha.expand(envs, F)[:, :, None], onehot], 2)
        return {"Consumer": oc, "Firm": of, "Government": g[:, None, :].clone()}

    def step(actions):
        a = actions["Consumer"]
        af = a.to(dtype)
        dem = af[:, :, :F]
        h = hours_t[a[:, :, F].long()]
        emp = a[:, :, F + 1].long()
        p, w, y = st["p"], st["w"], st["y"]
        S = torch.bmm(dem, p[:, :, None])[:, :, 0]
        lam = torch.where((S > 0) & (S > st["B"]), st["B"] / S, 1.0)
        d = dem * lam[:, :, None]
        D = d.sum(1)
        rho = (D > 0) & (D > y)
        ratio = torch.where(rho, y / D, 1.0)
        c = d * ratio[:, None, :]
        C = D * ratio
        spend = torch.bmm(c, p[:, :, None])[:, :, 0]
        L = torch.zeros(envs, F, dtype=dtype).scatter_add_(1, emp, h)
        z = torch.gather(w, 1, emp) * h
        rc = (torch.exp(torch.log1p(c) * 0.9).sum(2) - F) / 0.9 - theta / 2 * h
        X = torch.where(p >= 500, (y - C).clamp(max=100).clamp(min=0), 0.0)
        G = p * (C + X) - w * L
        dK = (0.1 * G).clamp(min=0)
        P = G - dK
        Q = st["sig"][:, None] * P.clamp(min=0)
        rf = P - Q
        Y = 0.01 * st["K"] ** (1 - alpha) * L ** alpha
        R = st["tau"] * z.sum(1) + Q.sum(1)
        rg = rc.sum(1) + 0.0025 * rf.sum(1)
        fa = actions["Firm"][:, :, 0].long()
        ga = actions["Government"][:, 0, 0].long()
        st.update(p=price_t[fa // 5], w=wage_t[fa % 5], y=y - C - X + Y, o=rho.to(dtype), tau=tax_t[ga // 6],
                  sig=tax_t[ga % 6], B=st["B"] + 0.01 - spend + (1 - st["tau"])[:, None] * z + (R / N)[:, None],
                  Bf=st["Bf"] + P - Q, K=st["K"] + dK, t=st["t"] + 1)
        rewards = {"Consumer": rc, "Firm": rf, "Government": rg[:, None]}
        if st["t"] >= 10:
            reset()
        return obs(), rewards

    reset()
    return step


def handwritten_variant(envs: int, dtype: torch.dtype, action_dtype) -> Variant:
    import econdsl

    env = econdsl.load(ROOT / "models" / "rbc_open.econ").env(1)
    gen = torch.Generator().manual_seed(0)
    acts = []
    for _ in range(16):
        one = {}
        for a in env.agent_types:
            nvec = torch.tensor(env.action_nvec[a], dtype=torch.float64)
            u = torch.rand((envs, env.n_agents[a], len(nvec)), generator=gen, dtype=torch.float64)
            one[a] = (u * nvec).long().to(action_dtype)
        acts.append(one)
    return Variant("handwritten", "rbc_open", envs, "eager", dtype, action_dtype, handwritten_rbc(envs, dtype), acts,
                   111, 0.0)


def load_time(path: str, repeats: int) -> dict:
    """``econdsl.load`` + eager compile of the model, each in a fresh process (cold imports included
    separately): median wall time."""
    code = ("import time, torch; t0 = time.perf_counter(); import econdsl; t1 = time.perf_counter(); "
            f"m = econdsl.load({str(path)!r}); env = m.env(64); t2 = time.perf_counter(); "
            "print(t1 - t0, t2 - t1)")
    imports, load = [], []
    env = dict(os.environ)
    for k in range(repeats):
        if k == 0:  # first run: also with an empty artifact cache
            env["ECONDSL_CACHE"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"econdsl-bench-{os.getpid()}")
        else:
            env.pop("ECONDSL_CACHE", None)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        a, b = map(float, out.stdout.split())
        imports.append(a)
        load.append(b)
    return {"kind": "load", "model": Path(path).stem, "import_s_median": round(statistics.median(imports), 3),
            "load_and_compile_s_median": round(statistics.median(load), 3),
            "load_and_compile_s_all": [round(x, 3) for x in load]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "rbc_open.econ"))
    ap.add_argument("--envs", type=int, nargs="+", default=[64, 1024, 4096, 16384])
    ap.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--action-dtype", nargs="+", default=["int64"], choices=["int64", "int32", "int16", "int8"],
                    help="several: each size and mode measured with each")
    ap.add_argument("--obs", nargs="+", default=["whole"], choices=["whole", "split"],
                    help="observations as whole rows, or split (the lean rollout's Env(split_obs=True)); several: "
                         "each measured, one after the other")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--backend", default="torch", choices=["torch", "triton"],
                    help="triton needs CUDA (e.g. --backend triton --device cuda --modes eager)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--baseline", action="store_true", help="also time the hand-written step")
    ap.add_argument("--load", action="store_true", help="also time econdsl.load + compile")
    ap.add_argument("--out", default=None, help="JSON file to write (rows + machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    adts = [getattr(torch, a) for a in args.action_dtype]
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: the GPU benchmark is skipped")
    info = machine()
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    rows = []
    if args.load:
        r = load_time(args.model, 5)
        print(json.dumps(r), flush=True)
        rows.append(r)
    for envs in args.envs:
        steps = max(10, min(args.steps, int(args.steps * 1024 / envs) or 10))
        variants = [handwritten_variant(envs, dtype, adts[0])] if args.baseline else []
        variants += [model_variant(args.model, envs, mode, dtype, adt, args.backend, args.device, obs == "split")
                     for mode in args.modes for adt in adts for obs in args.obs]
        time_interleaved(variants, steps, args.repeats, min(steps, 20), args.device)
        for v in variants:
            r = v.row() | {"interleaved_with": len(variants)}
            print(json.dumps(r), flush=True)
            rows.append(r)
        del variants
    info["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    print(json.dumps({"machine": info}))


if __name__ == "__main__":
    main()
