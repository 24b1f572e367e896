"""The Triton backend, run on CPU through the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET=1).

Differential tests on every model in models/ plus a padding-lane stress model, on seeded random
actions, through the backend interface (init, step, observe and the fused step_observe):

- triton float64 against the reference (float64) backend: |a - b| <= 1e-9 · max(1, max |b|) per tensor;
- triton float32 against torch float32 (the lanes model: against the reference):
  |a - b| <= 2e-4 · max(1, max |b|) per tensor (the float32
  tolerance of tests/compiler/backends_under_test.py; the kernels use exp2/log2 powers and in-program
  reduction orders, so float32 results differ from torch in the last bits).

The interpreter runs one program (one replica) at a time, ~25-65 ms per replica-step for these models,
so every test here uses at most 4 replicas and 11 steps.
"""

from __future__ import annotations

import ast as pyast
import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
import torch
from econdsl.compiler.backends import compile_program
from econdsl.compiler.backends.triton_printer import tile_axis
from econdsl.compiler.ir import Program, real_key

import econdsl

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((ROOT / "models").glob("*.econ")) + sorted((ROOT / "tests" / "compiler" / "models").glob("*.econ"))

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "0") in ("", "0") and not torch.cuda.is_available(),
                                reason="the Triton backend needs CUDA or TRITON_INTERPRET=1")

# Populations of 5 and 3 members (padded to 8 and 4 lanes): every reduction kind, a masked mean, a
# gather by an action-chosen index, counting by index, joint and per-member heads, uniform draws,
# observation of the agent's own population as features, one-hot and per-member items.
LANES = """\
model lanes

horizon 3

agent Shop[5] index i
    param β in [0, 2] ~ Uniform(0.5, 1.5)
    state s = 1 + i in [0, Inf]
    action (pr, qq) in {1, 2, 3} × {0, 0.5}
    observe s, s[i], β[i], onehot(i), t
    reward g[i]
end

agent Person[3] index j
    state m = 10 - 3 * j in [-Inf, Inf]
    action pick in Shop
    action spend[Shop] in 0:2
    observe s, m[j], m
    reward h[j]
end

agent Planner
    state x = 0 in [-Inf, Inf]
    action lvl in {0, 1}
    observe x, m
    reward q
end

step
    a[i] = sqrt(s[i] + 1)
    A = sum(a[i] for i in Shop)
    lo = min(s[i] - 100 for i in Shop)
    hi = max(-s[i] for i in Shop)
    pp = prod(s[i] + 2 for i in Shop)
    avg = mean(s[i] for i in Shop if pr[i] > 1)
    cnt[i] = sum(1 for j in Person if pick[j] == i)
    v[j] = s[pick[j]] + sum(spend[j, i] * pr[i] for i in Shop)
    g[i] = pr[i] * cnt[i] - qq[i] + β[i]
    h[j] = v[j] - m[j] / 10 + (m[j] > 0 ? 1 : -1)
    q = sum(h[j] for j in Person) + hi + lo + A + log(pp) + avg
    next s[i] = s[i] + qq[i]
    next m[j] = m[j] - v[j] + exp(-lvl)
    next x = x + lvl + t
end
end
"""


def _edited(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


# The lanes model with Shop (5 members) tileable (its agents no longer observe every shop's s) and every kind
# of reduction and gather over it: sum, min, max, prod, mean, masked mean, gathers of a float, a bool and an
# int (`ref[pick[j]]`) by an action-chosen shop. Looped in blocks of 2 shops, each is accumulated over 3 blocks.
TILES = _edited(LANES, [
    ("model lanes", "model tiles"),
    ("    observe s, s[i], β[i], onehot(i), t\n", "    action ref in Person\n    observe s[i], β[i], onehot(i), t\n"),
    ("    cnt[i] =", "    mu = mean(s[i] for i in Shop)\n    big[i] = s[i] > 2\n    cnt[i] ="),
    ("    v[j] = s[pick[j]] + sum(spend[j, i] * pr[i] for i in Shop)\n",
     "    v[j] = s[pick[j]] + sum(spend[j, i] * pr[i] for i in Shop) + (big[pick[j]] ? 1 : 0)"
     " + m[ref[pick[j]]] / 10\n"),
    ("log(pp) + avg\n", "log(pp) + avg + mu\n"),
])


# No population at all: every value is a per-replica scalar (the printer's one-lane dummy axis).
SOLO = """\
model solo

horizon 2

agent Planner
    state x = 1 in [-Inf, Inf]
    action lvl in {0, 1, 2}
    observe x, t
    reward q
end

step
    q = x * lvl - x ^ 2 / 10
    next x = x + lvl
end
end
"""


@pytest.fixture(scope="module")
def lanes_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("extra")
    (d / "solo.econ").write_text(SOLO, encoding="utf-8")
    p = d / "lanes.econ"
    p.write_text(LANES, encoding="utf-8")
    return p


def model_paths() -> list:
    return [pytest.param(p, id=p.stem) for p in MODELS] + [pytest.param(n, id=n) for n in ("lanes", "solo")]


def resolve(path: Path | str, lanes_path: Path) -> Program:
    if path in ("lanes", "solo"):
        return econdsl.load(lanes_path.parent / f"{path}.econ").program
    return econdsl.load(path).program


def random_actions(prog: Program, n_envs: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    out = {}
    for a in prog.agents:
        cols = [torch.randint(0, h.n, (n_envs, prog.n_agents(a), h.n_columns), generator=gen)
                for h in prog.heads if h.agent == a and not h.continuous]
        out[a] = torch.cat(cols, -1) if cols else torch.zeros(n_envs, prog.n_agents(a), 0, dtype=torch.long)
    for a in prog.real_agents():  # continuous heads: uniform values in their intervals
        lo, hi = torch.tensor(prog.real_bounds(a), dtype=torch.float64).T
        out[real_key(a)] = lo + (hi - lo) * torch.rand(n_envs, prog.n_agents(a), len(lo), generator=gen,
                                                       dtype=torch.float64)
    return out


def assert_close(got: dict, want: dict, tol: float, what: str) -> None:
    assert set(got) == set(want), (what, sorted(got), sorted(want))
    for k, w in want.items():
        g = got[k]
        assert g.shape == w.shape, (what, k, tuple(g.shape), tuple(w.shape))
        if w.dtype == torch.bool or not w.dtype.is_floating_point:
            assert torch.equal(g.cpu(), w.cpu()), (what, k)
            continue
        g, w = g.double().cpu(), w.double().cpu()
        scale = max(1.0, float(w.abs().max())) if w.numel() else 1.0
        err = float((g - w).abs().max()) if w.numel() else 0.0
        assert err <= tol * scale, f"{what} {k}: max abs error {err:.3e} > {tol:.0e} × {scale:.3e}"


def compare_trajectories(prog: Program, other: str, dtype: torch.dtype, tol: float, n_envs: int,
                         steps: int, **opts) -> None:
    """Run triton (``opts``: its compile options) and ``other`` side by side from init on the same actions;
    compare everything."""
    tri = compile_program(prog, "triton", "cpu", dtype, **opts)
    ref = compile_program(prog, other, "cpu", torch.float64 if other == "reference" else dtype)
    gen = torch.Generator().manual_seed(7)
    uniforms = {n: torch.rand(n_envs, *prog.size(d), generator=gen, dtype=torch.float64)
                for n, d in prog.uniforms.items()}
    consts = {n: torch.tensor(v, dtype=dtype) for n, v in prog.runtime_consts.items()}
    b_tri, b_ref = tri.init(n_envs, uniforms, consts), ref.init(n_envs, uniforms, consts)
    assert_close(b_tri, b_ref, tol, "init")
    t = torch.zeros(n_envs, dtype=dtype)
    assert_close(tri.observe(b_tri, t, consts), ref.observe(b_ref, t, consts), tol, "observe at t = 0")
    for k in range(steps):
        acts = random_actions(prog, n_envs, gen)
        want, want_obs = ref.step_observe(b_ref, acts, t, consts)
        small = {a: x if x.dtype.is_floating_point else x.to(torch.int8) for a, x in acts.items()}  # narrow ints
        got, got_obs = tri.step_observe(b_tri, small, t, consts)
        if k == 0:  # the unfused kernels agree with the fused one
            alone = tri.step(b_tri, acts, t, consts)
            for field in alone._fields:
                assert_close(getattr(alone, field), getattr(got, field), 0.0, f"unfused {field}")
            assert_close(tri.observe({**b_tri, **alone.states}, t + 1, consts), got_obs, 0.0, "unfused observe")
        for field in got._fields:
            assert_close(getattr(got, field), getattr(want, field), tol, f"step {k} {field}")
        assert_close(got_obs, want_obs, tol, f"step {k} observation")
        b_tri, b_ref, t = {**b_tri, **got.states}, {**b_ref, **want.states}, t + 1


@pytest.mark.parametrize("path", model_paths())
def test_float64_matches_reference(path, lanes_path):
    compare_trajectories(resolve(path, lanes_path), "reference", torch.float64, 1e-9, n_envs=3, steps=3)


@pytest.mark.parametrize("path", model_paths())
def test_float32_matches_torch(path, lanes_path):
    compare_trajectories(resolve(path, lanes_path), "torch", torch.float32, 2e-4, n_envs=4, steps=3)


def check_variant(prog: Program, n_envs: int, steps: int, **opts) -> None:
    """A kernel variant in float32 against the float64 reference, per element with the differential tests'
    tolerance (tolerances.py: 2^6 · eps · M from the magnitude of each value's terms)."""
    from tolerances import compare, lockstep

    for label, got, ref, mag in lockstep(prog, "triton", torch.float32, n_envs, steps, **opts):
        ok, ratio = compare(got, ref, mag, torch.float32)
        assert ok, f"{opts}: {label} differs from the reference by {ratio:.3g} eps·M"


@pytest.mark.parametrize("path", model_paths())
def test_tiled_kernels_and_several_replicas_per_program_match_reference(path, lanes_path):
    """The kernels that loop over blocks of the largest population that can be tiled (2 or 3 blocks: the
    loop runs several times, the last block partly masked, every reduction and gather over it
    accumulated across blocks), with 3 replicas per program for 4 replicas (the last program holds one
    replica that exists and two that do not, whose stores are masked)."""
    prog = resolve(path, lanes_path)
    axis = tile_axis(prog)
    n = prog.axis_size(axis) if axis else 1
    block = 1 << (-(-n // 3) - 1).bit_length()  # the power of two at or above n / 3: 2 to 3 blocks
    assert n == 1 or n > block  # the loop runs more than once
    check_variant(prog, 3, 2, tile=True, block=block, replicas=2)


@pytest.mark.slow  # 7 blocks in 2 loops per step through the interpreter: about a minute of one core
def test_tiled_rbc_open_loops_and_accumulates_across_blocks():
    """rbc_open tiled over its 100 consumers in blocks of 16 (7 blocks, the last with 4 members): the firms'
    demand and labour, the consumers' taxes and the government's reward are sums across blocks."""
    prog = econdsl.load(ROOT / "models" / "rbc_open.econ").program
    tri = compile_program(prog, "triton", "cpu", torch.float32, tile=True, block=16, replicas=4)
    assert tri.printed.tiled == "Consumer"
    assert "for j0 in range(0, 100, BT)" in tri.printed.source and "sum over blocks" in tri.printed.source
    check_variant(prog, 5, 2, tile=True, block=16, replicas=4)  # 2 programs, the second with 1 of 4 replicas


def test_every_reduction_and_gather_kind_accumulates_across_blocks(tmp_path):
    path = tmp_path / "tiles.econ"
    path.write_text(TILES, encoding="utf-8")
    prog = econdsl.load(path).program
    assert tile_axis(prog) == "Shop"
    src = compile_program(prog, "triton", "cpu", torch.float32, tile=True, block=2).printed.source
    for kind in ("sum", "min", "max", "prod", "mean"):
        assert f"# {kind} over blocks" in src, kind
    assert "# gather over blocks" in src and "# members counted" in src
    check_variant(prog, 3, 3, tile=True, block=2, replicas=2)


def test_autotune_launch_path_records_its_choice():
    """The triton.autotune launch path (the default on a GPU) through the interpreter: cournot at 4 replicas
    has one candidate (autotune_configs leaves out configs that would idle threads), so nothing is timed;
    the kernel gives the config table's numbers and the choice is recorded."""
    from econdsl.compiler.backends.triton_backend import autotune_configs

    prog = econdsl.load(ROOT / "models" / "cournot.econ").program
    assert len(autotune_configs(prog, None, 4)) == 1
    tuned = compile_program(prog, "triton", "cpu", torch.float32, autotune=True)
    table = compile_program(prog, "triton", "cpu", torch.float32)
    consts = {n: torch.tensor(v) for n, v in prog.runtime_consts.items()}
    bufs = table.init(4, {}, consts)
    acts = random_actions(prog, 4, torch.Generator().manual_seed(0))
    t = torch.zeros(4)
    (got, got_obs), (want, want_obs) = (p.step_observe(bufs, acts, t, consts) for p in (tuned, table))
    assert_close(got.rewards, want.rewards, 0.0, "rewards")
    assert_close(got_obs, want_obs, 0.0, "observations")
    assert tuned.launch_configs[("k_step_observe", 4)].source == "autotune"
    assert table.launch_configs[("k_step_observe", 4)].source == "table"


def test_config_table_is_keyed_on_the_models_sizes():
    from econdsl.compiler.backends.triton_backend import table_config, wants_tiling

    rbc = econdsl.load(ROOT / "models" / "rbc_open.econ").lean_program()
    cournot = econdsl.load(ROOT / "models" / "cournot.econ").lean_program()
    assert not wants_tiling(rbc)  # 128 x 16 lanes: one register tile
    assert table_config(rbc, None, 65536).replicas == 1
    assert table_config(rbc, "Consumer", 65536).block * 16 <= 1024
    assert table_config(cournot, None, 65536).replicas > 1  # 2 firms: many replicas per program
    assert table_config(cournot, None, 4).replicas == 1  # ... but never fewer programs than the GPU holds


def s1_actions(n_envs: int) -> dict[str, torch.Tensor]:
    """rbc-spec.md section 8, S1: consumer j works 1040 h at firm j mod 10 and attempts one unit of each
    good; firms p = 1000, w = 22 (joint index 5·2 + 2); government (0, 0)."""
    c = torch.zeros(n_envs, 100, 12, dtype=torch.int8)
    c[:, :, :10] = 1
    c[:, :, 10] = 4
    c[:, :, 11] = (torch.arange(100) % 10).to(torch.int8)
    return {"Consumer": c, "Firm": torch.full((n_envs, 10, 1), 12, dtype=torch.int8),
            "Government": torch.zeros(n_envs, 1, 1, dtype=torch.int8)}


def near(x: torch.Tensor | float, expected: float, rel: float = 1e-4, abs_: float = 2e-3) -> bool:
    return abs(float(x) - expected) <= abs_ + rel * abs(expected)


def test_s1_vector_rbc_open_fused_float64():
    prog = econdsl.load(ROOT / "models" / "rbc_open.econ").program
    assert prog.runtime_consts.get("κ", 1.0) == 1.0
    tri = compile_program(prog, "triton", "cpu", torch.float64)
    consts = {n: torch.tensor(v, dtype=torch.float64) for n, v in prog.runtime_consts.items()}
    n = 2
    bufs = tri.init(n, {}, consts)
    t = torch.zeros(n, dtype=torch.float64)
    rows = []
    for _ in range(10):
        res, obs = tri.step_observe(bufs, s1_actions(n), t, consts)
        rows.append(res)
        bufs, t = {**bufs, **res.states}, t + 1
    table = {0: (-4.1807, 0.0, -418.07, 863.733, 0.0, 0.0),
             1: (-2.1994, -142426.73, -3780.61, 863.733, 200.001, 663.732)}
    table.update({k: (4.0735, -142426.73, -3153.32, 863.733, 854.612, 9.121) for k in range(2, 10)})
    for k, expected in table.items():
        r, q = rows[k].rewards, rows[k].quantities
        for e in range(n):  # both replicas, identical
            got = (r["Consumer"][e].mean(), r["Firm"][e].mean(), r["Government"][e, 0], q["Y"][e].sum(),
                   q["C"][e].sum(), q["X"][e].sum())
            for g, x, what in zip(got, expected, ("consumer r", "firm r", "SWF", "Y", "C", "X"), strict=True):
                assert near(g, x), f"t={k} env {e} {what}: {float(g)} != {x}"
    assert near(rows[0].rewards["Consumer"][0, 0], -5.2) and near(rows[0].rewards["Consumer"][0, 99], -1.6444)
    firm1 = (-170912.78, -166514.21, -161781.40, -151209.60, -138970.15, -128012.50, -127616.43, -127218.80,
             -126418.85, -125612.60)
    for i, x in enumerate(firm1):
        assert near(rows[1].rewards["Firm"][0, i], x), (i, float(rows[1].rewards["Firm"][0, i]))
    assert near(rows[0].states["B"][0, 0], 2000.01) and near(rows[2].states["B"][0, 0], 37213.90, rel=2e-5)
    assert near(bufs["B"][0].mean(), 137551.14, rel=1e-5) and near(bufs["B_f"][0].mean(), 918159.4, rel=1e-5)
    assert torch.equal(bufs["K"][0], torch.tensor([5000.0] * 5 + [10000.0] * 5, dtype=torch.float64))
    # the fused observation carries the next state and t + 1: budgets and time in the consumer row
    consumer_obs = obs["Consumer"][0]
    assert float(consumer_obs[0, 42]) == 10.0 and near(consumer_obs[0, 43], float(bufs["B"][0, 0]))


def test_env_on_triton_matches_torch_across_the_horizon():
    """Model.env(n, backend="triton") through an automatic reset (rbc_open's horizon is 10)."""
    model = econdsl.load(ROOT / "models" / "rbc_open.econ")
    env, base = model.env(2, backend="triton"), model.env(2, backend="torch")
    assert_close(env.reset(), base.reset(), 2e-4, "reset observation")
    gen = torch.Generator().manual_seed(3)
    for k in range(11):
        acts = random_actions(model.program, 2, gen)
        obs, rew, done, _ = env.step(acts)
        obs_b, rew_b, done_b, _ = base.step(acts)
        assert torch.equal(done, done_b) and bool(done.all()) == (k == 9)
        assert_close(rew, rew_b, 2e-4, f"rewards at step {k}")
        assert_close(obs, obs_b, 2e-4, f"observations at step {k}")
    assert_close({n: env.state[n] for n in ("B", "c", "ρ")}, {n: base.state[n] for n in ("B", "c", "ρ")}, 2e-4,
                 "Env.state")


def test_quantities_can_be_skipped():
    prog = econdsl.load(ROOT / "models" / "rbc_open.econ").program
    full = compile_program(prog, "triton", "cpu", torch.float32)
    lean = compile_program(prog, "triton", "cpu", torch.float32, quantities=False)
    consts = {n: torch.tensor(v) for n, v in prog.runtime_consts.items()}
    bufs = full.init(2, {}, consts)
    acts = random_actions(prog, 2, torch.Generator().manual_seed(5))
    t = torch.zeros(2)
    a, b = full.step(bufs, acts, t, consts), lean.step(bufs, acts, t, consts)
    assert b.quantities == {} and set(a.quantities) == {o.name for o in prog.step.outputs if o.kind == "quantity"}
    for field in ("states", "rewards", "externals"):
        assert_close(getattr(b, field), getattr(a, field), 0.0, field)
    assert a.quantities["ρ"].dtype == torch.bool


# names the printer itself introduces; anything else in code (not comments) would be user text
GENERATED_NAME = re.compile(r"^(x\d+|pi\d+|pa\d+|po\d+|ix\d+|mx\d+|pof|pob|poi|pk|E|DT|R|BT|j0|me|WRITE_Q|Z|e|k|a|b|"
                            r"p|q|r|s|"
                            r"E64|pt|num_c|den_c|s_mid|num_mid|den_mid|s_far|num_far|den_far|tail|tl|triton|INF|NAN|_mul|_min_nan|_max_nan|_ndtri|"
                            r"k_init|k_step|"
                            r"k_observe|k_step_observe|k_observe_split|k_step_observe_split|float|float64)$")


def test_hostile_names_stay_in_comments(tmp_path):
    """A model whose name, path and labels are hostile text: the generated source still parses, every
    identifier in code is one the printer made, and the hostile text appears only inside comments."""
    evil_dir = tmp_path / 'x"""\nimport os; os.system("touch PWNED") #'
    evil_dir.mkdir()
    path = evil_dir / "m.econ"
    path.write_text(LANES.replace("model lanes", "model __import__").replace("Shop", "os_system")
                    .replace("Person", "eval"), encoding="utf-8")
    prog = econdsl.load(path).program
    tri = compile_program(prog, "triton", "cpu", torch.float64)
    (src,) = tri.sources().values()
    tree = pyast.parse(src)
    names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
    names |= {n.name for n in pyast.walk(tree) if isinstance(n, pyast.FunctionDef)}
    names |= {a.arg for n in pyast.walk(tree) if isinstance(n, pyast.FunctionDef) for a in n.args.args}
    assert all(GENERATED_NAME.match(n) for n in names), sorted(n for n in names if not GENERATED_NAME.match(n))
    strings = [n.value for n in pyast.walk(tree) if isinstance(n, pyast.Constant) and isinstance(n.value, str)]
    assert not any("os_system" in s or "eval" in s or "PWNED" in s for s in strings)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING):
            assert "PWNED" not in tok.string and "os_system" not in tok.string
    assert not (Path.cwd() / "PWNED").exists()
    consts = {n: torch.tensor(v, dtype=torch.float64) for n, v in prog.runtime_consts.items()}
    uniforms = {n: torch.full((1, *prog.size(d)), 0.5, dtype=torch.float64) for n, d in prog.uniforms.items()}
    assert float(tri.init(1, uniforms, consts)["β"][0, 0]) == 1.0  # the module loads and runs


def test_generated_source_is_cached_by_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("ECONDSL_CACHE", str(tmp_path))
    prog = econdsl.load(ROOT / "models" / "cournot.econ").program
    a = compile_program(prog, "triton", "cpu", torch.float32)
    b = compile_program(prog, "triton", "cpu", torch.float32)
    c = compile_program(prog, "triton", "cpu", torch.float64)
    assert a.key == b.key != c.key and a.module is b.module
    files = sorted(p.name for p in tmp_path.rglob("triton_module.py"))
    assert len(files) == 2
    (src,) = a.sources().values()
    assert "# Triton kernels generated by econdsl" in src and "models/cournot.econ:" in src


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_kernels_on_cuda_match_torch():
    """The kernels compiled for the GPU (not the interpreter) agree with torch on CUDA: run in a fresh
    process because the interpreter mode is fixed when Triton code is first imported."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "env_step_gpu.py"), "--check"], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check passed" in proc.stdout


@pytest.mark.slow  # ahead-of-time compiles to sm_90 in a fresh process
def test_kernels_compile_for_sm90_without_a_gpu(lanes_path, tmp_path):
    """The interpreter accepts programs the Triton compiler rejects: compile rbc_open's fused step (whole
    and split observations) and every kernel of the padding-lane model to sm_90 cubins (bundled ptxas; no
    GPU needed), in a fresh process without TRITON_INTERPRET, and check rbc_open's step does not spill
    registers. The looped kernels too: every kernel of the model with every reduction and gather kind over
    the looped population (2 replicas per program), and the step of rbc_open with 10,000 consumers (the
    config table's block), whose registers are bounded by the block (below 128, no spills)."""
    tiles = tmp_path / "tiles.econ"
    tiles.write_text(TILES, encoding="utf-8")
    big = tmp_path / "rbc10k.econ"
    big.write_text((ROOT / "models" / "rbc_open.econ").read_text(encoding="utf-8")
                   .replace("agent Consumer[100]", "agent Consumer[10000]")
                   .replace("(1 - j / 100)", "(1 - j / 10000)"), encoding="utf-8")  # θ stays in its bounds
    script = (
        "import sys, econdsl\n"
        "from econdsl.compiler.backends.triton_aot import compile_kernels\n"
        "rbc = econdsl.load(sys.argv[1]).program\n"
        "for k in compile_kernels(rbc, kernels=('k_step_observe', 'k_step_observe_split')):\n"
        "    print('rbc', k.name, k.registers, k.spill_bytes)\n"
        "lanes = econdsl.load(sys.argv[2]).program\n"
        "for k in compile_kernels(lanes, 'float64'): print('lanes', k.name, k.registers, k.spill_bytes)\n"
        "tiles = econdsl.load(sys.argv[3]).program\n"
        "for k in compile_kernels(tiles, tile=True, block=2, replicas=2,\n"
        "                         kernels=('k_init', 'k_step', 'k_observe', 'k_step_observe_split')):\n"
        "    print('tiles', k.name, k.registers, k.spill_bytes)\n"
        "big = econdsl.load(sys.argv[4]).lean_program()\n"
        "for k in compile_kernels(big, tile=True, kernels=('k_step',)):\n"
        "    print('big', k.name, k.registers, k.spill_bytes)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["ECONDSL_CACHE"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", script, str(ROOT / "models" / "rbc_open.econ"), str(lanes_path),
                           str(tiles), str(big)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert [r[:2] for r in rows] == [["rbc", "k_step_observe"], ["rbc", "k_step_observe_split"], ["lanes", "k_init"],
                                     ["lanes", "k_step"], ["lanes", "k_observe"], ["lanes", "k_step_observe"],
                                     ["tiles", "k_init"], ["tiles", "k_step"], ["tiles", "k_observe"],
                                     ["tiles", "k_step_observe_split"], ["big", "k_step"]]
    assert all(int(r[2]) > 0 for r in rows)
    for r in rows[:2]:
        assert r[3] == "0", f"rbc_open's {r[1]} spills {r[3]} bytes"
    assert int(rows[-1][2]) < 128 and rows[-1][3] == "0", rows[-1]
