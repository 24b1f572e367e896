"""What a plot or a report calls a model's series: its doc comment, its unit, and the group it belongs to.

The description is the ``#`` comment on the declaration's line (or the comment lines right above it), found
by the editor's own navigation code; the unit is the declared ``::unit`` or, for step quantities, the unit
the checker infers. Groups follow what an economist looks for first: prices, quantities, budgets, public
finance, welfare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GROUPS = ("prices and wages", "quantities", "budgets and income", "taxes, revenue and transfers",
          "welfare and rewards", "other")

# Phrases whose head noun is not their first keyword ("consumer spending" is spending, not consumption).
_PHRASES = {"budgets and income": r"wage bill|spending|sales revenue|labou?r income|profit"}
_WORDS = {
    "taxes, revenue and transfers": r"income tax|\btax|revenue|transfer|redistribut|lump.sum|government",
    "welfare and rewards": r"utilit|welfare|reward|\bpayoff",
    "prices and wages": r"\bprice|\bwage|interest rate",
    "budgets and income": r"labou?r income|budget|income|profit|spend|wage bill|cost|cash|wealth|earning",
    "quantities": r"demand|supply|output|produc|inventor|consum|labou?r|hours|export|import|sold|sales|capital"
                  r"|quantit|units",
}


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""
    unit: str | None = None  # None: unknown; "1": a pure number

    @property
    def unit_text(self) -> str:
        return "no unit" if self.unit in (None, "1", "") else self.unit

    def title(self, width: int = 42) -> str:
        """``budget B (money)``, ``λ (no unit)``: description, name and unit, wrapped to ``width``."""
        import textwrap

        desc = self.description.split("\n")[0].split(";")[0].strip()
        if len(desc) > 60:
            desc = desc[:57].rstrip() + "…"
        text = f"{desc} {self.name}" if desc else self.name
        return "\n".join(textwrap.wrap(f"{text} ({self.unit_text})", width)) or self.name


def _unit_text(unit) -> str | None:
    from ..language.checks.units import of, show

    u = of(unit)
    return show(u).strip("`") if u is not None and u else ("1" if u is not None else None)


def reward_names(resolved) -> set[str]:
    """Names that appear in an agent type's ``reward`` line: they belong with welfare and rewards."""
    from ..language import ast

    return {n.id if isinstance(n, ast.Name) else n.base for node in resolved.model.walk()
            if isinstance(node, ast.Reward) for n in node.value.walk() if isinstance(n, ast.Name | ast.Index)}


def model_labels(model_path: str | Path) -> dict[str, Label]:
    """Labels of every declared name of the model at ``model_path`` (empty if it does not check)."""
    from ..language import check_text
    from ..language.checks.units import quantity_units
    from ..language.navigation import Navigator

    path = Path(model_path)
    try:
        text = path.read_text(encoding="utf-8")
        result = check_text(text, path)
    except (OSError, UnicodeDecodeError):
        return {}
    r = result.resolved
    if r is None:
        return {}
    nav = Navigator(result, text)
    inferred = quantity_units(r)
    out = {}
    for name, sym in r.symbols.items():
        if sym.kind in ("builtin", "function"):
            continue
        unit = _unit_text(sym.unit) if sym.unit is not None else inferred.get(name)
        try:
            desc = nav.description(name, above=False)
        except Exception:  # noqa: BLE001 - a label without a description is still a label
            desc = ""
        out[name] = Label(name, desc, unit)
    return out


def group_of(label: Label, kind: str = "", reward: bool = False) -> str:
    """The figure a series belongs in, from its role, its words and its unit."""
    if reward:
        return "welfare and rewards"
    words = label.description.lower() or label.name.lower().replace("_", " ")
    # the group whose word comes first in the description: "consumption: income after tax" is a quantity
    for group, pattern in _PHRASES.items():
        if re.search(pattern, words):
            return group
    hits = [(m.start(), k, group) for k, (group, pattern) in enumerate(_WORDS.items())
            if (m := re.search(pattern, words))]
    if hits:
        return min(hits)[2]
    unit = label.unit or ""
    if unit.startswith("money/"):
        return "prices and wages"
    if unit == "money":
        return "budgets and income"
    if unit in ("goods", "hours") or unit.startswith(("goods", "hours")):
        return "quantities"
    return "other"
