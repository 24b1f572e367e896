"""Names: undeclared names (with "did you mean"), shadowing, kinds of names and function arity.

Codes: E201 undeclared, E202 duplicate parameter, E203 shadowing, E204 unknown population, E206 a name
used in a way its kind does not allow, E207 unknown function or wrong arity, E504 ``next`` of something
that is not a state.
"""

from __future__ import annotations

from .. import ast
from ..diagnostics import Diagnostics, did_you_mean
from ..parser import REDUCTIONS
from ..resolve import BUILTIN_FUNCTIONS, BUILTIN_NAMES, DISTRIBUTIONS, Resolved
from ._sites import CURRICULUM_NAMES, Site, curriculum_consts, sites

# Which kinds of declared names each context may read (absent context: every kind).
_ALLOWED_KINDS = {
    "const": {"const"}, "dist": {"const"}, "bounds": {"const"}, "function": {"const", "function"},
    "param": {"const", "param"}, "init": {"const", "param"},
    "curriculum": {"const"}, "anneal": {"const"}, "allow": {"const"},
}
_CTX_WORDS = {
    "const": "a constant", "dist": "a distribution's arguments", "bounds": "bounds",
    "function": "a function body", "param": "a parameter's value", "init": "a state's initial value",
    "curriculum": "the curriculum", "anneal": "the curriculum", "allow": "the curriculum",
}
_KIND_WORDS = {
    "const": "constant", "param": "parameter", "state": "state", "action": "action", "quantity": "step quantity",
    "function": "function", "external": "external flow",
}
# Contexts that run while the episode runs, where the step counter `t` exists.
_TIME_CTX = {"step", "next", "reward", "observe", "external"}


def check_names(r: Resolved, diags: Diagnostics) -> None:
    cur = curriculum_consts(r)
    for site in sites(r):
        _Walker(r, diags, site, cur).visit(site.expr, dict(site.bound))
    for eq in r.equations:
        if not eq.is_next:
            continue
        sym = r.symbols.get(eq.name)
        if sym is None:
            states = [s.name for s in r.symbols.values() if s.kind == "state"]
            diags.add("E201", f"`next {eq.name}`: `{eq.name}` is not declared", eq.target_span,
                      did_you_mean(eq.name, states) or "declare it as a `state` of its agent")
        elif sym.kind != "state":
            diags.add("E504", f"`next {eq.name}`: `{eq.name}` is a {_KIND_WORDS.get(sym.kind, sym.kind)}, "
                      "not a state", eq.target_span,
                      f"declare `{eq.name}` as a state, or drop `next` to define a step quantity")
    _check_declarations(r, diags)


def _check_recursion(r: Resolved, diags: Diagnostics) -> None:
    """A function that calls itself, directly or through others (E207): the compiler inlines calls."""
    calls = {name: [c for c in fn.body.walk() if isinstance(c, ast.Call) and c.func in r.functions]
             for name, fn in r.functions.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            f = todo.pop()
            if f == goal:
                return True
            if f not in seen:
                seen.add(f)
                todo += [c.func for c in calls.get(f, ())]
        return False

    for name, inner in calls.items():
        for c in inner:
            if reaches(c.func, name):
                via = "itself" if c.func == name else f"itself through `{c.func}`"
                diags.add("E207", f"`{name}` calls {via}: recursion is not supported", c.span,
                          "functions are inlined where they are called; write the repetition out, or use a reduction")
                break


def _check_declarations(r: Resolved, diags: Diagnostics) -> None:
    """Shadowing by agent indices and function parameters; distributions of parameters."""
    _check_recursion(r, diags)
    for name, pop in r.populations.items():
        for ix in pop.indices:
            if ix in r.symbols:
                diags.add("E203", f"the index `{ix}` of `{name}` has the name of a declared "
                          f"{_KIND_WORDS.get(r.symbols[ix].kind, 'name')}", r.agents[name].span,
                          "choose another index name")
    for f in r.functions.values():
        seen: set[str] = set()
        for fp in f.inputs + f.params:
            if fp.name in seen:
                diags.add("E202", f"`{f.name}` has two parameters named `{fp.name}`", fp.span)
            seen.add(fp.name)
            sym = r.symbols.get(fp.name)
            # Only constants and functions are visible in a body, so only they can be shadowed.
            if sym is not None and sym.kind in ("const", "function"):
                diags.add("E203", f"parameter `{fp.name}` of `{f.name}` shadows the {_KIND_WORDS[sym.kind]} "
                          f"`{fp.name}`", fp.span, "rename the parameter")
    for ag in r.agents.values():
        for d in ag.decls:
            if isinstance(d, ast.Param) and d.dist is not None:
                dist = d.dist
                if dist.func not in DISTRIBUTIONS:
                    diags.add("E207", f"`{dist.func}` is not a distribution", dist.span,
                              did_you_mean(dist.func, DISTRIBUTIONS)
                              or "distributions: " + ", ".join(DISTRIBUTIONS))
                elif len(dist.args) != DISTRIBUTIONS[dist.func]:
                    diags.add("E207", f"`{dist.func}` takes {DISTRIBUTIONS[dist.func]} arguments, "
                              f"not {len(dist.args)}", dist.span, _DIST_HINT[dist.func])


_DIST_HINT = {
    "Uniform": "Uniform(lo, hi)", "Normal": "Normal(mean, sd)", "LogNormal": "LogNormal(mu, sigma) of log x",
    "Pareto": "Pareto(scale, shape)",
}


class _Walker:
    def __init__(self, r: Resolved, diags: Diagnostics, site: Site, cur: dict[str, ast.Const]):
        self.r, self.diags, self.site = r, diags, site
        ctx = site.ctx
        self.local: set[str] = set()
        if ctx in ("curriculum", "anneal", "allow"):
            self.local |= set(CURRICULUM_NAMES) | set(cur)
        if ctx == "allow" and site.agent in r.heads:
            self.local |= {c for h in r.heads[site.agent] for c in h.components}
        if ctx == "function" and isinstance(site.node, ast.Function):
            self.local |= {p.name for p in site.node.inputs + site.node.params}

    # ------------------------------------------------------------ helpers
    def _candidates(self, bound: dict[str, str]) -> list[str]:
        allowed = _ALLOWED_KINDS.get(self.site.ctx)
        names = [s.name for s in self.r.symbols.values() if allowed is None or s.kind in allowed]
        return names + list(bound) + sorted(self.local) + sorted(BUILTIN_NAMES)

    def _kind_ok(self, name: str, kind: str, span: ast.Span) -> bool:
        allowed = _ALLOWED_KINDS.get(self.site.ctx)
        if allowed is None or kind in allowed:
            if kind == "external":
                self.diags.add("E206", f"`{name}` is an external flow of the accounting section; it cannot be read",
                               span, "use the expression it stands for")
                return False
            return True
        if self.site.ctx in ("curriculum", "anneal", "allow"):
            return True  # the settings check explains what a curriculum may read (E1001)
        what = _KIND_WORDS.get(kind, kind)
        self.diags.add("E206", f"{_CTX_WORDS[self.site.ctx]} cannot use the {what} `{name}`", span,
                       _CTX_HINTS.get(self.site.ctx, "use constants here"))
        return False

    # ------------------------------------------------------------ the walk
    def visit(self, e: ast.Expr, bound: dict[str, str]) -> None:
        if isinstance(e, ast.Name):
            self._name(e, bound)
        elif isinstance(e, ast.Index):
            self._index(e, bound)
        elif isinstance(e, ast.Call):
            self._call(e, bound)
        elif isinstance(e, ast.Reduce):
            self._reduce(e, bound)
        else:
            for c in e.children():
                if isinstance(c, ast.Expr):
                    self.visit(c, bound)

    def _name(self, e: ast.Name, bound: dict[str, str]) -> None:
        n = e.id
        if n in bound or n in self.local:
            return
        if n in BUILTIN_NAMES:
            if self.site.ctx not in _TIME_CTX:
                self.diags.add("E206", f"`{n}` (the step within the episode) is not known in "
                               f"{_CTX_WORDS.get(self.site.ctx, 'this context')}", e.span)
            return
        sym = self.r.symbols.get(n)
        if sym is None:
            if self.r.population_of_index(n) is not None:
                return  # an index not bound here: the shapes check reports it (E305)
            if n in self.r.populations:
                self.diags.add("E206", f"`{n}` is a population, not a value", e.span,
                               f"use `size({n})`, or a reduction such as `sum(x[k] for k in {n})`")
                return
            self.diags.add("E201", f"`{n}` is not declared", e.span,
                           did_you_mean(n, self._candidates(bound)))
            return
        if sym.kind == "function":
            self.diags.add("E206", f"`{n}` is a function; call it with arguments", e.span,
                           f"write `{n}(...)`")
            return
        self._kind_ok(n, sym.kind, e.span)

    def _index(self, e: ast.Index, bound: dict[str, str]) -> None:
        n = e.base
        for ix in e.indices:
            self.visit(ix, bound)
        if n in bound or n in self.local:
            self.diags.add("E206", f"`{n}` is an index, not a quantity; it cannot be indexed", e.span)
            return
        sym = self.r.symbols.get(n)
        if sym is None:
            if n in self.r.populations:
                self.diags.add("E206", f"`{n}` is a population, not a quantity; it cannot be indexed", e.span)
                return
            self.diags.add("E201", f"`{n}` is not declared", e.base_span, did_you_mean(n, self._candidates(bound)))
            return
        if sym.kind == "function":
            self.diags.add("E206", f"`{n}` is a function; call it with `(...)`, not `[...]`", e.span,
                           f"write `{n}(...)`")
            return
        if not self._kind_ok(n, sym.kind, e.base_span):
            return
        if not sym.dims and not sym.shape:
            owner = f" of the single agent `{sym.owner}`" if sym.owner else ""
            self.diags.add("E206", f"`{n}` is a scalar{owner}; it takes no index", e.span, f"write `{n}`")

    def _call(self, e: ast.Call, bound: dict[str, str]) -> None:
        f = e.func
        if f == "next":
            for a in e.args:
                self.visit(a, bound)
            return  # reading next values is a timing error (E402)
        if f == "size":
            self._size(e)
            return
        for a in e.args + e.params:
            self.visit(a, bound)
        if f in BUILTIN_FUNCTIONS:
            lo, hi = BUILTIN_FUNCTIONS[f]
            if e.params:
                self.diags.add("E207", f"`{f}` takes no parameters after `;`", e.span)
            elif not lo <= len(e.args) <= hi:
                want = str(lo) if lo == hi else f"at least {lo}"
                hint = (f"for the {f} over a population write `{f}(x[k] for k in Pop)`"
                        if f in REDUCTIONS else None)
                self.diags.add("E207", f"`{f}` takes {want} argument{'s' if lo != 1 else ''}, "
                               f"not {len(e.args)}", e.span, hint)
            return
        if f in self.r.functions:
            fn = self.r.functions[f]
            if len(e.args) != len(fn.inputs) or len(e.params) != len(fn.params):
                want = _signature(fn)
                self.diags.add("E207", f"`{f}` takes {_arity_words(fn)}, not "
                               f"{_arity_words_call(e)}", e.span, f"its signature is `{want}`")
            return
        if f in REDUCTIONS:
            self.diags.add("E207", f"`{f}` needs a generator", e.span,
                           f"write `{f}(x[k] for k in Pop)`")
            return
        sym = self.r.symbols.get(f)
        if sym is not None:
            self.diags.add("E206", f"`{f}` is a {_KIND_WORDS.get(sym.kind, sym.kind)}, not a function", e.span,
                           f"index it with `{f}[...]`" if sym.dims else None)
            return
        known = list(BUILTIN_FUNCTIONS) + list(self.r.functions)
        self.diags.add("E207", f"`{f}` is not a function", e.span,
                       did_you_mean(f, known) or "declare it with `function`, `utility` or `production`")

    def _size(self, e: ast.Call) -> None:
        if len(e.args) != 1 or e.params:
            self.diags.add("E207", f"`size` takes one population, not {len(e.args)} arguments", e.span,
                           "write `size(Consumer)`")
            return
        a = e.args[0]
        if not isinstance(a, ast.Name):
            self.diags.add("E206", "`size` takes the name of a population", a.span, "write `size(Consumer)`")
        elif a.id not in self.r.populations:
            self.diags.add("E204", f"`{a.id}` is not a population", a.span,
                           did_you_mean(a.id, self.r.populations) or "use the name of an `agent` block")

    def _reduce(self, e: ast.Reduce, bound: dict[str, str]) -> None:
        if e.op not in REDUCTIONS:
            self.diags.add("E207", f"`{e.op}` is not a reduction", e.span,
                           did_you_mean(e.op, REDUCTIONS) or "reductions: " + ", ".join(REDUCTIONS))
        inner = dict(bound)
        if e.over not in self.r.populations:
            self.diags.add("E204", f"`{e.over}` is not a population", e.over_span,
                           did_you_mean(e.over, self.r.populations) or "use the name of an `agent` block")
        else:
            v = e.var
            if v in self.r.symbols:
                self.diags.add("E203", f"the reduction variable `{v}` shadows the declared "
                               f"{_KIND_WORDS.get(self.r.symbols[v].kind, 'name')} `{v}`", e.span,
                               "choose another variable name")
            elif v in bound:
                self.diags.add("E203", f"the reduction variable `{v}` shadows the index `{v}` bound outside it",
                               e.span, "choose another variable name")
            else:
                owner = self.r.population_of_index(v)
                if owner is not None and owner != e.over:
                    idx = self.r.populations[e.over].index
                    self.diags.add("E203", f"`{v}` is the index of {owner}, but here it ranges over {e.over}",
                                   e.span, f"write `for {idx or 'k'} in {e.over}`")
            inner[v] = e.over
        self.visit(e.body, inner)
        if e.cond is not None:
            self.visit(e.cond, inner)


_CTX_HINTS = {
    "function": "pass the value as an argument (or after `;` as a parameter)",
    "param": "parameters may use constants, other parameters and the agent's index",
    "init": "initial values may use constants, parameters and the agent's index",
    "const": "constants may use numbers and earlier constants only",
    "dist": "distribution arguments are constants",
    "bounds": "bounds are constants",
}


def _signature(fn: ast.Function) -> str:
    ins = ", ".join(p.name for p in fn.inputs)
    ps = ", ".join(p.name for p in fn.params)
    return f"{fn.name}({ins}{'; ' + ps if ps else ''})"


def _arity_words(fn: ast.Function) -> str:
    s = f"{len(fn.inputs)} argument{'s' if len(fn.inputs) != 1 else ''}"
    if fn.params:
        s += f" and {len(fn.params)} parameter{'s' if len(fn.params) != 1 else ''} after `;`"
    return s


def _arity_words_call(e: ast.Call) -> str:
    s = f"{len(e.args)}"
    if e.params:
        s += f" and {len(e.params)} after `;`"
    return s
