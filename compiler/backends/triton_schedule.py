"""Place a kernel's statements around loops over blocks of one population (the *tiled axis*).

The Triton printer (``triton_printer.py``) writes one statement per IR op into a list of :class:`Stmt`.
Without a tiled axis the statements are printed in order. With one (``T``, a population too large for one
register tile), every value that varies along ``T`` exists only one block of ``BT`` members at a time, inside
a loop ``for j0 in range(0, n_T, BT)``; values that do not vary along ``T`` live outside the loops.

- A statement is *tiled* when it reads the block's indices (``ixT``, ``mxT``) or a tiled value.
- A reduction over ``T`` (and a gather along ``T``, a compare-and-reduce) is an *accumulator*: started
  before a loop, combined with each block's in-program reduction inside it, final after it. A value that
  depends on an accumulator can only be computed after that loop: its *level* is one more than the loop's.
- Levels: an accumulator's result has the level of its block expression plus one; every other value the
  largest level of what it reads. Level ``L`` prints the values of level ``L`` that do not vary along ``T``,
  then (if it has any) loop ``L``: the tiled stores and accumulators of level ``L`` and the tiled values
  they read, of level ``L`` or, recomputed, of lower levels (the rbc_open step: the firms' total demand
  accumulated in loop 0; demand recomputed in loop 1 for the rationed consumption that needs that total).
  Tiled values are never kept across loops, so a program's registers are bounded by the block, not by the
  population, at the price of recomputing (and reloading) what several loops read.
- Statements guarded by a constexpr flag (``WRITE_Q``) are grouped under one ``if`` where adjacent.

Dependencies are read from the statements' code: every kernel variable the printer makes is a mangled
``x<n>`` (values), ``ix<k>``/``mx<k>`` (axis indices and masks), so the identifiers found are exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DEFINES = re.compile(r"^(x\d+(?:, x\d+)*) = ")
_NAMES = re.compile(r"\b(x\d+|ix\d+|mx\d+)\b")


@dataclass
class Stmt:
    """One statement of a kernel body: ``lines`` (relative indentation, the first line's comment included)."""

    lines: list[str]
    defines: tuple[str, ...] = ()
    reads: frozenset[str] = frozenset()
    guard: str | None = None  # a constexpr flag the statement runs under
    start: str | None = None  # an accumulator's initial value (before the loop); the statement combines a block
    level: int = 0
    tiled: bool = False


def statement(code: str, comment: str = "", guard: str | None = None, more: tuple[str, ...] = (),
              start: str | None = None) -> Stmt:
    """A statement from its code (``more``: further lines, e.g. a static loop's body)."""
    m = _DEFINES.match(code)
    defines = tuple(m.group(1).split(", ")) if m else ()
    body = code[m.end():] if m else code
    reads = {n for text in (body, *more) for n in _NAMES.findall(text)}
    first = code + (f"  # {comment}" if comment else "")
    return Stmt([first, *more], defines, frozenset(reads), guard, start)


@dataclass
class Loop:
    """The tiled axis: its index/mask names, its size and the block constexpr."""

    index: str
    mask: str
    size: int
    slicing: str  # how ``tl.arange(0, BT)`` is placed on its tensor axis, e.g. ``[None, :, None]``
    what: str  # comment


def _grouped(stmts: list[Stmt], indent: str) -> list[str]:
    out: list[str] = []
    guard = None
    for s in stmts:
        if s.guard != guard:
            guard = s.guard
            if guard:
                out.append(f"{indent}if {guard}:")
        pad = indent + ("    " if s.guard else "")
        out.extend(pad + line for line in s.lines)
    return out


def _levels(stmts: list[Stmt], loop: Loop | None) -> None:
    level: dict[str, int] = {}
    tiled: set[str] = {loop.index, loop.mask} if loop else set()
    for s in stmts:
        reads = s.reads - set(s.defines) if s.start is not None else s.reads
        s.level = max((level.get(n, 0) for n in reads), default=0)
        s.tiled = s.start is not None or any(n in tiled for n in reads)
        for d in s.defines:
            if s.start is not None:
                level[d] = s.level + 1  # complete only after the loop that accumulates it
            else:
                level[d] = s.level
                if s.tiled:
                    tiled.add(d)


def schedule(stmts: list[Stmt], loop: Loop | None, indent: str = "    ") -> list[str]:
    """The kernel body's lines (see the module docstring)."""
    if loop is None:
        if any(s.start is not None for s in stmts):
            raise ValueError("an accumulator needs a tiled axis")
        return _grouped(stmts, indent)
    _levels(stmts, loop)
    out: list[str] = []
    for lv in range(max((s.level for s in stmts), default=0) + 1):
        out += _grouped([s for s in stmts if s.level == lv and not s.tiled], indent)
        body: list[Stmt] = []
        needed: set[str] = set()
        for s in reversed(stmts):
            # the loop's roots are its stores and accumulators; tiled values are computed where needed
            root = s.tiled and s.level == lv and (s.start is not None or not s.defines)
            value = s.tiled and s.start is None and s.level <= lv and needed.intersection(s.defines)
            if root or value:
                body.append(s)
                needed |= s.reads
        if not body:
            continue
        body.reverse()
        inner = indent + "    "
        out += [f"{indent}{s.defines[0]} = {s.start}  # accumulator" for s in body if s.start is not None]
        out.append(f"{indent}for j0 in range(0, {loop.size}, BT):  # {loop.what}, pass {lv}")
        out.append(f"{inner}{loop.index} = j0 + tl.arange(0, BT){loop.slicing}")
        out.append(f"{inner}{loop.mask} = {loop.index} < {loop.size}")
        out += _grouped(body, inner)
    return out
