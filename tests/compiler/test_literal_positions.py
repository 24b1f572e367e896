"""Lists, matrices and strings in expression positions (issue 9: "a model that checks clean compiles").

A list ``[a, b, ...]`` means one value per member only as the whole value of a parameter or of a state's
initial value; a matrix ``[a b; c d]`` or a vector is a table only as the value of a `const`; a string is
a value only in the `train` section. Anywhere else the compiler has no meaning for them, so ``check``
must reject them with a located E308 (the fuzz campaign found `[j] * hours[j]` checking clean and then
failing in lowering). Siblings of the same kind found next to it: `onehot` inside a formula (E206; it is a
block of observation columns, not a number) and a function that calls itself, directly or through another
(E207; the compiler inlines calls, and the unit check recursed exponentially on `f(x) = g(x)`,
`g(x) = f(x)`). Each variant below is a small edit of models/labour_leisure.econ.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from econdsl.compiler.lower import lower
from econdsl.compiler.optimize import optimize
from econdsl.compiler.verify import verify

import econdsl
from econdsl.language import check_text

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "models" / "labour_leisure.econ").read_text(encoding="utf-8")
Z = "    z[j] = w[j] * hours[j]"
KEEP_S = Z + "\n    next s[j] = s[j]"
AGENT_STATE = ("    observe w[j]", "    state s = {}\n    observe w[j]")

# (id, [(old, new), ...]): each replaces the first occurrence of old in the base model
REJECTED = [
    ("list_times_action", [(Z, "    z[j] = [w[j], 1] * hours[j]")]),
    ("list_of_index", [(Z, "    z[j] = [j] * w[j] * hours[j]")]),
    ("list_in_reduction", [(Z, Z + " + sum([k] for k in Consumer)")]),
    ("list_in_reward", [("    reward u[j]", "    reward [u[j]]")]),
    ("list_in_observe", [("    observe w[j]", "    observe w[j], [1, 2]")]),
    ("list_in_draw", [(Z, Z + "\n    e[j] ~ Normal([0], 1)")]),
    ("list_in_function", [("agent Consumer", "function f(x) = x * [1]\nagent Consumer"),
                          (Z, "    z[j] = f(w[j]) * hours[j]")]),
    ("list_in_param_formula", [("= [16, 24, 32, 40]", "= 2 * [16, 24, 32, 40]")]),
    ("list_inside_list", [("= [16, 24, 32, 40]", "= [16, 24, 32, [40]]")]),
    ("list_of_formulas_of_a_param", [("    param w", "    param q = 1\n    param w"),
                                     ("= [16, 24, 32, 40]", "= [16, 24, 32, q[0]]")]),
    ("list_with_the_index", [("= [16, 24, 32, 40]", "= [16, 24, 32, 40 + j]")]),
    ("list_in_state_formula", [AGENT_STATE, ("{}", "[1, 2, 3, 4] + 1"), (Z, KEEP_S)]),
    ("list_for_economy_wide_state", [("agent Consumer", "state S = [1, 2]\nagent Consumer"),
                                     (Z, Z + "\n    next S = S")]),
    ("list_in_bounds", [("in [0, Inf] = [16", "in [0, [100]] = [16")]),
    ("list_in_entropy", [("entropy = 0.1 * exp(-age / 150)", "entropy = 0.1 * [1]")]),
    ("list_in_curriculum_const", [("entropy = 0.1 * exp(-age / 150)", "const N = [1]\n    entropy = 0.1")]),
    ("matrix_in_expression", [(Z, "    z[j] = [1 2; 3 4] * w[j] * hours[j]")]),
    ("matrix_as_param", [("= [16, 24, 32, 40]", "= [16 24; 32 40]")]),
    ("string_in_expression", [(Z, '    z[j] = "a" * w[j] * hours[j]')]),
    ("string_as_param", [("= [16, 24, 32, 40]", '= "wage"')]),
]

# (id, edits, code): other constructs the lowering cannot take where they stand
SIBLINGS = [
    ("onehot_inside_an_observed_formula", [("    observe w[j]", "    observe w[j] * onehot(j)")], "E206"),
    ("onehot_plus_one", [("    observe w[j]", "    observe w[j], 1 + onehot(j)")], "E206"),
    ("onehot_in_a_step_formula", [(Z, "    z[j] = w[j] * hours[j] + 0 * sum(onehot(j))")], "E206"),
    ("function_calling_itself", [("agent Consumer", "function f(x) = f(x)\nagent Consumer"),
                                 (Z, "    z[j] = f(w[j]) * hours[j]")], "E207"),
    ("functions_calling_each_other", [("agent Consumer",
                                       "function f(x) = g(x)\nfunction g(x) = f(x)\nagent Consumer"),
                                      (Z, "    z[j] = f(w[j]) * hours[j]")], "E207"),
]

ACCEPTED = [
    ("list_per_member_param", []),
    ("onehot_observed_alone", [("    observe w[j]", "    observe w[j], onehot(j)")]),
    ("functions_calling_others", [("agent Consumer",
                                   "function g(x) = 2 * x\nfunction f(x) = g(x) + g(1)\nagent Consumer"),
                                  (Z, "    z[j] = f(w[j]) * hours[j]")]),
    ("list_per_member_state", [AGENT_STATE, ("{}", "[1, 2, 3, 4]"), (Z, KEEP_S)]),
    ("list_per_member_state_of_members", [AGENT_STATE, ("{}", "[3, 2, 1, 0] in Consumer"), (Z, KEEP_S),
                                          (Z, "    z[j] = w[s[j]] * hours[j]")]),
    ("list_of_constant_formulas", [("= [16, 24, 32, 40]", "= [16, 24, 32, 80 / 2]")]),
    ("list_with_a_table_entry", [("const τ = 0.25", "const τ = 0.25\nconst v::money/hours = [1, 2, 3, 4]"),
                                 ("= [16, 24, 32, 40]", "= [16, 24, 32, 10 * v[3]]")]),
    ("vector_constant_indexed", [("const τ = 0.25", "const τ = 0.25\nconst v = [1, 2, 3, 4]"),
                                 (Z, "    z[j] = v[j] * w[j] * hours[j]")]),
]


def edit(edits: list[tuple[str, str]]) -> str:
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize("edits", [e for _, e in REJECTED], ids=[n for n, _ in REJECTED])
def test_a_literal_the_compiler_cannot_use_is_a_located_error(edits, tmp_path):
    result = check_text(edit(edits), tmp_path / "m.econ")
    codes = [d.code for d in result.diagnostics.items]
    assert "E308" in codes, result.diagnostics.render()
    assert "E100" not in codes


@pytest.mark.parametrize("edits,code", [(e, c) for _, e, c in SIBLINGS], ids=[n for n, _, _ in SIBLINGS])
def test_a_sibling_construct_the_compiler_cannot_use_is_a_located_error(edits, code, tmp_path):
    result = check_text(edit(edits), tmp_path / "m.econ")
    assert code in [d.code for d in result.diagnostics.items], result.diagnostics.render()


@pytest.mark.parametrize("edits", [e for _, e in ACCEPTED], ids=[n for n, _ in ACCEPTED])
def test_a_literal_with_a_meaning_checks_clean_and_compiles(edits, tmp_path):
    result = check_text(edit(edits), tmp_path / "m.econ")
    assert not result.diagnostics.has_errors(), result.diagnostics.render()
    verify(optimize(lower(result.resolved)))


def test_a_state_starts_at_its_per_member_list(tmp_path):
    path = tmp_path / "m.econ"
    path.write_text(edit(dict(ACCEPTED)["list_per_member_state"]), encoding="utf-8")
    for backend, dtype in (("reference", torch.float64), ("torch", torch.float32)):
        env = econdsl.load(path).env(2, backend=backend, dtype=dtype, seed=0)
        env.reset()
        got = env.state["s"].double().cpu()
        assert torch.equal(got, torch.tensor([[1.0, 2, 3, 4]] * 2)), (backend, got)


def test_a_state_in_a_listed_value_is_reported_once(tmp_path):
    # `[16, 24, 32, q[0]]` with a state q: E206 says why, not a second E308 there
    text = edit([("= [16, 24, 32, 40]", "= [16, 24, 32, 40]\n    state q = 1"),
                 ("= [16, 24, 32, 40]", "= [16, 24, 32, q[0]]"), (Z, Z + "\n    next q[j] = q[j]")])
    spans = [(d.span.line, d.span.col) for d in check_text(text, tmp_path / "m.econ").diagnostics.items
             if d.code in ("E206", "E308")]
    assert len(spans) == len(set(spans)), spans
