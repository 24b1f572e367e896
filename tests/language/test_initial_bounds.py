"""Declared bounds hold from the start (E703): the initial value of a state, the value of a parameter (each
entry of a list, a formula of the member's index or of other parameters) and the support of a parameter's
distribution lie inside the `in [lo, hi]` the checker reasons with; what intervals and SymPy cannot prove
is reported too, as the domain checks report what they cannot prove."""

from __future__ import annotations

from pathlib import Path

import pytest

from econdsl.language import check_file

TEMPLATE = """
model m
horizon 2
agent A[4] index j
    param θ in [0, 1] = 0.5
    param κ in [1, 2] = 1.5
    param φ in [0, 1] ~ Uniform(0, 1)
{decl}
    action a in {{0, 1}}
    observe x[j], θ[j], κ[j], φ[j]
    reward x[j] * a[j]
end
step
    next x[j] = x[j]
end
end
"""

ECONOMY = """
model m
horizon 2
{decl}
agent A[2] index j
    action a in {{0, 1}}
    observe X
    reward X * a[j]
end
step
    next X = X
end
end
"""


def diagnostics(tmp_path: Path, text: str) -> list:
    path = tmp_path / "model.econ"
    path.write_text(text, encoding="utf-8")
    return check_file(path).diagnostics.items


def errors(tmp_path: Path, decl: str, template: str = TEMPLATE) -> list[str]:
    return [f"{d.code} {d.message}" for d in diagnostics(tmp_path, template.format(decl=decl))
            if d.code.startswith("E")]


OUTSIDE = [
    "    state x = -1 in [0, 3]",
    "    state x = 4 in [0, 3]",
    "    state x = [0, 1, 5, 2] in [0, 3]",  # one entry of a list
    "    state x = j in [0, 2]",  # member 3 starts at 3
    "    state x = θ[j] - 1 in [0, 3]",  # a formula of a parameter: at most 0 - ... provably below
    "    state x = κ[j] + 2 in [0, 3]",  # 3..4: partly outside
    "    state x = ifelse(j < 2, 1, 7) in [0, 3]",
    "    state x = 1 in [2, 1]",  # empty bounds
    "    param ρ in [0, 1] = 2\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [0, 1] = [0.5, 0.5, 1.5, 0]\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [0, 1] = j / 2\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [0, Inf] ~ Normal(0, 1)\n    state x = ρ[j] in [-Inf, Inf]",
    "    param ρ in [0, 1] ~ Uniform(0, 2)\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [0, 10] ~ LogNormal(0, 1)\n    state x = ρ[j] in [0, 10]",
    "    param ρ in [2, Inf] ~ Pareto(1, 2)\n    state x = ρ[j] in [0, Inf]",
    "    state x = θ[j] * (1 - θ[j]) in [0, 0.2]",  # θ is 0.5: 0.25, outside
]


@pytest.mark.parametrize("decl", OUTSIDE)
def test_a_value_outside_its_declared_bounds_is_an_error(tmp_path: Path, decl: str) -> None:
    errs = errors(tmp_path, decl)
    assert any(e.startswith("E703") for e in errs), errs


INSIDE = [
    "    state x = 0 in [0, 3]",
    "    state x = 3 in [0, 3]",
    "    state x = [0, 1, 3, 2] in [0, 3]",
    "    state x = j in [0, 3]",
    "    state x = θ[j] + 2 in [0, 3]",
    "    state x = κ[j] / (κ[j] + φ[j]) in [0, 1]",  # SymPy: κ / (κ + φ) <= 1 for φ >= 0
    "    state x = φ[j] / (φ[j] + κ[j]) in [0, 1]",
    "    state x = φ[j] * (1 - φ[j]) in [0, 1]",
    "    state x = clamp(κ[j] * 7 - 9, 0, 3) in [0, 3]",  # the escape hatch the hint names
    "    state x = 1 in [0, Inf]",
    "    state x = -5",  # no bounds: anything
    "    param ρ in [0, 1] = [0.5, 0.5, 1, 0]\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [0, 1] = j / 3\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [-Inf, Inf] ~ Normal(0, 1)\n    state x = ρ[j]",
    "    param ρ ~ Normal(0, 1)\n    state x = ρ[j]",
    "    param ρ in [0, 1] ~ Uniform(0, 1)\n    state x = ρ[j] in [0, 3]",
    "    param ρ in [0, Inf] ~ LogNormal(0, 1)\n    state x = ρ[j] in [0, Inf]",
    "    param ρ in [1, Inf] ~ Pareto(1, 2)\n    state x = ρ[j] in [0, Inf]",
]


@pytest.mark.parametrize("decl", INSIDE)
def test_a_value_inside_its_declared_bounds_is_clean(tmp_path: Path, decl: str) -> None:
    assert errors(tmp_path, decl) == []


def test_economy_wide_states_are_checked(tmp_path: Path) -> None:
    assert any(e.startswith("E703") for e in errors(tmp_path, "state X = 5 in [0, 3]", ECONOMY))
    assert errors(tmp_path, "state X = 3 in [0, 3]", ECONOMY) == []


def test_a_bound_may_be_an_entry_of_a_vector_constant(tmp_path: Path) -> None:
    z = "const z = [0.5, 1.0, 1.5]\n"  # the compiler folds `z[2]` to 1.5
    assert any(e.startswith("E703") for e in errors(tmp_path, z + "state X = 2 in [0, z[2]]", ECONOMY))
    assert errors(tmp_path, z + "state X = 1.5 in [z[0], z[2]]", ECONOMY) == []


def test_what_cannot_be_proven_is_said_so(tmp_path: Path) -> None:
    # φ(1 − φ) <= 1/4 holds, but neither intervals ([0, 1]) nor SymPy's sign rules prove it
    errs = errors(tmp_path, "    state x = φ[j] * (1 - φ[j]) in [0, 0.25]")
    assert len(errs) == 1 and errs[0].startswith("E703") and "not provably" in errs[0], errs


def test_the_error_points_at_the_entry_and_names_the_bounds(tmp_path: Path) -> None:
    [d] = [d for d in diagnostics(tmp_path, TEMPLATE.format(decl="    state x = [0, 1, 5, 2] in [0, 3]"))
           if d.code == "E703"]
    assert (d.span.line, d.span.col, d.span.end_col) == (8, 22, 23)
    assert "`x`" in d.message and "5" in d.message and "[0, 3]" in d.message
    assert d.hint



ANNEALED = """
model annealed
horizon 2
const s0 = 5
agent A[2] index j
    state x = s0 in [0, 10]
    action a in {0, 1}
    observe x[j]
    reward log(x[j]) + log(s0) + a[j]
end
step
    next x[j] = x[j]
end
curriculum
    anneal s0 = ANNEAL
end
end
"""


def test_an_annealed_constant_ranges_over_every_value_the_curriculum_gives_it(tmp_path: Path) -> None:
    # s0 is 5 in the model, 20·e − 30 during training (e = 0, 1, ...): -30 at the first iteration
    bad = diagnostics(tmp_path, ANNEALED.replace("ANNEAL", "20 * e - 30"))
    assert sorted(d.code for d in bad if d.code.startswith("E")) == ["E701", "E703"], [d.message for d in bad]
    clean = diagnostics(tmp_path, ANNEALED.replace("ANNEAL", "5 - 4 * exp(-e)"))  # 1 .. 5
    assert [d.message for d in clean if d.code.startswith("E")] == []
