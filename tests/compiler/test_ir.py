"""Lowering, optimisation and the verifier: the IR of every model is well formed between stages,
optimisation is idempotent and folds/deduplicates, and the verifier rejects broken IR."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from econdsl.compiler.builder import Builder
from econdsl.compiler.ir import Function, Op, Output
from econdsl.compiler.lower import lower
from econdsl.compiler.optimize import drop_outputs, optimize
from econdsl.compiler.verify import VerifyError, verify

from econdsl.language import EconError, check_model, checks

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.econ"))
OPEN = Path(__file__).resolve().parents[2] / "models" / "rbc_open.econ"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_stage_verifies(path):
    prog = lower(check_model(path))
    verify(prog)
    opt = optimize(prog)
    verify(opt)
    again = optimize(opt)
    assert [len(f.ops) for f in again.functions()] == [len(f.ops) for f in opt.functions()]
    lean = drop_outputs(opt, {"quantity", "external"})
    verify(lean)
    assert not {o.kind for o in lean.step.outputs} & {"quantity", "external"}
    assert len(lean.step.ops) <= len(opt.step.ops)
    for fn in opt.functions():
        keys = [(o.kind, o.args, o.dims, o.dtype, o.attrs) for o in fn.ops]
        assert len(keys) == len(set(keys)), "common subexpressions left"
        table = fn.table()
        for o in fn.ops:  # constant folding: no computation has only constant operands
            if o.args and o.kind not in ("broadcast",):
                assert not all(table[a].kind == "const" for a in o.args), o


def test_rbc_lowering_details():
    lowered = lower(check_model(OPEN))
    # the fixed 10% investment fraction: a one-value grid lowers to the constant 0.1, its head stays
    assert not any(o.kind == "action" and o.name == "invest" for o in lowered.step.ops)
    assert any(o.kind == "const" and o.attr("value") == 0.1 for o in lowered.step.ops)
    assert [(h.n, h.components) for h in lowered.heads if h.agent == "Firm"] == [(30, ("price", "wage", "invest"))]
    prog = optimize(lowered)
    # the hot-path program drops the named quantities and what only they need (112 → 102 ops)
    assert len(drop_outputs(prog, {"quantity", "external"}).step.ops) < len(prog.step.ops)
    acts = {o.name: o for o in prog.step.ops if o.kind == "action"}
    assert (acts["price"].attr("stride"), acts["price"].attr("size")) == (5, 6)
    assert (acts["wage"].attr("stride"), acts["wage"].attr("size")) == (1, 5)
    assert (acts["income_tax"].attr("stride"), acts["corporate_tax"].attr("stride")) == (6, 1)
    assert acts["demand"].dims == ("Consumer", "Firm") and acts["demand"].attr("per") == "Firm"
    assert acts["employer"].dtype == "i"
    table = prog.step.table()
    outs = {o.name: table[o.value] for o in prog.step.outputs if o.kind == "quantity"}
    # w[employer[j]] is a gather; L[i] a masked sum; C[i] = D[i] · ratio (the sum moved past the factor)
    assert table[outs["z"].args[0]].kind == "gather" or table[outs["z"].args[1]].kind == "gather"
    assert outs["L"].kind == "reduce" and len(outs["L"].args) == 2
    assert outs["C"].kind == "mul" and outs["D"].out in outs["C"].args
    # the annealed constant is a runtime input; the others are folded
    assert prog.runtime_consts == {"κ": 1.0}
    names = {o.attr("name") for o in prog.step.ops if o.kind == "input"}
    assert "κ" in names and "η" not in names
    assert [h.n_columns for h in prog.heads if h.agent == "Consumer"] == [10, 1, 1]
    assert prog.obs_dim("Consumer") == 45 and prog.obs_dim("Firm") == 56 and prog.obs_dim("Government") == 43


def broken(prog, fn_name, mutate):
    fn = getattr(prog, fn_name)
    return replace(prog, **{fn_name: mutate(Function(fn.name, list(fn.ops), list(fn.outputs)))})


def test_verifier_rejects_broken_ir():
    prog = optimize(lower(check_model(OPEN)))

    def use_before_def(fn):
        fn.ops[0], fn.ops[-1] = fn.ops[-1], fn.ops[0]
        return fn

    def wrong_dims(fn):
        k = next(i for i, o in enumerate(fn.ops) if o.kind == "mul" and len(o.dims) == 2)
        fn.ops[k] = replace(fn.ops[k], dims=("Consumer",))  # canonical, but not the union of its args
        return fn

    def dup(fn):
        fn.ops.append(fn.ops[3])
        return fn

    def bad_dtype(fn):
        k = next(i for i, o in enumerate(fn.ops) if o.kind == "add")
        fn.ops[k] = replace(fn.ops[k], dtype="b")
        return fn

    def bad_output(fn):
        consumer = next(o for o in fn.ops if o.dims == ("Consumer",) and o.dtype == "f")
        fn.outputs.append(Output("reward", "Firm", consumer.out))
        return fn

    def undefined_output(fn):
        fn.outputs.append(Output("state", "p", "v99999"))
        return fn

    def unknown_kind(fn):
        fn.ops.append(Op("v99999", "system", (), (), "f"))
        return fn

    cases = {use_before_def: "not defined before", wrong_dims: "!= union", dup: "defined twice",
             bad_dtype: "dtype b != f", bad_output: None, undefined_output: None, unknown_kind: None}
    for mutate, message in cases.items():
        with pytest.raises(VerifyError) as err:
            verify(broken(prog, "step", mutate))
            pytest.fail(f"{mutate.__name__} was not caught")
        if message is not None:
            assert message in str(err.value), (mutate.__name__, str(err.value))


def test_builder_folds_and_shares():
    b = Builder("step", {"P": 3})
    x = b.input("state", "x", ("P",))
    two = b.elementwise("add", (b.const(1.0), b.const(1.0)))
    assert b.const_value(two) == 2.0
    y1 = b.elementwise("mul", (x, two))
    y2 = b.elementwise("mul", (x, b.const(2.0)))
    assert y1 == y2
    assert b.elementwise("mul", (x, b.const(1.0))) == x
    assert b.elementwise("where", (b.const(1.0), x, two)) == x
    s = b.reduce("sum", b.elementwise("div", (b.elementwise("sub", (x, b.const(1.0))), b.const(4.0))), "P")
    assert b.ops[s].kind == "div"  # (Σ x − 3) / 4


def test_lowering_errors_are_diagnostics(tmp_path, monkeypatch):
    """Lowering reports what it cannot lower as a diagnostic; the timing check, which would catch this
    model first, is switched off so that the lowering's own E403 is what is tested."""
    bad = OPEN.read_text(encoding="utf-8").replace("observe p, w, y, o, τ, σ, t\n", "observe p, w, y, o, τ, σ, t, R\n")
    p = tmp_path / "bad.econ"
    p.write_text(bad, encoding="utf-8")
    monkeypatch.setattr(checks, "CHECKS", [c for c in checks.CHECKS if c is not checks.check_timing])
    r = check_model(p)
    with pytest.raises(EconError) as err:
        lower(r)
    assert "E403" in str(err.value) and "it is not known here" in str(err.value)
