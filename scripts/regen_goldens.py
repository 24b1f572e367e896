"""Regenerate tests/golden/errors/*.expected from the checker's current output.

Run after an intended change to a diagnostic, then review the diff (`git diff tests/golden`):
    python scripts/regen_goldens.py            # every golden
    python scripts/regen_goldens.py e201 e702  # only the goldens whose names start with these prefixes
    python scripts/regen_goldens.py --docs     # the outputs in docs/tutorial.md, the catalogue in docs/language.md
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "errors"


def render(name: str) -> str:
    """The diagnostics of one golden model, as ``econdsl check`` prints them (paths relative to its folder)."""
    from econdsl.language import check_file

    cwd = os.getcwd()
    os.chdir(GOLDEN)
    try:
        return check_file(name).diagnostics.render() + "\n"
    finally:
        os.chdir(cwd)


def regen_docs() -> None:
    """Refresh the generated parts of the docs: tutorial listings and outputs, the diagnostics catalogue."""
    from econdsl.language.catalogue import markdown

    root = GOLDEN.parents[2]
    sys.path.insert(0, str(root / "tests" / "language"))
    from test_tutorial import BLOCK, render

    tut = root / "docs" / "tutorial.md"
    text = tut.read_text(encoding="utf-8")

    def block(m: re.Match) -> str:
        kind, name = m.group(1), m.group(2)
        lang = "econ" if kind == "src" else "text"
        return f"<!-- {kind}: {name} -->\n```{lang}\n{render(kind, name)}```\n"

    tut.write_text(BLOCK.sub(block, text), encoding="utf-8")
    ref = root / "docs" / "language.md"
    text = ref.read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- catalogue:begin")) + 4
    end = text.index("<!-- catalogue:end")
    ref.write_text(text[:start] + markdown() + text[end:], encoding="utf-8")
    print("docs regenerated")


def main(prefixes: list[str]) -> int:
    if "--docs" in prefixes:
        regen_docs()
        return 0
    changed = 0
    for path in sorted(GOLDEN.glob("*.econ")):
        if prefixes and not any(path.stem.startswith(p) for p in prefixes):
            continue
        text = render(path.name)
        expected = path.with_suffix(".expected")
        if not expected.exists() or expected.read_text(encoding="utf-8") != text:
            expected.write_text(text, encoding="utf-8")
            changed += 1
            print(f"updated {expected.name}")
    print(f"{changed} golden file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
