"""docs/cli.md's command reference is generated from the commands' --help and must be current."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gen_cli_docs.py"


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.DOC.read_text(encoding="utf-8")
    assert mod.render(text) == text, "run `python scripts/gen_cli_docs.py` to refresh docs/cli.md"
    for name in mod.COMMANDS:
        assert f"### `econdsl {name}`" in text
        assert f"Usage: econdsl {name} " in text  # the command as a user types it, not click's `main`
