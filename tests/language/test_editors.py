"""Editor support files: the TextMate grammar tokenises every shipped model, the VS Code manifest is consistent.

The grammar is run with a small TextMate-style tokeniser over its own regexes (Python's ``re``): at each
position the rule whose match starts first wins, ties go to the earlier rule, as in vscode-textmate. The
grammar keeps to ``match`` rules and to regex syntax that Oniguruma and Python read alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = ROOT / "editors" / "econ.tmLanguage.json"
VSCODE = ROOT / "editors" / "vscode"
SOURCES = sorted((ROOT / "models").glob("*.econ")) + sorted((ROOT / "bench" / "experiments").glob("*.econ"))


def _rules() -> list[tuple[re.Pattern, dict]]:
    """The grammar's top-level rules, includes expanded, in priority order."""
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    out: list[tuple[re.Pattern, dict]] = []

    def add(rule: dict) -> None:
        if "include" in rule:
            add(grammar["repository"][rule["include"].lstrip("#")])
        elif "patterns" in rule:
            for r in rule["patterns"]:
                add(r)
        else:
            assert set(rule) <= {"match", "name", "captures", "comment"}, f"only `match` rules: {rule}"
            out.append((re.compile(rule["match"]), rule))

    for r in grammar["patterns"]:
        add(r)
    return out


RULES = _rules()


def tokenize(line: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(text, scope) tokens of one line, and the non-blank stretches no rule matched."""
    tokens: list[tuple[str, str]] = []
    unmatched: list[str] = []
    pos = 0
    while pos < len(line):
        best = None
        for pattern, rule in RULES:
            m = pattern.search(line, pos)
            if m is not None and m.end() > m.start() and (best is None or m.start() < best[0].start()):
                best = (m, rule)
        end = best[0].start() if best else len(line)
        if line[pos:end].strip():
            unmatched.append(line[pos:end])
        if best is None:
            break
        m, rule = best
        if "captures" in rule:
            for group, cap in rule["captures"].items():
                if m.group(int(group)):
                    tokens.append((m.group(int(group)), cap["name"]))
        else:
            tokens.append((m.group(0), rule["name"]))
        pos = m.end()
    return tokens, unmatched


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_grammar_tokenises_every_model(path: Path) -> None:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        _, unmatched = tokenize(line)
        assert not unmatched, f"{path.name}:{n}: no rule matches {unmatched!r} in {line!r}"


def _scope(line: str, text: str) -> str:
    return dict(tokenize(line)[0])[text]


def test_grammar_scopes() -> None:
    line = "    state B_f::money/goods^2 = 1e-3 in [0, Inf]   # budget"
    assert _scope(line, "state") == "storage.type.econ"
    assert _scope(line, "B_f") == "variable.other.declaration.econ"
    assert _scope(line, "money/goods^2") == "support.type.unit.econ"
    assert _scope(line, "1e-3") == "constant.numeric.econ"
    assert _scope(line, "Inf") == "constant.language.infinity.econ"
    assert _scope(line, "# budget") == "comment.line.number-sign.econ"
    assert _scope("agent Firm[10] index i", "Firm") == "entity.name.type.agent.econ"
    assert _scope("    x[j] = sum(θ[i] for i in Firm)", "sum") == "support.function.builtin.econ"
    assert _scope("    x[j] = sum(θ[i] for i in Firm)", "θ") == "variable.other.econ"
    assert _scope('    digits = "y, B # not a comment"', '"y, B # not a comment"') == "string.quoted.double.econ"


def test_every_keyword_is_highlighted() -> None:
    """A keyword added to econ.lark must be added to the grammar too (it would show as a plain name)."""
    lark = (ROOT / "econdsl" / "language" / "econ.lark").read_text(encoding="utf-8")
    keywords = set(re.findall(r'"([^\W\d]\w*)"', lark))
    assert {"model", "agent", "end", "next"} <= keywords
    for word in sorted(keywords):
        scope = _scope(f"{word} ", word)
        assert not scope.startswith("variable"), f"keyword `{word}` is highlighted as a name"


def test_regexes_stay_within_the_common_subset() -> None:
    """Oniguruma-only syntax (\\h, \\G, \\A, \\z, (?<name>, (?>, possessive ++) and Python-only (?P<...>)."""
    for pattern, _ in RULES:
        for bad in (r"\h", r"\G", r"\A", r"\z", "(?<" + "n", "(?>", "++", "*+", "(?P"):
            text = pattern.pattern.replace("(?<!", "").replace("(?<=", "")
            assert bad not in text, f"{pattern.pattern!r} uses {bad!r}"


def test_vscode_extension_manifest() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (lang,) = manifest["contributes"]["languages"]
    assert ".econ" in lang["extensions"]
    assert json.loads((VSCODE / lang["configuration"]).read_text(encoding="utf-8"))["comments"]["lineComment"] == "#"
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["language"] == lang["id"]
    path = (VSCODE / grammar["path"]).resolve()
    assert path == GRAMMAR
    assert json.loads(path.read_text(encoding="utf-8"))["scopeName"] == grammar["scopeName"]
    main = (VSCODE / manifest["main"]).read_text(encoding="utf-8")
    assert '"lsp"' in main and "LanguageClient" in main
    assert manifest["contributes"]["configuration"]["properties"]["econdsl.server.command"]["default"] == "econdsl"


def test_lsp_without_pygls_says_how_to_install(monkeypatch) -> None:
    import importlib.util

    from click.testing import CliRunner

    from econdsl.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pygls" else real(name, *a))
    r = CliRunner().invoke(main, ["lsp"])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)
    assert "pip install 'econdsl[lsp]'" in r.output
