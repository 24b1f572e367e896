"""Accounting closure: the money budgets of all agents change only by the declared external flows.

A money budget is a state whose unit is ``money``. Walras' law for one step says that
Σ over budgets and members of (next B − B) − Σ external flows = 0 identically, whatever the states,
actions and parameters are. The check builds that sum symbolically on a shrunken economy (at most 2
members per population, so ``size(P)`` is the shrunken size too), with

* states, actions and parameters as SymPy symbols (one per member);
* gathers such as ``w[employer[j]]`` rewritten as Σ_i w_i·[employer_j = i];
* ``ifelse(c, a, b)`` as ``b + [c]·(a − b)`` and ``max``/``min`` as such choices, where ``[c]`` is an
  indicator atom of a comparison of canonically expanded expressions (``&&`` a product, ``!`` one minus);
* functions inlined; everything else nonlinear (powers, ``log`` ...) kept as it is,

then expands it, with the model's constant values substituted. Step quantities start as symbols and
are expanded, latest first and outside comparisons, only while the residual is not zero, so terms cancel
at the shallowest level they can. E901 names the budgets and the shortest form of the residual (with
constant names when a second, budgeted expansion keeps them symbolic). When the expansion grows past a
size bound the check makes no claim.
"""

from __future__ import annotations

import itertools
import math

import sympy

from .. import ast
from ..diagnostics import Diagnostics
from ..resolve import Resolved
from .units import of

GT = sympy.Function("gt")  # [x > 0]
GE = sympy.Function("ge")  # [x >= 0]
EQ = sympy.Function("eq")  # [x == 0]
NZ = sympy.Function("nz")  # [x != 0] for a number used as a condition
MAX_MEMBERS = 2
DISPLAY_NODES = 5000  # budget of the expansion with named constants, which only improves the message
MAX_NODES = 50000  # expression size beyond which the expansion stops (see check_accounting)


class _Unsupported(Exception):
    pass


class _TooLarge(Exception):
    """The residual grew too large to expand further; carries the last one computed."""

    def __init__(self, residual: sympy.Expr, changes: dict[str, sympy.Expr]):
        super().__init__()
        self.residual, self.changes = residual, changes


def _size(e: sympy.Expr, limit: int) -> int:
    n = 0
    for _ in sympy.preorder_traversal(e):
        n += 1
        if n > limit:
            break
    return n


def _expand(e: sympy.Expr) -> sympy.Expr:
    return sympy.expand(e, power_base=False, power_exp=False, log=False)


def _rational(v: float) -> sympy.Expr:
    if math.isinf(v):
        raise _Unsupported
    return sympy.Integer(int(v)) if v == int(v) else sympy.Rational(repr(v))


def _canon(x: sympy.Expr) -> sympy.Expr:
    x = sympy.expand(x)
    return -x if x.could_extract_minus_sign() else x


class _Economy:
    def __init__(self, r: Resolved, substitute_consts: bool):
        self.r = r
        self.subst = substitute_consts
        self.members = _sizes(r)
        self.defs: dict[str, ast.Equation] = {}
        for eq in r.equations:
            if not eq.is_next:
                self.defs.setdefault(eq.name, eq)
        self.order = {eq.name: k for k, eq in reversed(list(enumerate(r.equations))) if not eq.is_next}
        self.quantities: dict[sympy.Symbol, tuple[str, tuple[int, ...]]] = {}
        self.memo: dict[sympy.Symbol, sympy.Expr] = {}
        self.depth = 0

    # ------------------------------------------------------------ leaves
    def leaf(self, name: str, idx: tuple[int, ...]) -> sympy.Expr:
        sym = self.r.symbols.get(name)
        if sym is None:
            if name == "t":
                return sympy.Symbol("t")
            raise _Unsupported
        if sym.kind == "const":
            if self.subst and name in self.r.consts:
                return _rational(self.r.consts[name])
            return sympy.Symbol(name)
        if sym.kind in ("state", "param", "action"):
            return sympy.Symbol(f"{name}[{','.join(map(str, idx))}]" if idx else name)
        if sym.kind == "quantity":
            q = sympy.Symbol(f"{name}[{','.join(map(str, idx))}]" if idx else name)
            if not isinstance(getattr(self.defs.get(name), "value", None), ast.Draw):
                self.quantities[q] = (name, idx)  # a draw stays a leaf, like an action
            return q
        raise _Unsupported

    def definition(self, q: sympy.Symbol) -> sympy.Expr:
        """A quantity symbol's right-hand side, in terms of states, actions and earlier quantity symbols."""
        if q not in self.memo:
            name, idx = self.quantities[q]
            eq = self.defs[name]
            if len(eq.indices) != len(idx):
                raise _Unsupported
            self.memo[q] = self.ev(eq.value, dict(zip(eq.indices, idx, strict=True)))
        return self.memo[q]

    def position(self, q: sympy.Symbol) -> int:
        return self.order[self.quantities[q][0]]

    def dims(self, name: str) -> tuple[str, ...]:
        sym = self.r.symbols.get(name)
        if sym is None:
            raise _Unsupported
        return sym.dims

    # ------------------------------------------------------------ expressions
    def ev(self, e: ast.Expr, env: dict[str, int]) -> sympy.Expr:
        self.depth += 1
        if self.depth > 200:
            raise _Unsupported
        try:
            return self._ev(e, env)
        finally:
            self.depth -= 1

    def _ev(self, e: ast.Expr, env: dict[str, int]) -> sympy.Expr:
        if isinstance(e, ast.Num):
            return _rational(e.value)
        if isinstance(e, ast.Name):
            if e.id in env:
                return sympy.Integer(env[e.id])
            if self.dims(e.id) if e.id in self.r.symbols else ():
                raise _Unsupported  # a whole vector
            return self.leaf(e.id, ())
        if isinstance(e, ast.Index):
            return self._index(e, env)
        if isinstance(e, ast.UnOp):
            v = self.ev(e.operand, env)
            return 1 - self.truth(e.operand, env) if e.op == "!" else (-v if e.op == "-" else v)
        if isinstance(e, ast.BinOp):
            if e.op in ("&&", "||", "==", "!=", "<", "<=", ">", ">="):
                return self.truth(e, env)
            a, b = self.ev(e.left, env), self.ev(e.right, env)
            if e.op == "+":
                return a + b
            if e.op == "-":
                return a - b
            if e.op == "*":
                return a * b
            if e.op == "/":
                return a / b
            if e.op == "^":
                return a ** b
            raise _Unsupported
        if isinstance(e, ast.Ternary):
            return self.choose(self.truth(e.cond, env), self.ev(e.then, env), self.ev(e.other, env))
        if isinstance(e, ast.Call):
            return self._call(e, env)
        if isinstance(e, ast.Reduce):
            return self._reduce(e, env)
        raise _Unsupported

    @staticmethod
    def choose(c: sympy.Expr, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
        return b + c * (a - b)

    def truth(self, e: ast.Expr, env: dict[str, int]) -> sympy.Expr:
        """A 0/1 expression for a condition."""
        if isinstance(e, ast.UnOp) and e.op == "!":
            return 1 - self.truth(e.operand, env)
        if isinstance(e, ast.BinOp):
            if e.op == "&&":
                return self.truth(e.left, env) * self.truth(e.right, env)
            if e.op == "||":
                a, b = self.truth(e.left, env), self.truth(e.right, env)
                return a + b - a * b
            if e.op in ("==", "!=", "<", "<=", ">", ">="):
                a, b = self.ev(e.left, env), self.ev(e.right, env)
                if e.op == ">":
                    return GT(sympy.expand(a - b))
                if e.op == "<":
                    return GT(sympy.expand(b - a))
                if e.op == ">=":
                    return GE(sympy.expand(a - b))
                if e.op == "<=":
                    return GE(sympy.expand(b - a))
                eq = EQ(_canon(a - b))
                return eq if e.op == "==" else 1 - eq
        v = self.ev(e, env)
        if self._is_truth(e):
            return v
        return NZ(_canon(v))

    def _is_truth(self, e: ast.Expr) -> bool:
        """A quantity whose equation is a condition (``ρ[i] = D[i] > 0 && ...``) is already 0/1."""
        name = e.id if isinstance(e, ast.Name) else e.base if isinstance(e, ast.Index) else None
        eq = self.defs.get(name) if name else None
        v = eq.value if eq is not None else None
        return isinstance(v, ast.BinOp) and v.op in ("&&", "||", "==", "!=", "<", "<=", ">", ">=") or (
            isinstance(v, ast.UnOp) and v.op == "!")

    def _index(self, e: ast.Index, env: dict[str, int]) -> sympy.Expr:
        table = self.r.tables.get(e.base)
        if table is not None:  # Σ_k table[k]·[ix = k], over every index
            total = sympy.Integer(0)
            for flat, combo in enumerate(itertools.product(*[range(n) for n in table.shape])):
                weight = sympy.Mul(*[EQ(_canon(self.ev(ix, env) - k)) if not self.ev(ix, env).is_Integer
                                     else sympy.Integer(int(self.ev(ix, env) == k))
                                     for ix, k in zip(e.indices, combo, strict=True)])
                total += weight * _rational(table.values[flat])
            return total
        dims = self.dims(e.base)
        if len(dims) != len(e.indices):
            raise _Unsupported
        choices: list[list[tuple[int, sympy.Expr]]] = []
        for ix, dim in zip(e.indices, dims, strict=True):
            n = self.members.get(dim, 1)
            v = self.ev(ix, env)
            if v.is_Integer:
                choices.append([(min(int(v), n - 1), sympy.Integer(1))])
            else:  # a gather: Σ_k x_k·[ix = k]
                choices.append([(k, EQ(_canon(v - k))) for k in range(n)])
        total = sympy.Integer(0)
        for combo in itertools.product(*choices):
            idx = tuple(k for k, _ in combo)
            weight = sympy.Mul(*[w for _, w in combo])
            total += weight * self.leaf(e.base, idx)
        return total

    def _call(self, e: ast.Call, env: dict[str, int]) -> sympy.Expr:
        f = e.func
        if f == "size" and len(e.args) == 1 and isinstance(e.args[0], ast.Name):
            return sympy.Integer(self.members.get(e.args[0].id, 1))
        if f == "ifelse" and len(e.args) == 3:
            return self.choose(self.truth(e.args[0], env), self.ev(e.args[1], env), self.ev(e.args[2], env))
        args = [self.ev(a, env) for a in e.args]
        if f in ("max", "min") and args:
            return self.extreme(f, args)
        if f == "clamp" and len(args) == 3:
            x, lo, hi = args
            m = self.choose(GT(sympy.expand(hi - x)), x, hi)
            return self.choose(GT(sympy.expand(lo - m)), lo, m)
        if f == "abs" and len(args) == 1:
            return self.choose(GE(sympy.expand(args[0])), args[0], -args[0])
        unary = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "floor": sympy.floor, "ceil": sympy.ceiling}
        if f in unary and len(args) == 1:
            return unary[f](args[0])
        fn = self.r.functions.get(f)
        if fn is not None:
            params = [self.ev(a, env) for a in e.params]
            local = {p.name: v for p, v in zip(fn.inputs + fn.params, args + params, strict=False)}
            return _Inline(self, local).ev(fn.body, {})
        raise _Unsupported

    def _reduce(self, e: ast.Reduce, env: dict[str, int]) -> sympy.Expr:
        n = self.members.get(e.over)
        if n is None:
            raise _Unsupported
        terms = []
        for k in range(n):
            inner = {**env, e.var: k}
            body = self.ev(e.body, inner)
            if e.cond is not None:
                body = self.truth(e.cond, inner) * body if e.op in ("sum", "mean") else body
            terms.append(body)
        if e.op == "sum":
            return sympy.Add(*terms)
        if e.op == "mean":
            return sympy.Add(*terms) / n
        if e.op == "prod":
            return sympy.Mul(*terms)
        return self.extreme(e.op, terms)

    def extreme(self, op: str, terms: list[sympy.Expr]) -> sympy.Expr:
        """The largest (``op == "max"``) or smallest of ``terms``, as a chain of choices."""
        out = terms[0]
        for b in terms[1:]:
            c = GT(sympy.expand(out - b)) if op == "max" else GT(sympy.expand(b - out))
            out = self.choose(c, out, b)
        return out


class _Inline(_Economy):
    """A function body: its parameters are bound to the SymPy values of the call's arguments."""

    def __init__(self, outer: _Economy, local: dict[str, sympy.Expr]):
        self.__dict__.update(outer.__dict__)
        self.local = local
        self.outer = outer

    def _ev(self, e: ast.Expr, env: dict[str, int]) -> sympy.Expr:
        if isinstance(e, ast.Name) and e.id in self.local:
            return self.local[e.id]
        return super()._ev(e, env)


def _cancel_denominators(e: sympy.Expr) -> sympy.Expr:
    """``e`` with the terms over each common denominator added and divided out where the division is
    exact: ``expand`` leaves ``x·w₀/(w₀+w₁) + x·w₁/(w₀+w₁) − x`` as three terms; the first two are
    ``x·(w₀+w₁)/(w₀+w₁) = x``, so the residual is 0. (Where a denominator is zero the domains check
    reports the division.) Terms are grouped by denominator, so the cost stays that of the divisions."""
    groups: dict[sympy.Expr, list[sympy.Expr]] = {}
    for term in sympy.Add.make_args(e):
        numerator, denominator = sympy.fraction(term)
        groups.setdefault(denominator, []).append(numerator)
    if all(d == 1 or len(ns) == 1 for d, ns in groups.items()):
        return e  # no two terms share a denominator: nothing can cancel this way
    out = []
    for denominator, numerators in groups.items():
        numerator = _expand(sympy.Add(*numerators))
        if denominator != 1 and len(numerators) > 1:
            try:
                quotient, remainder = sympy.div(numerator, denominator)
            except (sympy.PolynomialError, sympy.polys.polyerrors.PolificationFailed):
                remainder = numerator
            if remainder == 0:
                out.append(quotient)
                continue
        out.append(numerator / denominator)
    return _expand(sympy.Add(*out))


def _budgets(r: Resolved) -> list[str]:
    return [s.name for s in r.symbols.values() if s.kind == "state" and of(s.unit) == (("money", 1),)]


def _canonical_atoms(e: sympy.Expr) -> sympy.Expr:
    """Re-canonicalise indicator arguments after a substitution changed them."""
    return e.replace(lambda x: isinstance(x, sympy.Function) and x.func in (EQ, NZ),
                     lambda x: x.func(_canon(x.args[0])))


def _outer_symbols(e: sympy.Expr) -> set[sympy.Symbol]:
    """Symbols outside indicator atoms. A quantity that appears only inside comparisons is left as a
    symbol: equal comparisons are built from equal symbols, so expanding them cannot make terms cancel."""
    out: set[sympy.Symbol] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x.is_Symbol:
            out.add(x)
        elif not (isinstance(x, sympy.Function) and x.func in (GT, GE, EQ, NZ)):
            stack.extend(x.args)
    return out


def _subst_outer(e: sympy.Expr, subs: dict[sympy.Symbol, sympy.Expr]) -> sympy.Expr:
    """``e`` with quantity symbols replaced outside indicator atoms (see :func:`_outer_symbols`)."""
    if e in subs:
        return subs[e]
    if not e.args or (isinstance(e, sympy.Function) and e.func in (GT, GE, EQ, NZ)):
        return e
    args = [_subst_outer(a, subs) for a in e.args]
    return e.func(*args) if any(a is not b for a, b in zip(args, e.args, strict=True)) else e


def _choice_completeness(r: Resolved, eco: _Economy) -> dict[sympy.Expr, sympy.Expr]:
    """An action that chooses a member of P chooses exactly one: [a = n-1] = 1 − Σ_{k<n-1} [a = k].

    Without this, a payment gathered by the payee (Σ_j [shop_j = i]·spent_j) would not cancel the
    payer's plain ``spent_j``.
    """
    out: dict[sympy.Expr, sympy.Expr] = {}
    for sym in r.symbols.values():
        if sym.kind != "action" or sym.chooses is None or sym.chooses not in eco.members:
            continue
        n = eco.members[sym.chooses]
        for idx in itertools.product(*(range(eco.members.get(d, 1)) for d in sym.dims)):
            a = eco.leaf(sym.name, idx)
            out[EQ(_canon(a - (n - 1)))] = 1 - sympy.Add(*[EQ(_canon(a - k)) for k in range(n - 1)])
    return out


def _balance(r: Resolved, budgets: list[str], substitute: bool, max_nodes: int = 0):
    """(final residual, (most readable residual, its per-budget changes), final per-budget changes).

    Step quantities start as symbols. While the residual is not zero, the quantities defined last in
    the step are replaced by their right-hand sides, so that terms cancel at the shallowest level they
    can (``c[j, i]`` cancels between spending and sales without expanding the rationing behind it).
    """
    eco = _Economy(r, substitute)
    limit = max_nodes or MAX_NODES
    changes: dict[str, sympy.Expr] = {}
    for eq in r.equations:
        if not (eq.is_next and eq.name in budgets):
            continue
        sym = r.symbols[eq.name]
        total = sympy.Integer(0)
        for members in itertools.product(*(range(eco.members.get(d, 1)) for d in sym.dims)):
            env = dict(zip(eq.indices, members, strict=False))
            total += eco.ev(eq.value, env) - eco.leaf(eq.name, members)
        changes[eq.name] = changes.get(eq.name, sympy.Integer(0)) + total
    externals = sympy.Add(*[eco.ev(ex.value, {}) for ex in r.externals])
    complete = _choice_completeness(r, eco)

    def normal(e: sympy.Expr) -> sympy.Expr:
        e = _expand(e.xreplace(complete)) if complete else e
        return _cancel_denominators(e)

    residual = normal(_expand(sympy.Add(*changes.values()) - externals))
    # The most readable non-zero residual seen (fewest terms) is the one reported.
    best = (residual, changes)
    for _ in range(len(r.equations) + 1):
        if residual == 0:
            break
        # every level has the same value; the shortest form is shown, the deepest of equally short ones
        if len(sympy.Add.make_args(residual)) <= len(sympy.Add.make_args(best[0])):
            best = (residual, changes)
        present = [q for q in _outer_symbols(residual) if q in eco.quantities]
        if not present:
            break
        last = max(eco.position(q) for q in present)
        subs = {q: eco.definition(q) for q in present if eco.position(q) == last}
        replaced = _subst_outer(residual, subs)
        if _size(replaced, limit) > limit:
            raise _TooLarge(*best)
        residual = normal(_canonical_atoms(_expand(replaced)))
        if _size(residual, limit) > limit:
            raise _TooLarge(*best)
        changes = {k: _subst_outer(v, subs) for k, v in changes.items()}
    return residual, best, changes


def check_accounting(r: Resolved, diags: Diagnostics) -> None:
    budgets = _budgets(r)
    if not budgets:
        return
    # The model's constant values decide: the identity must hold for the economy as written. Constants
    # as symbols are tried afterwards, with a small budget, only to show the residual with their names.
    try:
        residual, best, _ = _balance(r, budgets, substitute=True)
    except (_TooLarge, _Unsupported, RecursionError, TypeError, ValueError, ZeroDivisionError):
        return  # the expansion did not finish: imbalance is not proven, so nothing is claimed
    if residual == 0:
        return
    shown_residual, changes = best
    try:
        _, named, _ = _balance(r, budgets, substitute=False, max_nodes=DISPLAY_NODES)
    except _TooLarge as e:
        named = (e.residual, e.changes)
    except (_Unsupported, RecursionError, TypeError, ValueError, ZeroDivisionError):
        named = None
    if named is not None and named[0] != 0 and \
            len(sympy.Add.make_args(named[0])) <= len(sympy.Add.make_args(shown_residual)):
        shown_residual, changes = named
    terms = sympy.Add.make_args(shown_residual)
    owners = []
    choice = _choice_completeness(r, _Economy(r, False))
    for name, ch in changes.items():
        mine = set(sympy.Add.make_args(_expand(_canonical_atoms(_expand(ch)).xreplace(choice))))
        if any(t in mine for t in terms):
            owners.append(name)
    shown = ", ".join(_term(t) for t in terms[:3]) + (f" and {len(terms) - 3} more" if len(terms) > 3 else "")
    where = next((eq for eq in r.equations if eq.is_next and eq.name in (owners or budgets)), None)
    span = where.value.span if where is not None else r.model.span
    who = ", ".join(f"`{o}`" for o in owners) if owners else ", ".join(f"`{b}`" for b in budgets)
    notes = [f"checked on a shrunken economy with {', '.join(f'{n} {p}' for p, n in _sizes(r).items())} "
             "member(s); terms are written with member numbers"]
    indicators = (GT, GE, EQ, NZ)
    if any(isinstance(a, sympy.Function) and a.func in indicators for t in terms for a in sympy.preorder_traversal(t)):
        notes.append("gt(x), ge(x), eq(x), nz(x) stand for the indicators [x > 0], [x ≥ 0], [x = 0], [x ≠ 0]")
    diags.add("E901", f"money does not balance: the changes of {who} leave {shown} unaccounted for", span,
              "every payment must leave one budget and arrive in another; declare money entering or leaving "
              "the economy in the `accounting` section (`external name = ...`)", *notes)


def _sizes(r: Resolved) -> dict[str, int]:
    return {p.name: (1 if p.singleton else min(p.size, MAX_MEMBERS)) for p in r.populations.values()}


def _term(t: sympy.Expr) -> str:
    s = str(t).replace("**", "^")
    return f"`{s}`" if len(s) <= 60 else f"`{s[:57]}...`"
