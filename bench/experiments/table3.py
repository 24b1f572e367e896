"""The paper's table 3 over seeds (docs/paper-reproduction.md, section 8), from `econdsl best-response RUN --json`
outputs: per agent type and seed, the unilateral ε (the worst tested member) and the type-level (meta-game, the
paper's table 3) ε, each with its 95% interval and as a share of the type's training gain and of the relative
scale best-response uses (max(mean |reward|, |training gain|)), next to the paper's bound.

    python bench/experiments/table3.py sweeps/paper-quick/open/seed0.json sweeps/paper-quick/open/seed1.json …
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

PAPER = {"Consumer": "< 3%", "Firm": "< 10%", "Government": "< 1%"}  # Curry et al. 2022, table 3 (worst of 10)


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+,.{digits}g}".replace("-", "−") if abs(x) < 1000 else f"{x:+,.0f}".replace("-", "−")


def _pct(x: float | None, scale: float | None) -> str:
    if x is None or not scale:
        return "–"
    return f"{100 * x / abs(scale):+.2f}%".replace("-", "−")


def rows(path: Path) -> list[list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    seed = path.stem
    out = []
    for agent, kinds in data["types"].items():
        for kind in ("unilateral", "type"):
            e = kinds.get(kind)
            if not e:
                continue
            lo, hi = e["ci95"]
            who = f"member {e['worst_member']}" if kind == "unilateral" else "all"
            out.append([agent, seed, "unilateral" if kind == "unilateral" else "type level (table 3)", who,
                        _num(e["before"], 4), f"{_num(e['epsilon'])} [{_num(lo)}, {_num(hi)}]",
                        _pct(e["epsilon"], e.get("train_gain")), _pct(e["epsilon"], e.get("scale")),
                        PAPER.get(agent, "–")])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+", help="best-response --json outputs, one per seed")
    args = ap.parse_args()
    head = ["type", "run", "ε kind", "deviators", "U before", "ε [95% interval]", "ε / training gain",
            "ε / relative scale", "paper, table 3"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    table = sorted((r for p in args.results for r in rows(p)), key=lambda r: (r[0], r[2], r[1]))
    for r in table:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
