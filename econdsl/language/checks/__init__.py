"""Stage 3, check: every semantic check of a resolved model, each adding diagnostics.

Checks run in a fixed order; each one is a function ``(resolved, diags) -> None``.
"""

from __future__ import annotations

from ..diagnostics import Diagnostics
from ..resolve import Resolved

CHECKS: list = []


def run_checks(resolved: Resolved, diags: Diagnostics) -> None:
    for check in CHECKS:
        check(resolved, diags)
