"""Facts the domain and accounting checks must prove (no false error), next to the near-miss that is a
true error (the error stays). Each model is small and checked as a whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from econdsl.language import check_file

# Bertrand: the cheapest firms share demand D. At least one firm attains the minimum price, so `nlow` >= 1.
BERTRAND = """
model bertrand
horizon 1
const D::goods = 10
agent Firm[3] index i
    action p in 1:5
    observe D
    reward π[i]
end
step
    pmin = min(p[k] for k in Firm)
    nlow = sum(ifelse(p[k] == pmin, 1, 0) for k in Firm)
    q[i] = ifelse(p[i] == pmin, D / nlow, 0)
    π[i] = p[i] * q[i]
end
end
"""

# A pool of money paid out in shares w[i] / Σ w: the payments sum to the pool.
SHARES = """
model shares
horizon 2
agent R[3] index i
    param w in [1, 2] = 1 + i / 2
    state B::money = 0 in [0, Inf]
    action give in {0, 1}
    observe B[i]
    reward B[i] * (1 + give[i])
end
agent Fund
    state pool::money = 100 in [0, Inf]
    action keep in {0, 1}
    observe pool
    reward pool
end
step
    out = (1 - keep) * pool
    next B[i] = B[i] + out * w[i] / sum(w[k] for k in R)
    next pool = pool - out
end
end
"""

# Income taxed at rate τ: after tax, a + inc - tax = a + (1 - τ)·inc >= 0.
TAX = """
model tax
horizon 1
const τ = 0.25
agent C[2] index j
    param a in [1, 2] = 1
    action h in 0:4
    observe a[j]
    reward log(a[j] + inc[j] - tax[j])
end
step
    inc[j] = 10 * h[j]
    tax[j] = τ * inc[j]
end
end
"""


def codes(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "model.econ"
    path.write_text(text, encoding="utf-8")
    return [f"{d.code} {d.message}" for d in check_file(path).diagnostics.items]


def test_a_count_of_the_members_at_the_minimum_is_positive(tmp_path: Path) -> None:
    assert codes(tmp_path, BERTRAND) == []
    # written with a filter, with `<=`, or against the maximum: the same fact
    assert codes(tmp_path, BERTRAND.replace("sum(ifelse(p[k] == pmin, 1, 0) for k in Firm)",
                                            "sum(1 for k in Firm if p[k] <= pmin)")) == []
    assert codes(tmp_path, BERTRAND.replace("pmin = min(", "pmin = max(").replace("p[k] == pmin", "pmin == p[k]")) == []


@pytest.mark.parametrize("change", [
    ("p[k] == pmin, 1, 0", "p[k] < pmin, 1, 0"),  # nobody is strictly below the minimum
    ("p[k] == pmin, 1, 0", "p[k] == pmin, 0, 1"),  # counts the others, possibly none
    ("pmin = min(p[k] for k in Firm)", "pmin = min(p[k] for k in Firm if p[k] > 2)"),  # filtered: maybe empty
    ("pmin = min(p[k] for k in Firm)", "pmin = min(p[k] + 1 for k in Firm)"),  # not a value of p[k]
])
def test_the_count_can_be_zero_when_the_minimum_is_not_attained(tmp_path: Path, change) -> None:
    text = BERTRAND.replace(*change)
    assert text != BERTRAND
    assert any(c.startswith("E702") for c in codes(tmp_path, text))


def test_shares_that_sum_to_one_balance(tmp_path: Path) -> None:
    assert codes(tmp_path, SHARES) == []


def test_shares_that_do_not_sum_to_one_do_not_balance(tmp_path: Path) -> None:
    text = SHARES.replace("sum(w[k] for k in R)", "(1 + sum(w[k] for k in R))")
    assert any(c.startswith("E901") for c in codes(tmp_path, text))


def test_log_of_income_after_a_proportional_tax(tmp_path: Path) -> None:
    assert codes(tmp_path, TAX) == []
    assert codes(tmp_path, TAX.replace("inc[j] - tax[j]", "(1 - τ) * inc[j]")) == []


def test_log_of_income_after_a_tax_above_income(tmp_path: Path) -> None:
    text = TAX.replace("const τ = 0.25", "const τ = 1.5")
    assert any(c.startswith("E701") for c in codes(tmp_path, text))
    text = TAX.replace("tax[j] = τ * inc[j]", "tax[j] = τ * inc[j] + 5")
    assert any(c.startswith("E701") for c in codes(tmp_path, text))
