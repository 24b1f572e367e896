"""docs/tutorial.md shows real files and real `econdsl check` output; this keeps them current."""

from __future__ import annotations

import os
import re
from pathlib import Path

from click.testing import CliRunner

from econdsl.cli import main
from econdsl.language.catalogue import markdown

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "tutorial"
BLOCK = re.compile(r"<!-- (src|out): (\w+) -->\n```\w*\n(.*?)```\n", re.S)


def render(kind: str, name: str) -> str:
    """What the tutorial shows for a file: its source, or `econdsl check` output run next to it."""
    if kind == "src":
        return (DATA / f"{name}.econ").read_text(encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(DATA)
    try:
        return CliRunner().invoke(main, ["check", "--no-color", f"{name}.econ"]).output
    finally:
        os.chdir(cwd)


def test_tutorial_blocks_are_current() -> None:
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 7
    for kind, name, shown in blocks:
        assert shown == render(kind, name), f"{kind} of {name} in docs/tutorial.md is out of date"


def test_language_reference_catalogue_is_current() -> None:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- catalogue:begin")) + 4
    assert text[start:text.index("<!-- catalogue:end")] == markdown()
