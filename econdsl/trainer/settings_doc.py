"""Every training setting with its default, its range and its meaning, read from :class:`TrainConfig` itself
(the field docstrings, the defaults, ``CHOICES`` and ``LIMITS``), so that ``econdsl settings``,
``econdsl train --help`` and docs/language.md cannot drift from the code."""

from __future__ import annotations

import ast
import functools
import inspect
import math
import textwrap
from dataclasses import MISSING, dataclass, fields


@dataclass(frozen=True)
class SettingDoc:
    name: str
    default: str
    range: str
    meaning: str
    per_type: bool


@functools.cache
def _docstrings() -> dict[str, str]:
    from .config import TrainConfig

    tree = ast.parse(textwrap.dedent(inspect.getsource(TrainConfig)))
    body = tree.body[0].body
    out = {}
    for stmt, nxt in zip(body, body[1:], strict=False):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            out[stmt.target.id] = " ".join(nxt.value.value.split()).replace("``", "`")
    return out


def _num(x: float) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _range(name: str) -> str:
    from . import config

    if name in config.CHOICES:
        return " | ".join(config.CHOICES[name])
    if name in config._BOOL:
        return "true | false"
    if name == "hidden":
        return f"1-{config.MAX_HIDDEN_LAYERS} widths of 1-{config.MAX_HIDDEN_WIDTH:,}"
    if name in config.LIMITS:
        lo, hi, open_lo = config.LIMITS[name]
        if math.isinf(lo) and math.isinf(hi):
            return "any number"
        low = f"> {_num(lo)}" if open_lo else f"≥ {_num(lo)}"
        return low if math.isinf(hi) else f"{_num(lo)}-{_num(hi)}" if not open_lo else f"{low}, ≤ {_num(hi)}"
    if name == "digits":
        return "names of observed states"
    if name == "entropy_exclude":
        return "names of actions"
    return "any"


def _default(f) -> str:
    v = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, tuple):
        return "[" + ", ".join(str(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    return f"{v:g}" if isinstance(v, float) else str(v)


def settings() -> list[SettingDoc]:
    """One entry per setting, in the dataclass's order."""
    from .config import PER_TYPE, TrainConfig

    docs = _docstrings()
    return [SettingDoc(f.name, _default(f), _range(f.name), docs.get(f.name, ""), f.name in PER_TYPE)
            for f in fields(TrainConfig) if f.name != "per_type"]


def settings_text(width: int = 80) -> str:
    """A plain-text table that fits ``width`` columns: name, default and range on one line, the meaning
    indented under it."""
    lines = []
    for s in settings():
        head = f"{s.name}{'[Type]' if s.per_type else ''}  default {s.default}  range {s.range}"
        lines.append(head)
        lines += textwrap.wrap(s.meaning, width, initial_indent="    ", subsequent_indent="    ")
    lines += ["[Type]: may also be set for one agent type (lr[Government] = 5e-5)."]
    return "\n".join(lines)


def settings_markdown() -> str:
    rows = ["| setting | default | range | meaning |", "|---|---|---|---|"]
    for s in settings():
        rows.append(f"| `{s.name}`{' (per type)' if s.per_type else ''} | `{s.default}` | {s.range} | "
                    f"{s.meaning.replace('|', '/')} |")
    return "\n".join(rows)
