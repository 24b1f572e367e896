"""The human summary printed by ``econdsl check`` for a clean model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import CheckResult


def summarize(result: CheckResult) -> str:
    r = result.resolved
    assert r is not None
    lines = [f"{result.path}: model `{r.name}` is clean (horizon {r.horizon} steps)"]
    lines.append("  populations: " + ", ".join(f"{p.name}[{p.size}]" for p in r.populations.values()))
    kinds: dict[str, list[str]] = {}
    for s in r.symbols.values():
        kinds.setdefault(s.kind, []).append(s.name)
    for kind in ("const", "param", "state"):
        if kinds.get(kind):
            lines.append(f"  {kind}s ({len(kinds[kind])}): " + ", ".join(kinds[kind]))
    for agent, heads in r.heads.items():
        desc = []
        for h in heads:
            count = f"{r.populations[h.per].size}×" if h.per else ""
            desc.append(f"{'×'.join(h.components) if len(h.components) > 1 else h.components[0]} "
                        f"[{count}{'continuous' if h.continuous else h.n}]")
        lines.append(f"  actions of {agent}: " + (", ".join(desc) or "none"))
    lines.append(f"  step equations: {len(r.equations)}")
    warnings = result.diagnostics.warnings
    if warnings:
        lines.append(f"  warnings: {len(warnings)}")
    return "\n".join(lines)
