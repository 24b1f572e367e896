"""Regenerate tests/golden/errors/*.expected from the checker's current output.

Run after an intended change to a diagnostic, then review the diff (`git diff tests/golden`):
    python scripts/regen_goldens.py            # every golden
    python scripts/regen_goldens.py e201 e702  # only the goldens whose names start with these prefixes
"""

from __future__ import annotations

import os
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


def main(prefixes: list[str]) -> int:
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
