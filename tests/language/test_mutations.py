"""Mutated models (tokens deleted, duplicated, swapped) never make the front end raise or fail internally."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econdsl.language import check_file, check_text

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "models").glob("*.econ"))
           if "import" not in p.read_text(encoding="utf-8")]
SOURCES.append((ROOT / "tests" / "golden" / "errors" / "w501_unused_constant.econ").read_text(encoding="utf-8"))
TOKEN = re.compile(r"\s+|[^\W\d]\w*|\d+(?:\.\d*)?|::|==|!=|<=|>=|&&|\|\||.", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def mutate(text: str, pick) -> str:
    """``text`` with 1-4 tokens deleted, duplicated or swapped; ``pick(lo, hi)`` chooses an integer in
    [lo, hi] (a hypothesis draw here, a seeded ``random.Random.randint`` in bench/fuzz_models.py)."""
    toks = _tokens(text)
    for _ in range(pick(1, 4)):
        k = pick(0, len(toks) - 1)
        op = ("delete", "duplicate", "swap")[pick(0, 2)]
        if op == "delete":
            del toks[k]
        elif op == "duplicate":
            toks.insert(k, toks[k])
        else:
            m = pick(0, len(toks) - 1)
            toks[k], toks[m] = toks[m], toks[k]
    return "".join(toks)


@st.composite
def mutated(draw) -> str:
    return mutate(draw(st.sampled_from(SOURCES)), lambda lo, hi: draw(st.integers(lo, hi)))


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


# ---------------------------------------------------------------- beyond the model text (issue 10)
# Train settings (in the model and through --set), random command-line flags of every command, and damaged
# run-directory files: each case must end through click with exit 0/1/2 and a message, never an exception.
# A few seeded cases here; bench/fuzz_reliability.py runs the same generator for ≥ 10,000 cases.

def _reliability_fuzz():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("reliability_fuzz", ROOT / "tests" / "reliability_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability_fuzz"] = module
    spec.loader.exec_module(module)
    return module


def test_settings_flags_and_run_directories_never_raise() -> None:
    fuzz = _reliability_fuzz()
    f = fuzz.Fuzzer(seed=20260)
    try:
        failed = [o for o in f.cases(18) if o.error is not None]
    finally:
        f.close()
    assert not failed, "\n\n".join(f"{o.args} {o.notes}\n{o.error}" for o in failed)


def test_an_action_in_an_undeclared_population_is_reported_not_a_crash(tmp_path) -> None:
    """Found by the fuzz campaign (mutant of tax_competition.econ, `in Region` → `intheRegion`): the
    discrete check looked the undeclared population up (KeyError, E100) when the action was used as a
    whole number (`next home[j] = move_to[j]`)."""
    text = (ROOT / "models" / "tax_competition.econ").read_text(encoding="utf-8")
    assert "action move_to in Region" in text
    result = check_text(text.replace("action move_to in Region", "action move_to in theRegion"),
                        tmp_path / "m.econ")
    codes = [d.code for d in result.diagnostics.items]
    assert "E204" in codes and "E100" not in codes, result.diagnostics.render()
