"""Hostile names and strings in a .econ file cannot execute code or break the generated source.

Generated modules use mangled identifiers only; user names appear only in ASCII-escaped comments, so
the token stream of the generated code never contains a user name, and the module still runs.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from econdsl.compiler.backends.torch_printer import print_program

import econdsl
from econdsl.cli import main
from econdsl.language import EconError

HOSTILE = '''
model __import__
horizon 2
const exec = 2
const eval = 0.5
agent os[3] index getattr
    param __builtins__ = [1, 2, 3]
    state system = 1
    state globals = 0
    action open in {0, 1}
    observe system[getattr], __builtins__[getattr], globals[getattr]
    reward compile[getattr]
end
agent subprocess
    state breakpoint = 0
    action (import, rm) in {0, 1} × {1, 2}
    observe breakpoint
    reward breakpoint
end
step
    compile[getattr] = system[getattr] * exec + __builtins__[getattr] * open[getattr] - eval
    lambda = sum(compile[getattr] for getattr in os)
    next system[getattr] = system[getattr] + open[getattr]
    next globals[getattr] = lambda
    next breakpoint = breakpoint + import + rm
end
end
'''

ALLOWED = {"import", "math", "torch", "def", "make", "DEV", "DT", "return", "E", "S", "A", "T", "K", "U",
           "init", "step", "observe", "step_observe", "observe_split", "step_observe_split", "R", "None", "True",
           "False", "dtype", "device", "min", "max",
           "dim", "rounding_mode", "values", "nn", "functional", "one_hot", "expand", "reshape", "contiguous", "to",
           "sum", "prod", "mean", "amin", "amax", "where", "full", "zeros", "tensor", "arange", "einsum",
           "gather", "scatter_add_", "squeeze", "permute", "shape", "cat", "exp", "log", "sqrt", "abs", "floor",
           "ceil", "pow", "special", "ndtri", "div", "clamp", "minimum", "maximum", "long", "float32", "float64",
           "int64", "bool", "full_like", "inf", "nan", "floats",
           # draws inside the step: the rng words W and the fixed `_random` helper (philox.py)
           "W", "from", "econdsl", "compiler", "philox", "philox_torch", "uniform_torch", "_random", "site", "member",
           "w", "x0", "x1", "_"}


def names_in_code(src: str) -> set[str]:
    return {tok.string for tok in tokenize.generate_tokens(io.StringIO(src).readline) if tok.type == tokenize.NAME}


@pytest.fixture
def hostile(tmp_path):
    p = tmp_path / "evil\u2028name'; import os #.econ"
    p.write_text(HOSTILE, encoding="utf-8")
    return p


def test_hostile_names_never_reach_code(hostile):
    model = econdsl.load(hostile)
    src = print_program(model.program)
    compile(src, "<generated>", "exec")  # the module is valid Python
    used = names_in_code(src)
    unexpected = {n for n in used if not (n in ALLOWED or n[0] in "vCgA" and n[1:].isdigit()
                                          or n.startswith("AF") and n[2:].isdigit())}
    assert not unexpected, unexpected
    for line in src.splitlines():
        assert line.isascii()
    # and it runs, giving the reference's numbers
    env = model.env(2, dtype=torch.float64)
    ref = model.env(2, backend="reference", dtype=torch.float64)
    acts = env.random_actions(torch.Generator().manual_seed(0))
    _, r, _, _ = env.step(acts)
    _, r_ref, _, _ = ref.step(acts)
    for a in r:
        assert torch.allclose(r[a], r_ref[a])
    assert env.state["lambda"].shape == (2,)


def test_strings_are_rejected_not_run(tmp_path):
    p = tmp_path / "strings.econ"
    p.write_text(HOSTILE.replace("reward breakpoint", 'reward "__import__(\'os\').system(\'false\')"'),
                 encoding="utf-8")
    with pytest.raises(EconError) as err:
        econdsl.load(p)
    assert "string" in str(err.value)


def test_cli_compile_writes_sources_with_source_comments(hostile, tmp_path):
    out = tmp_path / "gen"
    res = CliRunner().invoke(main, ["compile", str(hostile), "--backend", "torch", "-o", str(out)])
    assert res.exit_code == 0, res.output
    files = list(out.iterdir())
    assert len(files) == 1 and files[0].name == "__import___torch.py"
    text = files[0].read_text()
    assert "evil\\u2028name'; import os #.econ:" in text  # escaped, inside comments only
    for ln in text.splitlines():
        if "import os" in ln:
            assert 0 <= ln.find("#") < ln.find("import os"), ln
    assert "os" not in names_in_code(text)  # the name `os` only ever appears inside comments


def test_cli_compile_emit_ir():
    path = Path(__file__).resolve().parents[2] / "models" / "rbc_open.econ"
    res = CliRunner().invoke(main, ["compile", str(path), "--emit", "ir"])
    assert res.exit_code == 0, res.output
    assert "function step:" in res.output and "reduce(" in res.output and "gather(" in res.output
    line = next(k for k, s in enumerate(path.read_text().splitlines(), 1) if s.strip().startswith("L[i] ="))
    assert f"models/rbc_open.econ:{line}" in res.output  # L[i], the masked sum, names its line
    bad = CliRunner().invoke(main, ["compile", str(path), "--emit", "ir", "--set", "nope=1"])
    assert bad.exit_code == 1 and "E205" in bad.output
