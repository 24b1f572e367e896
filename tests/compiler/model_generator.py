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
    agent_a = f"""agent A[{n_a}] index {"a, a2" if pairs else "a"}
    {pa}
    state x = 1 + a in [-Inf, Inf]
    state home = 0 in B
    state mate = 0 in A
    action q in 0:3
    action pick in B
    action spend[B] in 0:2
    {"observe x[a], y, home[a]" if observe_a else ""}
    reward rA[a]
end
"""
    agent_b = f"""agent B[{n_b}] index b
    param pb = 2 - b / 3
    state y = 2 - b / 3 in [-Inf, Inf]
    action v in {{0.5, 1, 2}}
    action back in A
    observe y[b], x, onehot(b)
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
    text = f"""model generated
horizon 3
const c1 = 0.5
{agent_b + agent_a if b_first else agent_a + agent_b}{agent_g}step
{g_eqs}{pw}    eA[a] = {e_a}
    eB[b] = {e_b}
    rA[a] = {r_a} + pa[a] * q[a] - y[pick[a]] + sum(spend[a, k] for k in B) / 4
    rB[b] = eB[b] + v[b] + x[back[b]] / 8
    next x[a] = min(max(x[a] + eA[a] / 8, -1000), 1000)
    next y[b] = min(max(y[b] - eB[b] / 16, -1000), 1000)
    next home[a] = pick[a]
    next mate[a] = back[pick[a]]
end
end
"""
    return text
