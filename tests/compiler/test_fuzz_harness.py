"""The fuzz campaign's verdicts (bench/fuzz_models.py), on the case its 10,000-mutant run of 5e6bb5d found.

A mutant of aiyagari.econ raised the complete-markets capital to the power 150/(1 − α): about 1e110, finite in
float64 and +inf in float32. The float32 backends then differ from the float64 reference in everything
computed from it, which is the float32 contract (values beyond its range are ±inf,
test_constants_beyond_float32_round_to_the_programs_dtype), and training reports the first non-finite
equation as an error. The campaign counts such a model as ``beyond_float32`` and compares it in float64 only;
it must not call it a disagreement, and a model within float32's range must still be compared in float32.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def campaign():
    spec = importlib.util.spec_from_file_location("fuzz_models", ROOT / "bench" / "fuzz_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Campaign(triton_every=0)


def test_a_model_beyond_float32s_range_is_compared_in_float64_only():
    text = (ROOT / "models" / "aiyagari.econ").read_text(encoding="utf-8")
    mutant = text.replace("^(1 / (1 - α))", "^(150 / (1 - α))")
    assert mutant != text
    c = campaign()
    c.run("mutants", mutant, 1, 1)
    c.run("mutants", text, 1, 1)
    counts = c.counts["mutants"]
    assert counts["accepted"] == 2 and counts["beyond_float32"] == 1, counts
    assert counts["disagreements"] == 0 and counts["crashes"] == 0, c.failures
