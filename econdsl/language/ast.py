"""The econdsl abstract syntax tree.

Plain frozen dataclasses. Every node carries a source ``span`` that is excluded from equality, so that
``parse(print(tree)) == tree`` compares structure only. Operators are stored in one canonical spelling
(``&&``, ``||``, ``!``, ``<=``, ``>=``, ``!=``, ``in``) whatever the source used (``∧``, ``and``, ``≤`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, ``end_col`` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Span("<builtin>", 0, 0, 0, 0)


def _span() -> Any:
    return field(default=NOWHERE, compare=False, repr=False, kw_only=True)


class Node:
    """Base class: children are the dataclass fields that hold nodes or tuples of nodes."""

    span: Span

    def children(self) -> list[Node]:
        out: list[Node] = []
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, Node):
                out.append(v)
            elif isinstance(v, tuple):
                out.extend(x for x in v if isinstance(x, Node))
        return out

    def walk(self):
        """Yield this node and all nodes below it, depth first, in source order."""
        yield self
        for c in self.children():
            yield from c.walk()


# ---------------------------------------------------------------- expressions


class Expr(Node):
    pass


@dataclass(frozen=True)
class Num(Expr):
    value: float
    text: str = field(compare=False, default="")
    span: Span = _span()


@dataclass(frozen=True)
class Str(Expr):
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Inf(Expr):
    span: Span = _span()


@dataclass(frozen=True)
class Name(Expr):
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Index(Expr):
    """``base[i, j]``: a population-indexed quantity at given indices."""

    base: str
    indices: tuple[Expr, ...]
    span: Span = _span()
    base_span: Span = _span()


@dataclass(frozen=True)
class Call(Expr):
    """``f(a, b; p)``: ``params`` are the arguments after ``;`` (function parameters, not inputs)."""

    func: str
    args: tuple[Expr, ...]
    params: tuple[Expr, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Reduce(Expr):
    """``op(body for var in population if cond)`` with op one of sum, mean, prod, min, max."""

    op: str
    body: Expr
    var: str
    over: str
    cond: Expr | None = None
    span: Span = _span()
    over_span: Span = _span()


@dataclass(frozen=True)
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class UnOp(Expr):
    op: str  # "-", "+", "!"
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Ternary(Expr):
    cond: Expr
    then: Expr
    other: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Array(Expr):
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Colon(Expr):
    """``:`` as an index: the whole axis (``P[e[j], :]``, a row of a matrix, in ``Categorical``)."""

    span: Span = _span()


@dataclass(frozen=True)
class Draw(Expr):
    """``x[j] ~ Normal(0, σ)``: a fresh draw every step (the right-hand side of a ``~`` equation)."""

    dist: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Matrix(Expr):
    """``[a b; c d]``: a matrix literal, row by row (the value of a ``const``)."""

    rows: tuple[tuple[Expr, ...], ...]
    span: Span = _span()

    def children(self) -> list[Node]:
        return [x for row in self.rows for x in row]


# ---------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit(Node):
    """A unit as a product of named base units with integer powers; empty means dimensionless."""

    factors: tuple[tuple[str, int], ...]
    span: Span = _span()


# ---------------------------------------------------------------- declarations


class Decl(Node):
    name: str


@dataclass(frozen=True)
class Bounds(Node):
    lo: Expr
    hi: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Horizon(Decl):
    value: Expr
    name: str = "horizon"
    span: Span = _span()


@dataclass(frozen=True)
class Const(Decl):
    name: str
    unit: Unit | None
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Param(Decl):
    """``param x = expr`` (scalar, array literal or formula of the agent index) or ``param x ~ Dist(...)``."""

    name: str
    unit: Unit | None
    bounds: Bounds | None
    value: Expr | None = None
    dist: Call | None = None
    span: Span = _span()


@dataclass(frozen=True)
class State(Decl):
    """``state x = init``, optionally ``in [lo, hi]`` (bounds), ``in lo:hi`` (an integer-valued state,
    ``domain`` a :class:`GridRange`) or ``in Pop`` (a state that holds a member of Pop, ``domain`` a
    :class:`GridPopulation`)."""

    name: str
    unit: Unit | None
    init: Expr
    bounds: Bounds | None = None
    domain: Node | None = None
    span: Span = _span()


@dataclass(frozen=True)
class GridSet(Node):
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class GridRange(Node):
    """``start:stop`` or ``start:step:stop``, inclusive of stop (Julia)."""

    start: Expr
    step: Expr | None
    stop: Expr
    span: Span = _span()


@dataclass(frozen=True)
class GridPopulation(Node):
    """``∈ Firm``: the action chooses a member of another population."""

    population: str
    span: Span = _span()


@dataclass(frozen=True)
class GridInterval(Node):
    """``∈ [lo, hi]``: a continuous action (accepted by the language, not yet by the trainer)."""

    lo: Expr
    hi: Expr
    span: Span = _span()


Grid = GridSet | GridRange | GridPopulation | GridInterval


@dataclass(frozen=True)
class Action(Decl):
    """An action head. ``names`` has one entry, or several for a joint product ``(a, b) ∈ X × Y``.

    ``per`` names a population when the agent has one head per member of it (``demand[Firm] ∈ 0:10``).
    """

    names: tuple[str, ...]
    per: str | None
    grids: tuple[Grid, ...]
    unit: Unit | None = None  # optional, e.g. `action hours::hours in {0, 260}`; shared by joint components
    units: tuple[Unit | None, ...] = ()  # per component of a joint head, `(price::money/goods, wage)`; () if none
    span: Span = _span()

    def unit_of(self, k: int) -> Unit | None:
        """The unit of component ``k``: its own, else the one shared by the head."""
        return self.units[k] if k < len(self.units) and self.units[k] is not None else self.unit

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.names[0] if len(self.names) == 1 else "(" + ", ".join(self.names) + ")"


@dataclass(frozen=True)
class Observe(Decl):
    items: tuple[Expr, ...]
    name: str = "observe"
    span: Span = _span()


@dataclass(frozen=True)
class Reward(Decl):
    value: Expr
    name: str = "reward"
    span: Span = _span()


@dataclass(frozen=True)
class FParam(Node):
    name: str
    unit: Unit | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Function(Decl):
    """``utility u(c) = ...``; ``kind`` is function, utility or production; ``params`` follow ``;``."""

    kind: str
    name: str
    inputs: tuple[FParam, ...]
    params: tuple[FParam, ...]
    unit: Unit | None
    body: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Agent(Node):
    name: str
    size: Expr | None
    index: str | None
    decls: tuple[Decl, ...]
    span: Span = _span()
    name_span: Span = _span()
    # further index names of the population (`index j, k`): both range over it in step equations, so that
    # `x[j, k] = ...` is a pairwise quantity; inside the agent block only `index` is bound
    more_indices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Equation(Node):
    """``name[i, j] = expr`` in the step section; ``is_next`` for a state transition ``next x = ...``.

    ``name[i] ~ Dist(...)`` (a draw) has a :class:`Draw` value."""

    name: str
    indices: tuple[str, ...]
    value: Expr
    is_next: bool = False
    span: Span = _span()
    target_span: Span = _span()
    stage: str = ""  # the stage the equation runs in ("" without stages)


@dataclass(frozen=True)
class Stage(Node):
    """``stage name: A, B`` in the step section: the agent types that act in this stage of the period."""

    name: str
    agents: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Step(Node):
    """The step section. In a variant, ``place`` = ("before" | "after", equation name) puts its equations
    next to an equation of the base model (a transition is named ``next x``); None appends them. With
    ``stages``, each equation belongs to one (``Equation.stage``); equations written before the first
    ``stage`` line belong to the first stage."""

    equations: tuple[Equation, ...]
    span: Span = _span()
    place: tuple[str, str] | None = None
    stages: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class External(Node):
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Accounting(Node):
    externals: tuple[External, ...]
    span: Span = _span()


# ---------------------------------------------------------------- curriculum and training


@dataclass(frozen=True)
class TrainFrom(Node):
    agent: str
    start: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Anneal(Node):
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Allow(Node):
    agent: str
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Entropy(Node):
    agent: str | None
    value: Expr
    span: Span = _span()


CurriculumItem = Const | TrainFrom | Anneal | Allow | Entropy


@dataclass(frozen=True)
class Curriculum(Node):
    items: tuple[CurriculumItem, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Setting(Node):
    name: str
    agent: str | None
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Preset(Node):
    name: str
    settings: tuple[Setting, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Train(Node):
    settings: tuple[Setting, ...]
    presets: tuple[Preset, ...]
    span: Span = _span()


# ---------------------------------------------------------------- variants and the model


@dataclass(frozen=True)
class SetValue(Node):
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Replace(Node):
    item: Decl | Equation
    span: Span = _span()


@dataclass(frozen=True)
class Remove(Node):
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Import(Node):
    path: str
    span: Span = _span()


Item = Decl | Agent | Step | Accounting | Curriculum | Train | SetValue | Replace | Remove


@dataclass(frozen=True)
class Model(Node):
    name: str
    extends: str | None
    imports: tuple[Import, ...]
    items: tuple[Item, ...]
    span: Span = _span()
    source: str = field(default="", compare=False, repr=False)


def to_json(node: object) -> object:
    """A JSON-ready form of an AST (``econdsl check --emit ast``): ``{"node": type, fields..., "span"}``."""
    if isinstance(node, Span):
        return str(node) if node is not NOWHERE else None
    if isinstance(node, Node):
        out: dict[str, object] = {"node": type(node).__name__}
        for f in fields(node):  # type: ignore[arg-type]
            if f.name == "source":
                continue
            out[f.name] = to_json(getattr(node, f.name))
        return out
    if isinstance(node, tuple | list):
        return [to_json(x) for x in node]
    if isinstance(node, float) and node in (float("inf"), float("-inf")):
        return str(node)
    return node
