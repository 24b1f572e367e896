"""Stage 3, check: every semantic check of a resolved model, each adding diagnostics.

Checks run in a fixed order; each one is a function ``(resolved, diags) -> None`` in its own module.
The first group needs only names and shapes and always runs, so that one run reports every such error;
the second group reasons symbolically about values and runs only on a model free of errors of the first
group, where its expressions are known to be well formed (each of its checks runs, whatever the others
of the group report).
"""

from __future__ import annotations

from collections.abc import Callable

from ..diagnostics import Diagnostics
from ..resolve import Resolved
from .accounting import check_accounting
from .bounds import check_bounds
from .discrete import check_discrete
from .domains import check_domains
from .economics import check_economics
from .literals import check_literals
from .names import check_names
from .settings import check_settings
from .shapes import check_shapes
from .structure import check_structure
from .timing import check_timing
from .units import check_units

Check = Callable[[Resolved, Diagnostics], None]

# Checks that only read names and shapes.
STRUCTURAL: list[Check] = [check_names, check_shapes, check_literals, check_timing, check_structure, check_units,
                           check_settings, check_discrete]
# Checks that reason about values (SymPy); they assume a model without errors.
SEMANTIC: list[Check] = [check_domains, check_bounds, check_economics, check_accounting]

CHECKS: list[Check] = STRUCTURAL + SEMANTIC


def run_checks(resolved: Resolved, diags: Diagnostics) -> None:
    for check in [c for c in CHECKS if c not in SEMANTIC]:
        check(resolved, diags)
    if diags.has_errors():
        return  # the semantic checks assume well-formed names and shapes
    for check in [c for c in CHECKS if c in SEMANTIC]:  # each runs: one run reports E701 and E703 alike
        check(resolved, diags)
