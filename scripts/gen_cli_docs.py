"""Regenerate the command reference part of docs/cli.md from the commands' own --help texts.

Usage: python scripts/gen_cli_docs.py [--check]   (--check exits 1 when docs/cli.md is out of date)
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from econdsl.cli import main
from econdsl.commands import COMMANDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
BEGIN, END = "<!-- BEGIN GENERATED HELP -->", "<!-- END GENERATED HELP -->"


def generated() -> str:
    runner = CliRunner()
    parts = []
    for name in sorted(COMMANDS):
        out = runner.invoke(main, [name, "--help"], prog_name="econdsl", terminal_width=100).output
        parts.append(f"### `econdsl {name}`\n\n```text\n{out.rstrip()}\n```\n")
    return "\n".join(parts)


def render(doc: str) -> str:
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{generated()}\n{END}{tail}"


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in sys.argv:
        sys.exit(0 if new == text else 1)
    DOC.write_text(new, encoding="utf-8")
