"""``econdsl.load``: a checked, lowered model, ready to make vectorised environments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..compiler.ir import Program
from ..compiler.lower import lower
from ..compiler.optimize import drop_outputs, optimize
from ..compiler.verify import verify
from ..language import ast
from ..language.checks import run_checks
from ..language.diagnostics import Diagnostics, EconError
from ..language.resolve import Resolved, apply_variant, load_ast, resolve

Override = float | int | bool | list | tuple


def _literal(value: Override, span: ast.Span) -> ast.Expr:
    if isinstance(value, (list, tuple)):
        return ast.Array(tuple(_literal(v, span) for v in value), span=span)
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, (int, float)):
        raise TypeError(f"override values must be numbers or lists of numbers, not {type(value).__name__}")
    v = float(value)
    if v < 0:
        return ast.UnOp("-", ast.Num(-v, repr(-v), span=span), span=span)
    return ast.Num(v, repr(v), span=span)


def check_with_overrides(path: str | Path, overrides: Mapping[str, Override] | None = None) -> Resolved:
    """Parse, apply ``overrides`` as ``set name = value`` items, resolve and check; raise EconError."""
    path = str(path)
    diags = Diagnostics()
    flat = load_ast(path, diags)
    if flat is not None and overrides:
        span = ast.Span("<overrides>", 0, 0, 0, 0)
        items = tuple(ast.SetValue(str(name), _literal(v, span), span=span) for name, v in overrides.items())
        variant = ast.Model(flat.name, flat.name, (), items, span=flat.span, source=flat.source)
        flat = replace(apply_variant(flat, variant, diags), name=flat.name)
    if flat is None or diags.has_errors():
        raise EconError(diags)
    resolved = resolve(flat, diags, path)
    if not diags.has_errors():
        run_checks(resolved, diags)
    if diags.has_errors():
        raise EconError(diags)
    return resolved




class Model:
    """A checked and compiled-to-IR model. Make environments with :meth:`env`.

    Attributes: ``resolved`` (the front end's :class:`Resolved`), ``program`` (the optimised IR,
    including accounting externals), ``path``, ``overrides``.
    """

    def __init__(self, path: str | Path, overrides: Mapping[str, Override] | None = None):
        self.path = str(path)
        self.overrides = dict(overrides or {})
        self.resolved: Resolved = check_with_overrides(path, overrides)
        program = optimize(lower(self.resolved))
        verify(program)
        self.program: Program = program
        self._lean: dict[str, Program] = {}

    @property
    def name(self) -> str:
        return self.program.model

    def lean_program(self, accounting: bool = False, quantities: bool = False) -> Program:
        """The hot-path program: no named step quantities unless ``quantities`` (otherwise ``Env.state``
        computes them lazily) and no accounting externals unless ``accounting``."""
        drop = ({"external"} - ({"external"} if accounting else set())) | (set() if quantities else {"quantity"})
        key = ",".join(sorted(drop))
        if key not in self._lean:
            prog = drop_outputs(self.program, drop)
            verify(prog)
            self._lean[key] = prog
        return self._lean[key]

    def env(self, n_envs: int, backend: str = "torch", device: str | torch.device = "cpu",
            dtype: torch.dtype = torch.float32, seed: int = 0, **opts: Any):
        """A vectorised environment of ``n_envs`` replicas (see :class:`econdsl.runtime.env.Env`).

        Options: ``compile=True`` (torch backend: wrap the step in ``torch.compile``),
        ``accounting=True`` (also compute the ``accounting`` externals each step, in ``info``),
        ``final_obs=True`` (``info["final_obs"]`` holds the last observation of ending episodes).
        ``quantities=True`` (every step also computes the named step quantities that ``Env.state`` shows),
        ``split_obs=True`` (observations as ``(shared, own)`` per type: the global state once per replica).
        """
        from .env import Env

        return Env(self, n_envs, backend=backend, device=device, dtype=dtype, seed=seed, **opts)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, path={self.path!r})"


def load(path: str | Path, overrides: Mapping[str, Override] | None = None) -> Model:
    """Load, check and lower a ``.econ`` model.

    ``overrides`` maps constant, parameter or curriculum-constant names to new values (a number, or a
    list with one number per member for a parameter), applied like ``set name = value`` in a variant.
    Raises :class:`econdsl.language.EconError` carrying every diagnostic if the model has errors.
    """
    return Model(path, overrides)
