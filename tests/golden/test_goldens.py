"""Golden diagnostics: every malformed model in errors/ renders exactly its .expected text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from econdsl.language.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "errors"
CASES = sorted(GOLDEN.glob("*.econ"))

_spec = importlib.util.spec_from_file_location("regen_goldens", ROOT / "scripts" / "regen_goldens.py")
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)  # type: ignore[union-attr]

# Codes no well-formed test input can produce: the checker's own failure.
UNREACHABLE = {"E100"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert regen.render(path.name) == expected, f"run `python scripts/regen_goldens.py {path.stem}` and review"


def test_at_least_40_goldens() -> None:
    assert len(CASES) >= 40


def test_every_code_has_a_golden() -> None:
    text = "".join(p.with_suffix(".expected").read_text(encoding="utf-8") for p in CASES)
    missing = [c for c in CATALOGUE if c not in UNREACHABLE and f"[{c}]" not in text]
    assert not missing, f"no golden produces {missing}"


def test_each_golden_names_its_code() -> None:
    """A golden named after a code must produce that code (e.g. e702_* produces E702)."""
    for path in CASES:
        head = path.stem.split("_")[0].upper()
        if head[0] in "EW" and head[1:].isdigit():
            assert f"[{head}]" in path.with_suffix(".expected").read_text(encoding="utf-8"), path.name
