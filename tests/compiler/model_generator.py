"""A hypothesis strategy for small random `.econ` models that use every construct of the grammar the
compiler handles (issue 9): two populations A and B declared in either order, of equal or unequal
sizes (1 to 4 members, so single-member agents too), optionally a singleton agent G, per-member heads
over the other population (`spend[B]`), actions and states that hold a member used as indices
(`y[pick[a]]`, `y[home[a]]`, `x[mate[a]]` over the agent's own population), nested indexing
(`x[back[pick[a]]]`), filtered reductions whose condition
uses the outer index (`sum(x[k] for k in A if x[k] < x[a])`), sum/mean/prod/min/max reductions,
`ifelse`, `min`/`max`, distributions in parameters (Uniform, Normal, LogNormal), agents without
observations, and pairwise quantities over one population (`agent A[n] index a, a2` with
`pw[a, a2] = ...` or its transpose `pw[a2, a] = ...`, read as `pw[a, k]`, `pw[k, a]`, `pw[a, a]` and
`pw[k, back[b]]`). Used by the property test (test_generated_models.py) and the fuzz campaign
(bench/fuzz_models.py).
"""

from __future__ import annotations

import math

import hypothesis.strategies as st

# leaves of an expression in A's context (index a) and in B's (index b)
A_LEAVES = ["x[a]", "pa[a]", "q[a]", "c1", "t", "y[pick[a]]", "2", "y[home[a]]", "x[back[pick[a]]]", "g",
            "x[mate[a]]"]
B_LEAVES = ["y[b]", "v[b]", "c1", "1.5", "x[back[b]]", "pb[b]", "g"]
A_SUMS = ["sum(y[k] * v[k] for k in B)", "max(y[k] for k in B)", "mean(v[k] for k in B)",
          "prod(v[k] for k in B)", "min(pb[k] for k in B)", "sum(spend[a, k] * y[k] for k in B)",
          "sum(x[k] for k in A if x[k] < x[a])", "sum(1 for k in A if pick[k] == pick[a])",
          "mean(x[k] for k in A if k != a)", "max(q[k] for k in A if x[k] >= x[a])",
          "sum(y[k] for k in B if k == home[a])"]
B_SUMS = ["sum(q[k] for k in A if pick[k] == b)", "sum(x[k] * q[k] for k in A)", "min(x[k] for k in A)",
          "sum(spend[k, b] for k in A)", "sum(y[k] for k in B if y[k] >= y[b])",
          "mean(x[k] for k in A if back[b] == k)", "prod(1 + q[k] / 8 for k in A)",
          "sum(1 for k in B if v[k] > v[b])"]

# a pairwise quantity pw over A × A (`index a, a2`): the leaves of its formula, and where it is read
PAIR_LEAVES = ["x[a]", "x[a2]", "q[a2]", "pa[a]", "y[pick[a2]]", "c1", "spend[a, home[a2]]", "ifelse(a < a2, 1, 0)"]
PAIR_SUMS = ["sum(x[k] for k in A if x[k] < x[a2])", "sum(y[k] for k in B if k == pick[a2])",
             "max(x[k] - x[a] for k in A)"]
PAIR_A_LEAVES = ["pw[a, a]"]
PAIR_A_SUMS = ["sum(pw[a, k] for k in A)", "max(pw[k, a] for k in A)", "sum(1 for k in A if pw[a, k] > pw[k, a])"]
PAIR_B_SUMS = ["sum(pw[k, back[b]] for k in A)"]

PARAMS = ["1 + a / 4", "Uniform(0.5, 1.5)", "Normal(1, 0.1)", "LogNormal(0, 0.2)", "0.75"]

# Declared bounds `in [lo, hi]` of B's parameter pz and state z, and values near, on and outside them: a
# value outside must be rejected with E703 (the model says `# expect E703`), one inside must not be.
INF = math.inf
BOUNDS = [(-1.0, 1.0), (0.0, 2.0), (0.5, 0.75), (0.0, INF), (-INF, 3.0), (-INF, INF)]
WHERE = ["lo", "mid", "hi"] * 6 + ["just below", "just above", "below", "above"]  # about 1 in 6 outside

# Whole-number states `cnt in lo:hi` of A around the limits of the IR's integers (2^24: exact in float32;
# 2^31: Triton's int32): every value a multiple of 1024, so that float32 holds it exactly up to 2^34.
COUNT_TOPS = [3, 2 ** 24 - 1024, 2 ** 24, 2 ** 24 + 1024, 2 ** 31 - 1024, 2 ** 31, 5 * 2 ** 30]


def _num(v: float) -> str:
    return "Inf" if v == INF else "-Inf" if v == -INF else repr(float(v))


def _point(lo: float, hi: float, where: str) -> float:
    """A number at ``where`` relative to [lo, hi] (``just``: 0.001 away); infinite ends are moved in."""
    lo_f = lo if lo > -INF else (hi - 2 if hi < INF else -2.0)
    hi_f = hi if hi < INF else lo_f + 2
    return {"lo": lo_f, "mid": (lo_f + hi_f) / 2, "hi": hi_f, "just below": lo_f - 0.001,
            "just above": hi_f + 0.001, "below": lo_f - 1, "above": hi_f + 1}[where]


def _inside(values: list[float], lo: float, hi: float) -> bool:
    return all(lo <= v <= hi for v in values)


@st.composite
def bounded_values(draw, n_b: int) -> tuple[str, bool]:
    """(the declarations of pz and z in B, whether both keep their bounds). z's initial value is a number,
    a formula of the index, pz itself or a clamp of it; what the checker knows of pz is its values' hull."""
    lo, hi = draw(st.sampled_from(BOUNDS))
    kind = draw(st.sampled_from(["number", "index", "list", "Uniform"] * 3 + ["Normal", "LogNormal"]))
    if kind == "number":
        values = [_point(lo, hi, draw(st.sampled_from(WHERE)))]
        value = f"= {_num(values[0])}"
    elif kind == "index":
        start, slope = _point(lo, hi, draw(st.sampled_from(WHERE))), draw(st.sampled_from([0.125, -0.125, 0.5]))
        values = [start + slope * m for m in range(n_b)]
        value = f"= {_num(start)} + {slope} * b"
    elif kind == "list":
        values = [_point(lo, hi, draw(st.sampled_from(WHERE))) for _ in range(n_b)]
        value = "= [" + ", ".join(_num(v) for v in values) + "]"
    elif kind == "Uniform":
        ends = [_point(lo, hi, draw(st.sampled_from(WHERE))) for _ in range(2)]
        values = [min(ends), max(ends)]
        value = f"~ Uniform({_num(ends[0])}, {_num(ends[1])})"
    elif kind == "Normal":
        values, value = [-INF, INF], "~ Normal(1, 0.1)"
    else:
        values, value = [0.0, INF], "~ LogNormal(0, 0.2)"
    pz_ok = _inside(values, lo, hi)
    pz = f"param pz in [{_num(lo)}, {_num(hi)}] {value}"
    zlo, zhi = draw(st.sampled_from([(lo, hi)] * len(BOUNDS) + BOUNDS))  # as often as not, pz's
    init = draw(st.sampled_from(["number", "index", "pz", "clamp"]))
    if init == "number":
        z_values = [_point(zlo, zhi, draw(st.sampled_from(WHERE)))]
        z_init = _num(z_values[0])
    elif init == "index":
        start = _point(zlo, zhi, draw(st.sampled_from(WHERE)))
        z_values, z_init = [start - 0.25 * m for m in range(n_b)], f"{_num(start)} - 0.25 * b"
    elif init == "pz":
        z_values, z_init = [min(values), max(values)], "pz[b]"
    else:  # provably inside whatever pz is
        z_values, z_init = [max(zlo, -1e9)], f"clamp(pz[b] * 2 - 1, {_num(max(zlo, -1e9))}, {_num(min(zhi, 1e9))})"
    z = f"state z = {z_init} in [{_num(zlo)}, {_num(zhi)}]"
    return f"{pz}\n    {z}", pz_ok and _inside(z_values, zlo, zhi)


@st.composite
def counts(draw) -> tuple[str, str, str, bool, bool]:
    """(A's declarations of the whole-number state cnt and its action inc, its transition and a step quantity,
    its use in A's reward, whether cnt's initial value is inside its range (outside is E311's), whether it
    can be observed one-hot)."""
    hi = draw(st.sampled_from(COUNT_TOPS))
    lo = draw(st.sampled_from([0, -hi]))
    step = 1024 if hi > 1024 else 1
    start = draw(st.sampled_from([hi, hi - step, lo, lo + step] * 3 + [hi + step, lo - step]))
    decl = f"state cnt = {start} in {lo}:{hi}\n    action inc in {{0, {step}, {-step}}}"
    transition = f"    next cnt[a] = clamp(cnt[a] + inc[a], {lo}, {hi})\n" \
                 f"    cq[a] = ifelse(cnt[a] >= cnt[mate[a]], cnt[a], cnt[mate[a]])\n"
    use = f" + cq[a] / {max(hi, 1)}"
    return decl, transition, use, lo <= start <= hi, lo == 0 and hi <= 8


def expected_codes(text: str) -> set[str]:
    """The codes a generated model must be rejected with (its ``# expect CODE`` lines)."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# expect ")}


def expectation_problems(text: str, codes: set[str]) -> list[str]:
    """How the checker's codes contradict what the model was generated to be: an expected E311 or E703
    missing (E703 only when E311 is not expected: the value checks run on a model without other errors), or
    one of them reported for a value that keeps its range."""
    want = expected_codes(text)
    out = [f"expected {c}, got {sorted(codes)}" for c in sorted(want)
           if c not in codes and not (c == "E703" and "E311" in want)]
    out += [f"{c} for values that keep their ranges" for c in ("E311", "E703") if c in codes and c not in want]
    return out


def exprs(leaves: list[str], sums: list[str]) -> st.SearchStrategy[str]:
    base = st.sampled_from(leaves)

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(inner, st.sampled_from(["<", ">=", "=="]), inner, inner, inner)
            .map(lambda t: f"ifelse({t[0]} {t[1]} {t[2]}, {t[3]}, {t[4]})"),
            inner.map(lambda e: f"abs({e}) / 4"),
            st.sampled_from(sums),
        )

    return st.recursive(base, extend, max_leaves=6)


@st.composite
def models(draw) -> str:
    """The text of one generated model."""
    n_a, n_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        n_b = n_a  # equal sizes: a transposed per-member head would go unnoticed by shapes alone
    b_first = draw(st.booleans())
    singleton = draw(st.booleans())
    observe_a = draw(st.booleans())
    param = draw(st.sampled_from(PARAMS))
    pa = f"param pa ~ {param}" if "(" in param and param[0].isupper() else f"param pa = {param}"
    pairs = draw(st.booleans())
    a_leaves, a_sums = (A_LEAVES + PAIR_A_LEAVES, A_SUMS + PAIR_A_SUMS) if pairs else (A_LEAVES, A_SUMS)
    e_a, e_b = draw(exprs(a_leaves, a_sums)), draw(exprs(B_LEAVES, B_SUMS + (PAIR_B_SUMS if pairs else [])))
    r_a = draw(exprs(a_leaves, a_sums))
    pw = ""
    if pairs:
        target = draw(st.sampled_from(["pw[a, a2]", "pw[a2, a]"]))
        pw = f"    {target} = {draw(exprs(PAIR_LEAVES, PAIR_SUMS))}\n"
    bounds_decl, bounds_ok = draw(bounded_values(n_b))
    count_decl, count_step, count_use, count_ok, small = draw(counts())
    onehot_count = ", onehot(cnt[a])" if small else ""
    expect = ("" if bounds_ok else "# expect E703\n") + ("" if count_ok else "# expect E311\n")
    agent_a = f"""agent A[{n_a}] index {"a, a2" if pairs else "a"}
    {pa}
    {count_decl}
    state x = 1 + a in [-Inf, Inf]
    state home = 0 in B
    state mate = 0 in A
    action q in 0:3
    action pick in B
    action spend[B] in 0:2
    {f"observe x[a], y, home[a], cnt[a]{onehot_count}" if observe_a else ""}
    reward rA[a]
end
"""
    agent_b = f"""agent B[{n_b}] index b
    param pb = 2 - b / 3
    state y = 2 - b / 3 in [-Inf, Inf]
    {bounds_decl}
    action v in {{0.5, 1, 2}}
    action back in A
    observe y[b], x, onehot(b), z[b]
    reward rB[b]
end
"""
    agent_g = """agent G
    state g = 1 in [-Inf, Inf]
    action tax in {0, 0.25}
    observe g, t
    reward rG
end
""" if singleton else ""
    g_eqs = "    rG = g - tax * sum(x[k] for k in A)\n    next g = min(max(g + tax - 0.1, -10), 10)\n" \
        if singleton else "    g = 1\n"
    text = f"""{expect}model generated
horizon 3
const c1 = 0.5
{agent_b + agent_a if b_first else agent_a + agent_b}{agent_g}step
{g_eqs}{pw}    eA[a] = {e_a}
    eB[b] = {e_b}
{count_step}    rA[a] = {r_a} + pa[a] * q[a] - y[pick[a]] + sum(spend[a, k] for k in B) / 4{count_use}
    rB[b] = eB[b] + v[b] + x[back[b]] / 8 + z[b] / 4 + pz[b] / 8
    next x[a] = min(max(x[a] + eA[a] / 8, -1000), 1000)
    next y[b] = min(max(y[b] - eB[b] / 16, -1000), 1000)
    next home[a] = pick[a]
    next mate[a] = back[pick[a]]
    next z[b] = z[b]
end
end
"""
    return text
