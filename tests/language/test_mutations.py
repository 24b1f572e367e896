"""Mutated models (tokens deleted, duplicated, swapped) never make the front end raise or fail internally."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econdsl.language import check_file

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "models").glob("*.econ"))
           if "import" not in p.read_text(encoding="utf-8")]
SOURCES.append((ROOT / "tests" / "golden" / "errors" / "w501_unused_constant.econ").read_text(encoding="utf-8"))
TOKEN = re.compile(r"\s+|[^\W\d]\w*|\d+(?:\.\d*)?|::|==|!=|<=|>=|&&|\|\||.", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


@st.composite
def mutated(draw) -> str:
    toks = _tokens(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(toks) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap"]))
        if op == "delete":
            del toks[k]
        elif op == "duplicate":
            toks.insert(k, toks[k])
        else:
            m = draw(st.integers(0, len(toks) - 1))
            toks[k], toks[m] = toks[m], toks[k]
    return "".join(toks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_model_never_raises(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("m") / "mutant.econ"
    path.write_text(text, encoding="utf-8")
    result = check_file(path)  # must not raise
    codes = {d.code for d in result.diagnostics.items}
    assert "E100" not in codes, result.diagnostics.render()
    result.diagnostics.render()
    result.diagnostics.to_json()
