"""The econdsl IR: one small, typed, SSA list of vectorized operations over index spaces.

A checked model (:class:`econdsl.language.resolve.Resolved`) is lowered (``lower.py``) to a
:class:`Program` of three :class:`Function`\\ s:

- ``init``    (uniform draws, runtime constants) → every parameter and every initial state;
- ``step``    (states, params, actions, ``t``, runtime constants, random words) → next states, rewards,
  named step quantities and accounting externals;
- ``observe`` (states, params, ``t``, runtime constants; with stages, the actions of the period so far)
  → one observation block per agent type.

**Stages.** ``Program.stages`` (empty, or ``(name, agent types)`` in order) splits a period: the agent
types of stage k act after observing the actions (and step quantities, recomputed in ``observe``) of
stages < k. Only then may ``observe`` contain ``action`` ops, and the observation of an agent type of
stage k depends only on actions of agent types of earlier stages (``verify.py`` checks it). A caller
observes stage k's agent types with the actions of stages < k (other actions may be anything, e.g.
zeros: no row of stage k reads them); ``step`` then runs once with every stage's actions.

The contract (what every backend must implement; ``verify.py`` checks the structural part)
---------------------------------------------------------------------------------------------------
**Shapes.** Every value has ``dims``: a tuple of *axes*. An axis is a population in a role: the
population's name for its first role (``"Firm"``), ``"Firm~1"``, ``"Firm~2"`` … for further roles
(:func:`axis`, :func:`population`, :func:`role`). Roles let one value vary twice over one population:
in ``sum(v[k] for k in W if v[k] < v[j])`` the condition has dims ``("W", "W~1")`` (``j`` on ``W``, ``k`` on
``W~1``), a pairwise quantity ``x[j, k]`` with j, k in W has dims ``("W", "W~1")``. Dims are always in
the canonical order: populations in ``Program.populations`` order (agent declaration order), the roles
of one population in increasing order (:func:`canonical`); an axis appears at most once. ``()`` is a
per-replica scalar, ``("Firm",)`` one value per firm, ``("Consumer", "Firm")`` one per pair. An axis
has the size of its population (``Program.size``). Singleton populations (``agent Government`` without
a size) never appear in dims. A backend adds a leading replica (env) dimension: dims
``("Consumer", "Firm")`` is a tensor ``[n_envs, 100, 10]``. Buffers (states, parameters), rewards,
observations and the agent axis of actions are over first roles; the ``per`` axis of a per-member
action head over the agent's own population is its second role (:func:`per_axis`).

**Dtypes.** ``"f"`` real (the program's float dtype: float32 or float64), ``"b"`` boolean, ``"i"``
integer (a member index of some population, or an integer constant), always of magnitude below
:data:`INT_LIMIT` = 2^31 (Triton computes "i" in int32, torch in int64): a whole number beyond it is an
``"f"`` constant, and a state declared ``in lo:hi`` with a range beyond :data:`FLOAT32_WHOLE` = ±2^24 (the
whole numbers a float32 buffer holds exactly) is read as ``"f"``, never through ``int``.
Arithmetic ops (add … ceil) take ``"f"`` arguments only (the lowering inserts ``float`` casts);
comparisons take two arguments of the same dtype (``"f"`` or ``"i"``); ``and``/``or``/``not`` take
``"b"``; ``where(c, a, b)`` takes a ``"b"`` condition and ``a``, ``b`` of one dtype.

**Broadcasting.** Elementwise ops broadcast by dimension *name*: the result dims are the union of the
arguments' dims, in canonical order. A backend aligns each argument by inserting size-1 axes for the
missing dims.

**SSA.** Each :class:`Op` defines a fresh name ``out`` (``v0``, ``v1`` …, never a user name); args refer
to earlier ops of the same function. Ops are in a valid execution order.

**Op kinds** (``Op.kind``; attributes in ``Op.attrs``, read them with ``op.attr(key)``):

``const``      attrs ``value``: a float (dims ``()``), or a tuple of floats, one per member of the
               population in ``dims`` (an array literal; dims ``(pop,)``). dtype ``"f"``, ``"i"`` for
               integer values used as indices, or ``"b"`` (value 0.0 or 1.0).
``input``      attrs ``source``, ``name``. Reads a function input:
               - ``source="state"`` / ``"param"``: the buffer ``name`` (dims = ``Buffer.dims``, dtype "f");
               - ``source="runtime_const"``: the runtime constant ``name`` (dims ``()``), a scalar the
                 environment can change between steps (curriculum ``anneal``);
               - ``source="time"``: ``t``, the 0-based step within the episode (dims ``()``, dtype "f",
                 one value per replica);
               - ``source="uniform"``: only in ``init``; the uniform(0,1) draws of the stream ``name``
                 (``Program.uniforms[name]`` gives its dims), supplied by the runtime in float64.
``action``     attrs ``agent``, ``column``, ``per``, ``stride``, ``size``, ``table`` (tuple of floats).
               dims = canonical((the agent's population, unless singleton) + (``per_axis(agent, per)``,)
               if ``per`` is set): the per axis is ``per`` itself, or its second role when ``per`` is the
               agent's own population. With ``a`` = the agent's integer action tensor
               ``[n_envs, n_agents, n_columns]``, member ``m`` of the agent's population and member ``k``
               along the per axis (k = 0 if no ``per``):
               ``value = table[(a[env, m, column + k] // stride) % size]``.
               dtype "i" when the head chooses a population member (``table`` is then 0..n-1), else "f".
               (A joint head ``(price, wage) ∈ P × W`` has index ``|W|·price_idx + wage_idx``: row-major,
               last component fastest; each component is one ``action`` op with its own stride.)
               **Continuous heads** (``action s in [lo, hi]``): attrs ``agent``, ``column``, ``per`` and
               ``real`` = True (no ``stride``/``size``/``table``); dtype "f", dims as above. With ``r`` =
               the agent's *real* action tensor ``[n_envs, n_agents, n_real_columns]`` (real values, in
               the action's unit; the caller keeps them inside ``Head.bounds``),
               ``value = r[env, m, column + k]``. Discrete and continuous heads number their columns
               separately: a continuous head's ``column`` indexes the real tensor, and component c of a
               joint continuous head ``(h, s) ∈ [..] × [..]`` has its own column block
               (``Head.column + c · n_members_of_per``).
``iota``       attrs ``dim``. The member index 0..n-1 along ``dim``; dims ``(dim,)``, dtype "i".
``relabel``    attrs ``axes``: a tuple of ``(from, to)`` pairs, args ``(x,)``. Renames axes of x: each
               ``from`` is an axis of x, ``to`` an axis of the same population; the ``to`` axes are
               distinct and none is an axis of x that is not renamed. Result dims = x's dims with each
               ``from`` replaced by its ``to``, in canonical order; the value at a point is x at the point
               whose ``from`` coordinate is the point's ``to`` coordinate (``v[k]`` with ``k`` on ``W~1``
               is ``relabel(v, ((W, W~1),))``; a swap ``((W, W~1), (W~1, W))`` transposes).
elementwise    kinds in :data:`ELEMENTWISE` with the listed arity and result dtype. ``pow`` is real
               power (an overflowing odd whole power of a negative base is -inf), ``div`` true division,
               ``where(c, a, b)`` selects ``a`` where ``c``; ``float`` casts "b"/"i" to "f" (True → 1.0);
               ``ndtri`` is the inverse standard normal CDF.
               ``int`` turns an "f" value that holds a whole number (a state declared ``in lo:hi`` or ``in
               Pop``, a category drawn) into an "i" value. attrs ``lo``, ``hi``: the whole numbers the argument
               is known to lie in (the checker proves it: E311), both inside (-INT_LIMIT, INT_LIMIT) (the
               verifier checks it).
               The value is total all the same, identical on every backend (:func:`int_value`): ``floor(x)``
               saturated into ``[-INT_MAX, INT_MAX]``, NaN → 0.
``broadcast``  args ``(x,)``; the result has the op's ``dims`` (a superset of x's): x repeated.
``reduce``     attrs ``op`` (one of :data:`REDUCTIONS`), ``dim``. args ``(x,)`` or ``(x, mask)``; x and
               mask ("b") are broadcast to the union of their dims, which must contain ``dim``; the
               result has that union minus ``dim``. With a mask, only members where it is true count.
               Empty sets give: sum 0, prod 1, min +inf, max -inf, mean 0. A NaN member makes min and max
               NaN (as torch's amin/amax; GPU min/max instructions drop NaN, so a backend must not).
``random``     attrs ``site`` (an int, unique in the program). No args; dims = the dims of the draw; dtype
               "f"; only in ``step``. A fresh uniform(0, 1) number per replica and point, a pure function of
               the step's per-replica random words ``rng[e] = (k0, k1, counter, replica)`` (the runtime's
               seed, step counter and replica index): ``u = uniform(philox4x32_10(key=(k0, k1),
               counter=(member, site, counter, replica)))`` with ``member`` the row-major index of the point
               within ``dims``. The exact bit recipe is in ``philox.py``; every backend gives the same
               float64 uniform, and float32 programs its float32 rounding kept below 1.
``lookup``     attrs ``table`` (tuple of floats, row-major), ``shape`` (tuple of ints, one per index).
               args: one "i" index per entry of ``shape``; dims = the union of the indices' dims, dtype
               "f". The value at a point is ``table[i0, i1, …]`` (a vector or matrix constant indexed by
               whole-number values, ``z[e[j]]``); each index is clamped into ``0 .. shape[k] - 1``.
``gather``     attrs ``dim``. args ``(src, index)``; ``index`` has dtype "i" and does not have ``dim``
               (to index a value by a member of its own population, relabel ``src`` first);
               ``src`` has ``dim``. Result dims = (src.dims minus ``dim``) ∪ index.dims; the value at a
               point is ``src`` at member ``index`` along ``dim`` (``w[employer[j]]``). Indices are
               always in range for well-formed actions; backends may clamp.

**Outputs** (:class:`Output`, in ``Function.outputs``):

- ``init``: kind ``"param"`` and ``"state"``, one per buffer (``name`` = the buffer).
- ``step``: kind ``"state"`` for every state with a transition (dims = the buffer's dims, dtype "f";
  states without one keep their value), ``"reward"`` one per agent type (``name`` = agent type;
  dims = the agent's population or ``()``), ``"quantity"`` one per named step quantity (``name`` = its
  ``.econ`` name, any dtype), ``"external"`` one per ``accounting`` external (dims ``()``).
- ``observe``: kind ``"obs"``, one per observed item, in order, grouped by agent type (``name`` =
  agent type). The agent's observation row is the concatenation of its items. For an item whose value
  has dims D, ``Output.features`` ⊆ D are its feature axes, flattened row-major in canonical order
  (``p`` observed by a firm: D = features = ``("Firm",)``, all 10 prices in every firm's row); the
  other dims of D (at most the agent's own population) are aligned with the row: member m reads the
  value at m (``B_f[i]``: D = ``("Firm",)``, features ``()``). A value without the agent's population
  is the same for every member. ``onehot > 0`` means the item is ``onehot(value)`` with ``onehot``
  feature columns (value is an "i" value, features ``()``). ``labels`` names each feature column, so
  ``len(labels)`` = product of the feature sizes (or ``onehot``).

**Actions at run time.** ``step`` reads, per agent type, the integer tensor of its discrete heads
(key: the agent type) and, if it has continuous heads, the float tensor of their values (key:
:func:`real_key` of the agent type); see ``backends/__init__.py``.

A backend returns tensors in the program's float dtype for "f" values, ``torch.bool`` for "b" and
``torch.int64`` for "i" quantities; rewards and next states are always "f".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# dtypes: "f" real (float32/64), "b" boolean, "i" integer index of a population member.
DTYPES = ("f", "b", "i")

# Elementwise op -> (arity, result dtype or None for "same as the second argument" (where)).
ELEMENTWISE: dict[str, tuple[int, str | None]] = {
    "add": (2, "f"), "sub": (2, "f"), "mul": (2, "f"), "div": (2, "f"), "pow": (2, "f"),
    "neg": (1, "f"), "min": (2, "f"), "max": (2, "f"),
    "log": (1, "f"), "exp": (1, "f"), "sqrt": (1, "f"), "abs": (1, "f"), "floor": (1, "f"), "ceil": (1, "f"),
    "ndtri": (1, "f"),
    "lt": (2, "b"), "le": (2, "b"), "gt": (2, "b"), "ge": (2, "b"), "eq": (2, "b"), "ne": (2, "b"),
    "and": (2, "b"), "or": (2, "b"), "not": (1, "b"),
    "where": (3, None),  # where(cond, a, b): dtype of a
    "float": (1, "f"),  # bool/int -> real
    "int": (1, "i"),  # real holding a whole number -> integer (floor)
}
ARITHMETIC = {"add", "sub", "mul", "div", "pow", "neg", "min", "max", "log", "exp", "sqrt", "abs", "floor",
              "ceil", "ndtri"}
COMPARISONS = {"lt", "le", "gt", "ge", "eq", "ne"}
LOGICAL = {"and", "or", "not"}
REDUCTIONS = ("sum", "prod", "min", "max", "mean")
INT_LIMIT = 2 ** 31  # every "i" value lies in (-INT_LIMIT, INT_LIMIT): Triton's int32
INT_MAX = INT_LIMIT - 1
FLOAT32_WHOLE = 2 ** 24  # every whole number of magnitude up to this is exact in float32 (and float64)


def int_value(x: float) -> int:
    """The ``int`` op on one number: ``floor(x)`` saturated into [-INT_MAX, INT_MAX], NaN → 0 (±inf saturate)."""
    if math.isnan(x):
        return 0
    if not -INT_LIMIT < x < INT_LIMIT:
        return INT_MAX if x > 0 else -INT_MAX
    return max(-INT_MAX, math.floor(x))


def fits_int(lo: float, hi: float) -> bool:
    """Whether every whole number in [lo, hi] is an "i" value (inside (-INT_LIMIT, INT_LIMIT))."""
    return -INT_LIMIT < lo <= hi < INT_LIMIT
OP_KINDS = ("const", "input", "action", "iota", "broadcast", "reduce", "gather", "lookup", "relabel", "random",
            *ELEMENTWISE)
INPUT_SOURCES = ("state", "param", "runtime_const", "time", "uniform")
OUTPUT_KINDS = {
    "init": ("param", "state"),
    "step": ("state", "reward", "quantity", "external"),
    "observe": ("obs",),
}


@dataclass(frozen=True)
class Op:
    """One SSA statement ``out = kind(args...)`` (see the module docstring for every kind)."""

    out: str
    kind: str
    args: tuple[str, ...]
    dims: tuple[str, ...]
    dtype: str
    attrs: tuple[tuple[str, object], ...] = ()
    source: str = ""  # `.econ` file:line that produced it, for comments in generated code
    name: str = ""  # the `.econ` name this value defines, if any (comments and dumps only)

    def attr(self, key: str, default: object = None) -> object:
        for k, v in self.attrs:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Output:
    """A named result of a function: a next state, a reward, a step quantity or an observation item."""

    kind: str  # see OUTPUT_KINDS
    name: str  # state/param/quantity/external name, or agent type for rewards and observations
    value: str  # SSA name
    labels: tuple[str, ...] = ()  # for "obs": one label per feature column of this item
    onehot: int = 0  # for "obs": number of one-hot features (0: raw values)
    features: tuple[str, ...] = ()  # for "obs": the value's dims that are feature axes (not aligned)


@dataclass
class Function:
    name: str
    ops: list[Op] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)

    def op(self, name: str) -> Op:
        for o in self.ops:
            if o.out == name:
                return o
        raise KeyError(name)

    def table(self) -> dict[str, Op]:
        return {o.out: o for o in self.ops}


@dataclass(frozen=True)
class Buffer:
    """A per-replica array the environment keeps between steps: a state or a parameter (always "f")."""

    name: str
    kind: str  # "state" | "param"
    dims: tuple[str, ...]
    dtype: str = "f"
    owner: str | None = None  # agent type that declares it
    unit: str = ""  # the declared unit, e.g. "money" (used to find budgets for the accounting identity)


def real_key(agent: str) -> str:
    """The key of an agent type's real (continuous) action tensor in a step's actions mapping. A dot
    cannot occur in a ``.econ`` name, so it never collides with an agent type."""
    return f"{agent}.real"


@dataclass(frozen=True)
class Head:
    """One categorical action head, or a group of identical heads (one per member of ``per``).

    A group occupies ``n_columns`` = size of ``per`` consecutive columns starting at ``column``.
    A continuous head (``continuous``) has ``n`` = 0, no tables, ``bounds`` one (lo, hi) per component,
    and occupies ``len(components) · size of per`` columns of the agent's *real* action tensor.
    """

    agent: str
    name: str
    column: int  # first column of this head in the agent's action tensor [n_envs, n_agents, n_columns]
    per: str | None
    n: int  # number of choices of each column
    n_columns: int
    components: tuple[str, ...]
    tables: tuple[tuple[float, ...], ...]
    source: str = ""
    continuous: bool = False
    bounds: tuple[tuple[float, float], ...] = ()  # continuous heads: (lo, hi) of each component


@dataclass
class Program:
    """A lowered model: populations, buffers, heads, runtime constants and the three functions."""

    model: str
    populations: dict[str, int]  # name -> size; canonical order; singletons have size 1, never in dims
    singletons: tuple[str, ...]
    agents: list[str]  # agent types in declaration order
    horizon: int
    buffers: list[Buffer]
    heads: list[Head]
    runtime_consts: dict[str, float]  # constants the curriculum may change at run time (default values)
    uniforms: dict[str, tuple[str, ...]]  # uniform draw streams of `init` -> dims
    init: Function
    step: Function
    observe: Function
    consts: dict[str, float] = field(default_factory=dict)  # folded compile-time constants (for dumps)
    stages: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (stage name, agent types) in order; () = one stage
    source_files: tuple[str, ...] = ()

    def functions(self) -> list[Function]:
        return [self.init, self.step, self.observe]

    def size(self, dims: tuple[str, ...]) -> tuple[int, ...]:
        """The sizes of axes (each the size of its population)."""
        return tuple(self.populations[population(d)] for d in dims)

    def axis_size(self, axis_name: str) -> int:
        return self.populations[population(axis_name)]

    def action_dims(self, agent: str, per: str | None) -> tuple[str, ...]:
        """The dims of an ``action`` op of ``agent`` (per-member heads: one more axis, :func:`per_axis`)."""
        return self.canonical(self.agent_dims(agent) + ((per_axis(agent, per),) if per else ()))

    def axes(self) -> tuple[str, ...]:
        """Every axis some value of the program has, in canonical order."""
        return self.canonical({d for fn in self.functions() for op in fn.ops for d in op.dims}
                              | {d for b in self.buffers for d in b.dims})

    def n_agents(self, agent: str) -> int:
        return self.populations[agent]

    def agent_dims(self, agent: str) -> tuple[str, ...]:
        return () if agent in self.singletons else (agent,)

    def n_columns(self, agent: str) -> int:
        """Columns of the agent type's integer action tensor (its discrete heads)."""
        return sum(h.n_columns for h in self.heads if h.agent == agent and not h.continuous)

    def n_real_columns(self, agent: str) -> int:
        """Columns of the agent type's real action tensor (its continuous heads)."""
        return sum(h.n_columns for h in self.heads if h.agent == agent and h.continuous)

    def stage_agents(self) -> list[list[str]]:
        """The agent types of each stage, in order (one stage of every agent type without stages)."""
        if not self.stages:
            return [list(self.agents)]
        out = [list(agents) for _, agents in self.stages]
        listed = {a for agents in out for a in agents}
        out[0] = [a for a in self.agents if a not in listed] + out[0]  # types without actions: first stage
        return out

    def real_agents(self) -> list[str]:
        """Agent types with continuous heads (those whose step reads a real action tensor), in order."""
        return [a for a in self.agents if self.n_real_columns(a)]

    def real_bounds(self, agent: str) -> list[tuple[float, float]]:
        """(lo, hi) of every column of the agent type's real action tensor."""
        out: list[tuple[float, float]] = []
        for h in self.heads:
            if h.agent == agent and h.continuous:
                per = h.n_columns // len(h.components)
                for lo_hi in h.bounds:
                    out += [lo_hi] * per
        return out

    def buffer(self, name: str) -> Buffer:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    def states(self) -> list[Buffer]:
        return [b for b in self.buffers if b.kind == "state"]

    def params(self) -> list[Buffer]:
        return [b for b in self.buffers if b.kind == "param"]

    def obs_outputs(self, agent: str) -> list[Output]:
        return [o for o in self.observe.outputs if o.name == agent]

    def obs_dim(self, agent: str) -> int:
        return sum(len(o.labels) for o in self.obs_outputs(agent))

    def obs_shared_columns(self, agent: str) -> list[int]:
        """The observation columns of ``agent`` that are the same for every member of the type (items
        without an aligned axis: the global state, constants, one-hots of member-independent values), so
        that a consumer may keep them once per replica. Every column of a singleton type is shared."""
        table = self.observe.table()
        out: list[int] = []
        col = 0
        for o in self.obs_outputs(agent):
            op = table.get(o.value)
            aligned = [d for d in (op.dims if op is not None else ()) if d not in o.features]
            if not aligned:
                out += range(col, col + len(o.labels))
            col += len(o.labels)
        return out

    def canonical(self, dims: set[str] | tuple[str, ...]) -> tuple[str, ...]:
        return canonical(self.populations, dims)


ROLE_MARK = "~"  # "W~1": population W in its second role (population names are identifiers, never contain it)


def axis(pop: str, r: int = 0) -> str:
    """The axis of population ``pop`` in role ``r`` (0: the population's own name)."""
    return pop if r == 0 else f"{pop}{ROLE_MARK}{r}"


def population(axis_name: str) -> str:
    """The population of an axis."""
    return axis_name.split(ROLE_MARK, 1)[0]


def role(axis_name: str) -> int:
    """The role of an axis (0 for the population's own name)."""
    _, mark, r = axis_name.partition(ROLE_MARK)
    return int(r) if mark else 0


def per_axis(agent: str, per: str) -> str:
    """The axis of a per-member action head: ``per``, or its second role over the agent's own population."""
    return axis(per, 1) if per == agent else per


def canonical(populations, dims) -> tuple[str, ...]:
    """``dims`` without repeats, in the IR's axis order: populations in declaration order, then roles."""
    order = {p: k for k, p in enumerate(populations)}
    return tuple(sorted(set(dims), key=lambda d: (order.get(population(d), len(order)), role(d), d)))
