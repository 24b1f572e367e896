"""econdsl: a declarative language for many-agent economies, compiled to PyTorch and Triton.

Public API: ``econdsl.load(path, overrides=None) -> Model``; ``Model.env(n_envs, …) -> Env``
(see :mod:`econdsl.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime.model import Model

__all__ = ["load"]


def load(path: Any, overrides: Any = None) -> Model:
    """Load, check and lower a ``.econ`` model (see :func:`econdsl.runtime.model.load`)."""
    from .runtime.model import load as _load

    return _load(path, overrides)
