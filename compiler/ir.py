"""The econdsl IR: one small, typed, SSA list of vectorized operations over index spaces.

A checked model is lowered to a :class:`Program` of three :class:`Function`s:

- ``init``: per-replica parameters and initial states (run at reset);
- ``step``: (states, params, actions, runtime constants) → next states, rewards, named quantities;
- ``observe``: (states, params, runtime constants) → one observation block per agent type.

Every value has a *shape* given by ``dims``: a tuple of population names in the model's canonical
population order, e.g. ``()`` for a per-replica scalar, ``("Firm",)`` for one value per firm,
``("Consumer", "Firm")`` for a consumer × firm pair. Every backend adds a leading replica (env)
dimension, so a value of dims ``("Consumer", "Firm")`` is a tensor ``[n_envs, 100, 10]``.

Operations broadcast by dimension name: the result of an elementwise op has the union of its
arguments' dims (in canonical order). This is the whole contract between the front end and the
backends: each backend (reference interpreter, torch printer, Triton printer) is a mapping from these
op kinds to its own primitives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# dtypes: "f" real (float32/64), "b" boolean, "i" integer index of a population member.
DTYPES = ("f", "b", "i")

# Elementwise op -> (arity, result dtype or None for "same as the first argument").
ELEMENTWISE: dict[str, tuple[int, str | None]] = {
    "add": (2, "f"), "sub": (2, "f"), "mul": (2, "f"), "div": (2, "f"), "pow": (2, "f"),
    "neg": (1, "f"), "min": (2, "f"), "max": (2, "f"),
    "log": (1, "f"), "exp": (1, "f"), "sqrt": (1, "f"), "abs": (1, "f"), "floor": (1, "f"), "ceil": (1, "f"),
    "lt": (2, "b"), "le": (2, "b"), "gt": (2, "b"), "ge": (2, "b"), "eq": (2, "b"), "ne": (2, "b"),
    "and": (2, "b"), "or": (2, "b"), "not": (1, "b"),
    "where": (3, None),  # where(cond, a, b): dtype of a
    "float": (1, "f"),  # bool/int -> real
}
REDUCTIONS = ("sum", "prod", "min", "max", "mean")


@dataclass(frozen=True)
class Op:
    """One SSA statement ``out = kind(args...)``.

    kind and attrs:
      const      attrs: value (float)                                   -> dims ()
      input      attrs: source ("state"|"param"|"runtime_const"|"time"), name
      action     attrs: agent, head (index of the head in the agent's head list), column (first column
                 of the head in the action tensor), per (population with one head per member, or None),
                 stride, size, table (tuple of grid values; member indices for population choices)
                 -> value = table[(a // stride) % size] where a is the action index
      iota       attrs: dim (population) -> the member index 0..n-1 of that population, dtype "i"
      <elementwise> per ELEMENTWISE, args are SSA names
      reduce     attrs: op (REDUCTIONS), dim; args: (value,) or (value, mask) -> removes ``dim``
      gather     attrs: dim; args: (src, index) -> src taken at member ``index`` of ``dim``
                 (index has dtype "i" and does not have ``dim``); result dims = (src.dims - dim) ∪ index.dims
      onehot     attrs: dim, feature (a population name used as a feature axis) -> dims (dim, ) with
                 ``features`` entries; only valid in ``observe``
    """

    out: str
    kind: str
    args: tuple[str, ...]
    dims: tuple[str, ...]
    dtype: str
    attrs: tuple[tuple[str, object], ...] = ()
    source: str = ""  # `.econ` file:line that produced it, for comments in generated code
    name: str = ""  # the `.econ` name this value defines, if any

    def attr(self, key: str, default: object = None) -> object:
        for k, v in self.attrs:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Output:
    """A named result of a function: a next state, a reward, a step quantity or an observation block."""

    kind: str  # "state" | "param" | "reward" | "quantity" | "obs"
    name: str  # state/param/quantity name, or agent type for rewards and observations
    value: str  # SSA name
    # For "obs": the feature labels of this block, in order (the block's non-agent dims flattened).
    labels: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class Buffer:
    """A per-replica array the environment keeps between steps: a state or a parameter."""

    name: str
    kind: str  # "state" | "param"
    dims: tuple[str, ...]
    dtype: str = "f"
    owner: str | None = None  # agent type that declares it


@dataclass(frozen=True)
class Head:
    """One categorical action head (or a group of identical heads, one per member of ``per``)."""

    agent: str
    name: str
    column: int  # first column of this head in the agent's action tensor [n_envs, n_agents, n_columns]
    per: str | None
    n: int  # number of choices
    components: tuple[str, ...]
    tables: tuple[tuple[float, ...], ...]


@dataclass
class Program:
    """A lowered model: populations, buffers, heads, runtime constants and the three functions."""

    model: str
    populations: dict[str, int]  # name -> size (singletons have size 1 and never appear in dims)
    agents: list[str]  # agent types in declaration order
    horizon: int
    buffers: list[Buffer]
    heads: list[Head]
    runtime_consts: dict[str, float]  # constants the curriculum may change at run time (default values)
    init: Function
    step: Function
    observe: Function
    obs_blocks: dict[str, list[str]] = field(default_factory=dict)

    def functions(self) -> list[Function]:
        return [self.init, self.step, self.observe]
