"""Stage 2, resolve: imports and ``extends`` flattened into one model, and its symbol table.

The result, :class:`Resolved`, is what every later stage reads: the flat AST (variants applied), the
populations with their sizes, every declared name with its kind, owner population, dimensions and
unit, and the step equations in order. Problems found here (unknown imports or bases, duplicate
names, population sizes that are not whole numbers) become diagnostics; nothing raises.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import ast
from .diagnostics import Diagnostics, did_you_mean
from .parser import parse

BUILTIN_FUNCTIONS = {
    # name: (min args, max args)
    "log": (1, 1), "exp": (1, 1), "sqrt": (1, 1), "abs": (1, 1),
    "min": (2, 99), "max": (2, 99), "clamp": (3, 3), "ifelse": (3, 3),
    "onehot": (1, 1), "size": (1, 1), "floor": (1, 1), "ceil": (1, 1),
}
DISTRIBUTIONS = {"Uniform": 2, "Normal": 2, "LogNormal": 2, "Pareto": 2}
# Distributions a step equation may draw from (`x[j] ~ Normal(0, σ)`): name -> number of parameters
# (None: Categorical takes one probability per category, or one row of a matrix constant).
DRAWS: dict[str, int | None] = {"Normal": 2, "LogNormal": 2, "Uniform": 2, "Bernoulli": 1, "Categorical": None}
# Names every model may read: `t` is the step within the episode (0-based).
BUILTIN_NAMES = {"t"}


@dataclass(frozen=True)
class Population:
    name: str
    size: int
    index: str | None
    singleton: bool
    span: ast.Span
    more_indices: tuple[str, ...] = ()  # `index j, k`: k also ranges over the population (pairwise quantities)

    @property
    def indices(self) -> tuple[str, ...]:
        """Every index name of the population, its own (the agent block's) first."""
        return ((self.index,) if self.index else ()) + self.more_indices


@dataclass(frozen=True)
class Symbol:
    """A declared name.

    kind: const | param | state | action | quantity | function | external | builtin.
    dims: the populations it is indexed by, e.g. ("Consumer", "Firm") for a consumer's demand of each
    firm's good; () for a per-replica scalar.
    """

    name: str
    kind: str
    owner: str | None
    dims: tuple[str, ...]
    unit: ast.Unit | None
    decl: ast.Node
    chooses: str | None = None  # for actions and states that hold a member of a population
    shape: tuple[int, ...] = ()  # for vector and matrix constants (tables): their lengths
    levels: tuple[int, int] | None = None  # integer-valued: the whole numbers lo..hi it can hold


@dataclass(frozen=True)
class Table:
    """A vector or matrix constant: ``shape`` and its entries, row-major."""

    shape: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class ActionHead:
    """One head of an agent type's policy: categorical over a grid, or continuous over an interval.

    A continuous head (every component an interval ``[lo, hi]`` with finite constant bounds) has
    ``sizes`` 0, ``values`` empty and ``bounds`` one ``(lo, hi)`` per component.
    """

    agent: str
    decl: ast.Action
    components: tuple[str, ...]  # names of the action values this head sets
    per: str | None  # one head per member of this population
    sizes: tuple[int, ...]  # grid size of each component (product = number of choices)
    values: tuple[tuple[float, ...], ...]  # grid values of each component (member indices for populations)
    continuous: bool = False
    bounds: tuple[tuple[float, float], ...] = ()  # continuous heads: (lo, hi) of each component

    @property
    def n(self) -> int:
        return math.prod(self.sizes)


@dataclass
class Resolved:
    """A flat, name-resolved model: the input of the checks, the lowering and the trainer."""

    name: str
    file: str
    model: ast.Model
    horizon: int | None
    populations: dict[str, Population]
    symbols: dict[str, Symbol]
    consts: dict[str, float]
    functions: dict[str, ast.Function]
    agents: dict[str, ast.Agent]
    equations: list[ast.Equation]
    externals: list[ast.External]
    heads: dict[str, list[ActionHead]]
    curriculum: ast.Curriculum | None
    train: ast.Train | None
    sources: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)  # vector and matrix constants
    stages: list[ast.Stage] = field(default_factory=list)  # the step's stages (empty: one stage, everyone)

    def stage_index(self, name: str) -> int:
        """Position of a stage by name (0 without stages; an unknown name counts as the last stage)."""
        names = [s.name for s in self.stages]
        return names.index(name) if name in names else max(len(names) - 1, 0)

    def agent_stage(self, agent: str) -> int:
        """The stage an agent type acts in (0 without stages or when no stage lists it)."""
        return next((k for k, s in enumerate(self.stages) if agent in s.agents), 0)

    def population_of_index(self, index: str) -> str | None:
        for p in self.populations.values():
            if index in p.indices:
                return p.name
        return None


# ---------------------------------------------------------------- loading and variants


# Limits that keep a typo in a size from exhausting the memory (E109); each is named in its message.
MAX_HORIZON = 1_000_000
MAX_POPULATION = 1_000_000
MAX_GRID = 100_000


def _count(x: float) -> str:
    return f"{x:,.0f}" if x < 1e15 else f"{x:.3g}" if math.isfinite(x) else "too many"


def load_ast(path: str | Path, diags: Diagnostics, _stack: tuple[Path, ...] = (),
             span: ast.Span = ast.NOWHERE) -> ast.Model | None:
    """Parse ``path`` and everything it imports; apply ``extends`` so the result is one flat model."""
    from .sources import read_source

    path = Path(path)
    text = read_source(path, diags, span)  # span: the `import` that names the file, if any
    if text is None:
        return None
    return load_text(text, str(path), diags, _stack + (path.resolve(),))


def load_text(text: str, file: str, diags: Diagnostics, _stack: tuple[Path, ...] = ()) -> ast.Model | None:
    model = parse(text, file, diags)
    if model is None:
        return None
    return flatten(model, file, diags, _stack)


def flatten(model: ast.Model, file: str, diags: Diagnostics, _stack: tuple[Path, ...] = ()) -> ast.Model | None:
    """Load a parsed model's imports and apply its ``extends``: one flat model (None if a base is missing)."""
    if not _stack:
        _stack = (Path(file).resolve(),)
    bases: dict[str, ast.Model] = {}
    for imp in model.imports:
        target = Path(os.path.normpath(Path(file).parent / imp.path))
        if target.resolve() in _stack:
            diags.add("E104", f"import cycle: `{imp.path}` imports itself", imp.span, "remove one of the imports")
            continue
        if not target.exists():
            diags.add("E104", f"imported file `{imp.path}` does not exist", imp.span,
                      "paths are relative to the importing file")
            continue
        base = load_ast(target, diags, _stack, imp.span)
        if base is not None:
            bases[base.name] = base
    if model.extends is None:
        return model
    base = bases.get(model.extends)
    if base is None:
        if not diags.has_errors():
            diags.add("E205", f"base model `{model.extends}` is not defined", model.span,
                      did_you_mean(model.extends, bases) or f"add `import \"{model.extends}.econ\"`")
        return None
    return apply_variant(base, model, diags)


def _item_name(item: ast.Node) -> str | None:
    if isinstance(item, ast.Action):
        return item.names[0]
    if isinstance(item, ast.Decl):
        return item.name
    if isinstance(item, ast.Equation):
        return ("next " if item.is_next else "") + item.name
    if isinstance(item, ast.External):
        return item.name
    return None


def apply_variant(base: ast.Model, variant: ast.Model, diags: Diagnostics) -> ast.Model:
    """``model B extends A``: A's items, then B's ``set``/``replace``/``remove`` and new items."""
    items = list(base.items)

    def edit(name: str, fn, span: ast.Span, what: str) -> None:
        """Apply ``fn(node) -> node | None`` to the named node wherever it is; report if absent."""
        nonlocal items
        found = False

        def visit_decls(decls):
            nonlocal found
            out = []
            for d in decls:
                if not found and _item_name(d) == name:
                    found = True
                    new = fn(d)
                    if new is not None:
                        out.append(new)
                else:
                    out.append(d)
            return tuple(out)

        new_items = []
        for it in items:
            if isinstance(it, ast.Agent):
                it = replace(it, decls=visit_decls(it.decls))
            elif isinstance(it, ast.Step):
                it = replace(it, equations=visit_decls(it.equations))
            elif isinstance(it, ast.Accounting):
                it = replace(it, externals=visit_decls(it.externals))
            elif isinstance(it, ast.Curriculum):
                it = replace(it, items=visit_decls(it.items))
            elif not found and _item_name(it) == name:
                found = True
                r = fn(it)
                if r is None:
                    continue
                it = r
            new_items.append(it)
        items = new_items
        if not found:
            known = [n for it in base.items for n in _names_in(it)]
            diags.add("E205", f"`{what}` names `{name}`, which the base model `{base.name}` does not declare",
                      span, did_you_mean(name, known))

    for it in variant.items:
        if isinstance(it, ast.SetValue):
            def set_value(d, it=it):
                if isinstance(d, (ast.Const, ast.Param)):
                    return replace(d, value=it.value, dist=None) if isinstance(d, ast.Param) \
                        else replace(d, value=it.value)
                diags.add("E206", f"`set` changes constants and parameters; `{it.name}` is not one", it.span,
                          "use `replace` for other declarations")
                return d
            edit(it.name, set_value, it.span, "set")
        elif isinstance(it, ast.Replace):
            name = _item_name(it.item)
            # a replaced equation keeps the stage it ran in
            edit(name, lambda d, it=it: replace(it.item, stage=d.stage) if isinstance(it.item, ast.Equation)
                 and isinstance(d, ast.Equation) and not it.item.stage else it.item, it.span, "replace")
        elif isinstance(it, ast.Remove):
            edit(it.name, lambda d: None, it.span, "remove")
        elif isinstance(it, ast.Step):
            merged = False
            for k, old in enumerate(items):
                if isinstance(old, ast.Step):
                    items[k] = replace(old, equations=_staged(_placed(old.equations, it, diags, base.name)),
                                       stages=old.stages + it.stages)
                    merged = True
            if not merged:
                items.append(replace(it, place=None))
        elif isinstance(it, ast.Agent) and any(isinstance(x, ast.Agent) and x.name == it.name for x in items):
            # `agent Household ... end` naming a base agent adds its declarations to that agent
            items = [replace(x, decls=x.decls + it.decls) if isinstance(x, ast.Agent) and x.name == it.name else x
                     for x in items]
        elif isinstance(it, ast.Accounting):
            for k, old in enumerate(items):
                if isinstance(old, ast.Accounting):
                    items[k] = replace(old, externals=old.externals + it.externals)
                    break
            else:
                items.append(it)
        elif isinstance(it, (ast.Curriculum, ast.Train)):
            items = [x for x in items if not isinstance(x, type(it))] + [it]
        else:
            items.append(it)
    return ast.Model(variant.name, None, (), tuple(items), span=variant.span, source=variant.source)


def _staged(eqs: tuple[ast.Equation, ...]) -> tuple[ast.Equation, ...]:
    """A variant's equations without a stage run in the stage of the equation before them (the first
    equation's stage when they come first)."""
    out: list[ast.Equation] = []
    for e in eqs:
        prev = out[-1].stage if out else next((x.stage for x in eqs if x.stage), "")
        out.append(e if e.stage else replace(e, stage=prev))
    return tuple(out)


def _placed(base: tuple[ast.Equation, ...], step: ast.Step, diags: Diagnostics,
            model: str) -> tuple[ast.Equation, ...]:
    """The base's equations with the variant's inserted at ``step.place`` (appended when it has none)."""
    if step.place is None:
        return base + step.equations
    where, name = step.place
    names = [_item_name(e) for e in base]
    if name not in names:
        diags.add("E205", f"`step {where} {name}`: the base model `{model}` has no equation `{name}`", step.span,
                  did_you_mean(name, names) or "name a step equation of the base model (`next x` for a transition)")
        return base + step.equations
    k = names.index(name) + (1 if where == "after" else 0)
    return base[:k] + step.equations + base[k:]


def _names_in(item: ast.Node) -> list[str]:
    if isinstance(item, ast.Agent):
        return [_item_name(d) for d in item.decls if _item_name(d)]
    if isinstance(item, ast.Step):
        return [e.name for e in item.equations]
    if isinstance(item, ast.Accounting):
        return [e.name for e in item.externals]
    if isinstance(item, ast.Curriculum):
        return [c.name for c in item.items if isinstance(c, ast.Const)]
    n = _item_name(item)
    return [n] if n else []


# ---------------------------------------------------------------- constant evaluation


class NotConstant(Exception):
    def __init__(self, node: ast.Node, reason: str):
        self.node = node
        self.reason = reason
        super().__init__(reason)


_CONST_FUNCS = {
    "log": math.log, "exp": math.exp, "sqrt": math.sqrt, "abs": abs, "min": min, "max": max,
    "floor": math.floor, "ceil": math.ceil, "clamp": lambda x, lo, hi: min(max(x, lo), hi),
    "ifelse": lambda c, a, b: a if c else b,
}


def eval_const(e: ast.Expr, env: dict[str, float], tables: dict[str, Table] | None = None) -> float:
    """Evaluate a compile-time expression of numbers and known names; raises NotConstant otherwise.

    Given ``tables``, an entry of a vector or matrix constant at constant indices (``v[2]``) is a number
    too, as the compiler folds it."""
    def ev(x: ast.Expr) -> float:
        return eval_const(x, env, tables)

    if isinstance(e, ast.Num):
        return e.value
    if isinstance(e, ast.Inf):
        return math.inf
    if isinstance(e, ast.Name):
        if e.id in env:
            return env[e.id]
        raise NotConstant(e, f"`{e.id}` is not a constant")
    if isinstance(e, ast.Index) and tables is not None and e.base in tables:
        table = tables[e.base]
        at = [ev(ix) for ix in e.indices]
        if len(at) != len(table.shape) or any(not float(k).is_integer() or not 0 <= k < n
                                               for k, n in zip(at, table.shape, strict=True)):
            raise NotConstant(e, f"not an entry of `{e.base}`")
        flat = 0
        for k, n in zip(at, table.shape, strict=True):
            flat = flat * n + int(k)
        return table.values[flat]
    if isinstance(e, ast.UnOp):
        v = ev(e.operand)
        return -v if e.op == "-" else (float(not v) if e.op == "!" else v)
    if isinstance(e, ast.BinOp):
        a, b = ev(e.left), ev(e.right)
        try:
            return _binop(e.op, a, b)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise NotConstant(e, f"cannot evaluate: {exc}") from None
    if isinstance(e, ast.Ternary):
        return ev(e.then) if ev(e.cond) else ev(e.other)
    if isinstance(e, ast.Call) and e.func in _CONST_FUNCS and not e.params:
        args = [ev(a) for a in e.args]
        try:
            return float(_CONST_FUNCS[e.func](*args))
        except (TypeError, ValueError, OverflowError) as exc:
            raise NotConstant(e, f"cannot evaluate `{e.func}`: {exc}") from None
    raise NotConstant(e, "not a compile-time constant")


def _binop(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "^":
        r = a ** b
        if isinstance(r, complex):
            raise ValueError("negative base with a fractional power")
        return float(r)
    return float({
        "==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
        "&&": bool(a) and bool(b), "||": bool(a) or bool(b),
    }[op])


# ---------------------------------------------------------------- the symbol table


def resolve(model: ast.Model, diags: Diagnostics, file: str | None = None) -> Resolved:
    """Build the symbol table of a flat model. Adds E202/E204/E505/E506/E507 diagnostics as found."""
    file = file or (model.span.file if model.span else "<input>")
    symbols: dict[str, Symbol] = {}
    consts: dict[str, float] = {}
    functions: dict[str, ast.Function] = {}
    agents: dict[str, ast.Agent] = {}
    populations: dict[str, Population] = {}
    equations: list[ast.Equation] = []
    stages: list[ast.Stage] = []
    externals: list[ast.External] = []
    horizon: int | None = None
    curriculum = train = None

    def declare(sym: Symbol, span: ast.Span) -> None:
        if sym.name in symbols or sym.name in populations or sym.name in BUILTIN_NAMES:
            prev = symbols.get(sym.name)
            where = f" (first declared at {prev.decl.span})" if prev is not None else ""
            diags.add("E202", f"`{sym.name}` is declared more than once{where}", span,
                      "rename one of them, or use `replace` in a variant")
            return
        symbols[sym.name] = sym

    # Populations first: declarations may refer to any of them.
    for it in model.items:
        if isinstance(it, ast.Agent):
            if it.name in populations:
                diags.add("E202", f"agent type `{it.name}` is declared more than once", it.name_span)
                continue
            agents[it.name] = it

    # Constants in order (a constant may use earlier ones).
    tables: dict[str, Table] = {}
    for it in model.items:
        if isinstance(it, ast.Const) and isinstance(it.value, (ast.Array, ast.Matrix)):
            table = _table(it, consts, diags)
            declare(Symbol(it.name, "const", None, (), it.unit, it, shape=table.shape if table else (0,)), it.span)
            if table is not None:
                tables[it.name] = table
        elif isinstance(it, ast.Const):
            declare(Symbol(it.name, "const", None, (), it.unit, it), it.span)
            try:
                consts[it.name] = eval_const(it.value, consts)
            except NotConstant as e:
                diags.add("E206", f"constant `{it.name}` must be a compile-time value: {e.reason}",
                          e.node.span, "constants may use numbers and earlier constants only")
        elif isinstance(it, ast.Horizon):
            if horizon is not None:
                diags.add("E505", "`horizon` is declared more than once", it.span)
            try:
                h = eval_const(it.value, consts)
                if not math.isfinite(h) or h != int(h) or h < 1:
                    raise NotConstant(it.value, f"{h:g} is not a positive whole number")
                if h > MAX_HORIZON:
                    diags.add("E109", f"the horizon {_count(h)} is above the limit of {MAX_HORIZON:,} steps per "
                                      f"episode", it.value.span,
                              "a longer economy can run as several episodes (train setting `steps`)")
                    h = 1  # reported; go on checking with a small horizon
                horizon = int(h)
            except NotConstant as e:
                diags.add("E505", f"the horizon must be a positive whole number of steps: {e.reason}",
                          it.value.span)
                horizon = 1  # reported; go on checking with a small horizon (no second "has no horizon")

    for name, ag in agents.items():
        size, singleton = 1, ag.size is None
        if ag.size is not None:
            try:
                v = eval_const(ag.size, consts)
                if not math.isfinite(v) or v != int(v) or v < 1:
                    raise NotConstant(ag.size, f"{v:g} is not a positive whole number")
                if v > MAX_POPULATION:
                    diags.add("E109", f"the population `{name}` of {_count(v)} members is above the limit of "
                                      f"{MAX_POPULATION:,}", ag.size.span,
                              "every member is simulated in every replica: keep populations to thousands")
                    v = 1
                size = int(v)
            except NotConstant as e:
                diags.add("E206", f"the size of `{name}` must be a positive whole constant: {e.reason}",
                          ag.size.span)
        if ag.index is not None and ag.size is None:
            diags.add("E206", f"`{name}` has no size, so it cannot have an index", ag.span,
                      f"write `agent {name}[n] index {ag.index}`")
        populations[name] = Population(name, size, ag.index, singleton and ag.index is None, ag.name_span,
                                       ag.more_indices)
    for p in populations.values():
        for k, ix in enumerate(p.indices):
            clash = [q.name for q in populations.values() if ix in q.indices and q.name != p.name]
            if clash:
                diags.add("E202", f"index `{ix}` is bound by both `{p.name}` and `{clash[0]}`",
                          agents[p.name].span, "give each population its own index name")
            elif ix in p.indices[:k]:
                diags.add("E202", f"index `{ix}` is named twice for `{p.name}`", agents[p.name].span,
                          f"write `index {p.indices[0]}, {ix}2` for two indices of {p.name}")

    heads: dict[str, list[ActionHead]] = {name: [] for name in agents}
    for it in model.items:
        if isinstance(it, ast.Function):
            if it.name in BUILTIN_FUNCTIONS or it.name in functions:
                diags.add("E202", f"function `{it.name}` is already defined", it.span)
            else:
                functions[it.name] = it
                declare(Symbol(it.name, "function", None, (), it.unit, it), it.span)
        elif isinstance(it, ast.Agent):
            own = () if populations[it.name].singleton else (it.name,)
            for d in it.decls:
                if isinstance(d, ast.Param):
                    declare(Symbol(d.name, "param", it.name, own, d.unit, d), d.span)
                elif isinstance(d, ast.State):
                    chooses, levels = _state_domain(d, populations, consts, diags)
                    declare(Symbol(d.name, "state", it.name, own, d.unit, d, chooses, levels=levels), d.span)
                elif isinstance(d, ast.Action):
                    head = _action_head(it.name, d, populations, consts, diags)
                    if head is not None:
                        heads[it.name].append(head)
                    per = (d.per,) if d.per and d.per in populations else ()
                    for k, comp in enumerate(d.names):
                        g = d.grids[k] if k < len(d.grids) else None
                        chooses = g.population if isinstance(g, ast.GridPopulation) else None
                        declare(Symbol(comp, "action", it.name, own + per, d.unit_of(k), d, chooses), d.span)
                elif isinstance(d, (ast.Const, ast.Horizon, ast.Function)):
                    diags.add("E506", f"`{d.name}` belongs at the model level, not inside agent `{it.name}`",
                              d.span)
        elif isinstance(it, ast.Step):
            equations.extend(it.equations)
            stages.extend(it.stages)
        elif isinstance(it, ast.Accounting):
            externals.extend(it.externals)
        elif isinstance(it, ast.Curriculum):
            curriculum = it
        elif isinstance(it, ast.Train):
            train = it
        elif isinstance(it, ast.State):  # an economy-wide state: one per replica, readable by every agent
            chooses, levels = _state_domain(it, populations, consts, diags)
            declare(Symbol(it.name, "state", None, (), it.unit, it, chooses, levels=levels), it.span)
        elif isinstance(it, (ast.Param, ast.Action, ast.Observe, ast.Reward)):
            diags.add("E506", f"`{it.__class__.__name__.lower()}` declarations belong inside an agent block",
                      it.span, "put it between `agent Name[n]` and `end`")
        elif isinstance(it, (ast.SetValue, ast.Replace, ast.Remove)):
            diags.add("E205", "`set`, `replace` and `remove` are only allowed in `model B extends A`", it.span)

    for eq in equations:
        if eq.is_next:
            continue
        dims = []
        for ix in eq.indices:
            pop = next((p.name for p in populations.values() if ix in p.indices), None)
            if pop is None:
                diags.add("E204", f"`{ix}` is not the index of any population", eq.target_span,
                          did_you_mean(ix, [n for p in populations.values() for n in p.indices])
                          or "bind indices with `agent Name[n] index i` (`index i, k` for pairs of members)")
            dims.append(pop or "?")
        prev = symbols.get(eq.name)
        if prev is not None and prev.kind in _ASSIGN_HINTS:
            msg, hint = _ASSIGN_HINTS[prev.kind]
            diags.add("E206", msg.format(name=eq.name), eq.target_span, hint.format(name=eq.name))
            continue
        declare(Symbol(eq.name, "quantity", None, tuple(dims), None, eq), eq.target_span)
    for ex in externals:
        declare(Symbol(ex.name, "external", None, (), None, ex), ex.span)

    if horizon is None:
        diags.add("E505", f"model `{model.name}` has no horizon", model.span, "add `horizon 10` (for example)")

    return Resolved(model.name, file, model, horizon, populations, symbols, consts, functions, agents,
                    equations, externals, heads, curriculum, train, dict(diags.sources), tables, stages)


# What to say when a step equation assigns a name that is not a step quantity.
_ASSIGN_HINTS = {
    "action": ("`{name}` is an action: agents choose it, the step section cannot assign it",
               "give the computed value another name"),
    "state": ("`{name}` is a state: it changes only through its transition",
              "write `next {name} = ...` (with the state's index)"),
    "param": ("`{name}` is a parameter: it is fixed for the whole episode", "give the quantity another name"),
    "const": ("`{name}` is a constant and cannot be assigned", "give the quantity another name"),
    "function": ("`{name}` is a function and cannot be assigned", "give the quantity another name"),
}


def _table(c: ast.Const, consts: dict[str, float], diags: Diagnostics) -> Table | None:
    """The entries of a vector ``[a, b]`` or matrix ``[a b; c d]`` constant (E310 if not constant or ragged)."""
    rows = (c.value.items,) if isinstance(c.value, ast.Array) else c.value.rows
    if isinstance(c.value, ast.Matrix) and len({len(r) for r in rows}) != 1:
        diags.add("E310", f"the rows of matrix `{c.name}` have different lengths "
                  f"({', '.join(str(len(r)) for r in rows)})", c.value.span,
                  "give every row the same number of entries")
        return None
    values = []
    for row in rows:
        for x in row:
            try:
                values.append(eval_const(x, consts))
            except NotConstant as e:
                diags.add("E310", f"the entries of `{c.name}` must be compile-time values: {e.reason}", e.node.span,
                          "use numbers and earlier constants")
                return None
    shape = (len(rows[0]),) if isinstance(c.value, ast.Array) else (len(rows), len(rows[0]))
    return Table(shape, tuple(values))


def _state_domain(d: ast.State, populations, consts, diags) -> tuple[str | None, tuple[int, int] | None]:
    """(population it holds a member of, whole numbers lo..hi it can hold) for ``in Pop`` / ``in lo:hi``."""
    g = d.domain
    if isinstance(g, ast.GridPopulation):
        pop = populations.get(g.population)
        if pop is None:
            diags.add("E204", f"`{g.population}` is not a population", g.span, did_you_mean(g.population, populations))
            return None, None
        return pop.name, (0, pop.size - 1)
    if isinstance(g, ast.GridRange):
        try:
            lo, hi = eval_const(g.start, consts), eval_const(g.stop, consts)
        except NotConstant as e:
            diags.add("E311", f"the values of state `{d.name}` must be constants: {e.reason}", e.node.span)
            return None, None
        if lo != int(lo) or hi != int(hi) or lo > hi:
            diags.add("E311", f"`{d.name} in {lo:g}:{hi:g}` is not a range of whole numbers lo:hi with lo <= hi",
                      g.span, "write the whole numbers the state can hold, e.g. `in 0:2`")
            return None, None
        return None, (int(lo), int(hi))
    return None, None


def _grid_values(g: ast.Node, populations, consts, diags) -> tuple[float, ...] | None:
    try:
        if isinstance(g, ast.GridSet):
            return tuple(eval_const(v, consts) for v in g.values)
        if isinstance(g, ast.GridRange):
            a, b = eval_const(g.start, consts), eval_const(g.stop, consts)
            s = eval_const(g.step, consts) if g.step is not None else 1.0
            if not all(math.isfinite(x) for x in (a, b, s)):
                diags.add("E507", f"the range {a:g}:{s:g}:{b:g} needs finite bounds and step", g.span)
                return None
            if s == 0 or (b - a) / s < 0:
                diags.add("E507", f"the range {a:g}:{s:g}:{b:g} is empty", g.span)
                return None
            count = (b - a) / s + 1
            if not math.isfinite(count) or count > MAX_GRID:
                diags.add("E109", f"the range {a:g}:{s:g}:{b:g} has {_count(count)} values, above the limit of "
                                  f"{MAX_GRID:,} choices per action", g.span, "use a coarser step")
                return None
            n = int(math.floor((b - a) / s + 1e-9)) + 1
            return tuple(round(a + k * s, 12) for k in range(n))
        if isinstance(g, ast.GridPopulation):
            if g.population not in populations:
                diags.add("E204", f"`{g.population}` is not a population", g.span,
                          did_you_mean(g.population, populations))
                return None
            return tuple(float(k) for k in range(populations[g.population].size))
    except NotConstant as e:
        if isinstance(e.node, ast.Name) and isinstance(g, ast.GridSet):
            # `{no, yes}`: words for choices. The policy picks numbers; the model computes with them.
            diags.add("E507", f"action choices are numbers: `{e.node.id}` is neither a number nor a constant",
                      e.node.span, f"write the choices as numbers, e.g. `{{0, 1}}`, and say what they mean in a "
                                   f"comment (`# 0 = {e.node.id}, 1 = …`)")
            return None
        diags.add("E507", f"action grid values must be constants: {e.reason}", e.node.span)
        return None
    return None


def _interval_bounds(g: ast.GridInterval, consts, diags) -> tuple[float, float] | None:
    """The bounds of a continuous action: constants, finite, lo < hi (E507, E510, E511)."""
    try:
        lo, hi = eval_const(g.lo, consts), eval_const(g.hi, consts)
    except NotConstant as e:
        diags.add("E507", f"interval bounds must be constants: {e.reason}", e.node.span)
        return None
    bad = [(e, v) for e, v in ((g.lo, lo), (g.hi, hi)) if not math.isfinite(v)]
    for e, v in bad:
        diags.add("E510", f"a continuous action needs finite bounds; this one is {v:g}", e.span,
                  "give the interval finite ends, e.g. `in [0, 100]` (the policy draws from a bounded "
                  "distribution)")
    if bad:
        return None
    if not lo < hi:
        diags.add("E511", f"the interval [{lo:g}, {hi:g}] is empty or a single point", g.span,
                  "write the lower bound first; a fixed value is a constant, not an action")
        return None
    return lo, hi


def _action_head(agent: str, d: ast.Action, populations, consts, diags) -> ActionHead | None:
    if d.per is not None and d.per not in populations:
        diags.add("E204", f"`{d.per}` is not a population", d.span, did_you_mean(d.per, populations))
        return None
    if len(d.grids) != len(d.names):
        diags.add("E507", f"{len(d.names)} action name(s) but {len(d.grids)} grid(s) in the product", d.span,
                  "write `(a, b) in X × Y` with one grid per name")
        return None
    intervals = [isinstance(g, ast.GridInterval) for g in d.grids]
    if any(intervals):
        if not all(intervals):
            diags.add("E512", "a joint action mixes an interval with a grid", d.span,
                      "declare the continuous and the discrete components as separate actions")
            return None
        bounds = [_interval_bounds(g, consts, diags) for g in d.grids]
        if any(b is None for b in bounds):
            return None
        return ActionHead(agent, d, d.names, d.per, (0,) * len(d.names), ((),) * len(d.names), continuous=True,
                          bounds=tuple(bounds))  # type: ignore[arg-type]
    values = []
    for g in d.grids:
        v = _grid_values(g, populations, consts, diags)
        if v is None:
            return None
        if not v:
            diags.add("E507", "an action grid is empty", g.span)
            return None
        values.append(v)
    if math.prod(len(v) for v in values) > MAX_GRID:
        diags.add("E109", f"the action `{', '.join(d.names)}` has {math.prod(len(v) for v in values):,} combined "
                          f"choices, above the limit of {MAX_GRID:,} per action", d.span,
                  "use coarser grids, or separate actions")
        return None
    return ActionHead(agent, d, d.names, d.per, tuple(len(v) for v in values), tuple(values))


def load(path: str | Path, diags: Diagnostics | None = None) -> tuple[Resolved | None, Diagnostics]:
    """Parse and resolve a file. Returns (resolved or None if it could not be built, diagnostics)."""
    diags = diags if diags is not None else Diagnostics()
    model = load_ast(path, diags)
    if model is None:
        return None, diags
    return resolve(model, diags, str(path)), diags
