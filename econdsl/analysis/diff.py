"""The semantic difference of two models: what changed, by name, not by line.

Both files are flattened first (imports and ``extends`` applied), so a variant is compared with what it
means, not with how it was written. Every named item (a constant, a parameter, an equation, an action,
a curriculum rule, a training setting ...) is keyed by its section and name; two items are equal when
their ASTs are equal, which ignores source positions, comments, spacing and spelling of operators.
Changed expressions are shown in canonical source form.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..language import ast, printer
from ..language.diagnostics import Diagnostics, EconError
from ..language.resolve import NotConstant, eval_const, load_ast
from . import source

# Sections in the order they are reported.
SECTIONS = (
    "model", "populations", "constants", "functions", "parameters", "states", "actions", "observations",
    "rewards", "equations", "accounting", "curriculum", "train",
)


@dataclass(frozen=True)
class Change:
    """One difference. ``status`` is added, removed or changed; ``old``/``new`` are source text."""

    section: str
    name: str
    status: str
    old: str | None
    new: str | None
    note: str = ""


@dataclass
class ModelDiff:
    a: str
    b: str
    a_model: str
    b_model: str
    changes: list[Change] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.changes

    def section(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.section == name]

    def to_json(self) -> str:
        return json.dumps({"a": self.a, "b": self.b, "a_model": self.a_model, "b_model": self.b_model,
                           "identical": self.identical, "changes": [asdict(c) for c in self.changes]},
                          ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        head = f"--- {self.a} (model {self.a_model})\n+++ {self.b} (model {self.b_model})"
        if self.identical:
            return head + "\nno semantic differences"
        lines = [head]
        for sec in SECTIONS:
            cs = self.section(sec)
            if not cs:
                continue
            lines.append(f"{sec}:")
            for c in cs:
                note = f"    ({c.note})" if c.note else ""
                if c.status == "added":
                    lines.append(f"  + {c.name}: {c.new}{note}")
                elif c.status == "removed":
                    lines.append(f"  - {c.name}: {c.old}{note}")
                else:
                    lines.append(f"  ~ {c.name}: {c.old}  →  {c.new}{note}")
        n = {s: sum(c.status == s for c in self.changes) for s in ("added", "removed", "changed")}
        lines.append(f"{n['changed']} changed, {n['added']} added, {n['removed']} removed")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        out = [f"Model diff: `{self.a}` (`{self.a_model}`) → `{self.b}` (`{self.b_model}`)", ""]
        if self.identical:
            out.append("No semantic differences.")
            return "\n".join(out)
        out += ["| section | name | change | before | after |", "|---|---|---|---|---|"]
        for sec in SECTIONS:
            for c in self.section(sec):
                after = (c.new or "") + (f" ({c.note})" if c.note else "")
                out.append(f"| {sec} | `{_md(c.name)}` | {c.status} | {_code(c.old)} | {_code(after)} |")
        return "\n".join(out)


def _md(s: str) -> str:
    return s.replace("|", "\\|")


def _code(s: str | None) -> str:
    return f"`{_md(s)}`" if s else ""


# ---------------------------------------------------------------- items of a model, keyed by name


@dataclass(frozen=True)
class _Item:
    node: object  # an AST node or a tuple of nodes; compared with ==
    text: str
    value: float | None = None  # a constant's evaluated value, when its expression is not a literal

    @property
    def note(self) -> str:
        return f"= {self.value:g}" if self.value is not None else ""


def _const_text(c: ast.Const) -> str:
    return printer.print_decl(c)


def _items(model: ast.Model) -> dict[str, dict[str, _Item]]:
    """Every comparable item of a flat model: section -> name -> item."""
    out: dict[str, dict[str, _Item]] = {s: {} for s in SECTIONS}
    consts: dict[str, float] = {}

    def const(sec: str, key: str, c: ast.Const) -> None:
        value = None
        try:
            consts[c.name] = eval_const(c.value, consts)
            if not isinstance(c.value, ast.Num):
                value = consts[c.name]
        except NotConstant:
            pass
        out[sec][key] = _Item(c, _const_text(c), value)

    for it in model.items:
        if isinstance(it, ast.Horizon):
            out["model"]["horizon"] = _Item(it.value, source.expr(it.value))
        elif isinstance(it, ast.Const):
            const("constants", it.name, it)
        elif isinstance(it, ast.Function):
            out["functions"][it.name] = _Item((it.kind, it.inputs, it.params, it.unit, it.body),
                                              printer.print_decl(it))
        elif isinstance(it, ast.Agent):
            size = source.expr(it.size) if it.size is not None else "1 (singleton)"
            names = ((it.index,) if it.index else ()) + it.more_indices
            idx = f" index {', '.join(names)}" if names else ""
            out["populations"][it.name] = _Item((it.size, names), f"{it.name}[{size}]{idx}")
            _agent_items(it, out)
        elif isinstance(it, ast.Step):
            if it.stages:  # the stages of a period, as one item (their order matters)
                out["equations"]["(stages)"] = _Item(tuple((st.name, st.agents) for st in it.stages), "; ".join(
                    f"stage {st.name}: {', '.join(st.agents)}" for st in it.stages))
            for eq in it.equations:
                key = ("next " if eq.is_next else "") + eq.name
                target = eq.name + (f"[{', '.join(eq.indices)}]" if eq.indices else "")
                text = ("next " if eq.is_next else "") + f"{target} = {source.expr(eq.value)}"
                if eq.stage:
                    text += f"  (stage {eq.stage})"
                out["equations"][key] = _Item((eq.indices, eq.value, eq.is_next, eq.stage), text)
        elif isinstance(it, ast.Accounting):
            for ex in it.externals:
                out["accounting"][ex.name] = _Item(ex.value, f"external {ex.name} = {source.expr(ex.value)}")
        elif isinstance(it, ast.Curriculum):
            allows: dict[str, list[ast.Allow]] = {}
            for c in it.items:
                if isinstance(c, ast.Const):
                    const("curriculum", f"const {c.name}", c)
                elif isinstance(c, ast.TrainFrom):
                    out["curriculum"][f"train {c.agent}"] = _Item(
                        c.start, f"train {c.agent} from {source.expr(c.start)}")
                elif isinstance(c, ast.Anneal):
                    out["curriculum"][f"anneal {c.name}"] = _Item(
                        c.value, f"anneal {c.name} = {source.expr(c.value)}")
                elif isinstance(c, ast.Allow):
                    allows.setdefault(c.agent, []).append(c)
                elif isinstance(c, ast.Entropy):
                    key = "entropy" + (f" {c.agent}" if c.agent else "")
                    out["curriculum"][key] = _Item(c.value, f"{key} = {source.expr(c.value)}")
            # An agent's allow rules act together (their conjunction), so they are compared as a set.
            for agent, rules in allows.items():
                text = " ; ".join(f"allow {agent} if {source.expr(r.cond)}" for r in rules)
                out["curriculum"][f"allow {agent}"] = _Item(frozenset(r.cond for r in rules), text)
        elif isinstance(it, ast.Train):
            for s in it.settings:
                key = s.name + (f"[{s.agent}]" if s.agent else "")
                out["train"][key] = _Item(s.value, f"{key} = {source.expr(s.value)}")
            for p in it.presets:
                for s in p.settings:
                    key = f"preset {p.name}: " + s.name + (f"[{s.agent}]" if s.agent else "")
                    out["train"][key] = _Item(s.value, f"{s.name} = {source.expr(s.value)}")
    return out


def _agent_items(ag: ast.Agent, out: dict[str, dict[str, _Item]]) -> None:
    for d in ag.decls:
        if isinstance(d, ast.Param):
            out["parameters"][d.name] = _Item((ag.name, d), f"{ag.name}: {printer.print_decl(d)}")
        elif isinstance(d, ast.State):
            out["states"][d.name] = _Item((ag.name, d), f"{ag.name}: {printer.print_decl(d)}")
        elif isinstance(d, ast.Action):
            out["actions"][d.name] = _Item((ag.name, d), f"{ag.name}: {printer.print_decl(d)}")
        elif isinstance(d, ast.Observe):
            out["observations"][ag.name] = _Item(d.items, ", ".join(source.expr(x) for x in d.items))
        elif isinstance(d, ast.Reward):
            out["rewards"][ag.name] = _Item(d.value, source.expr(d.value))


# ---------------------------------------------------------------- the diff


def diff_models(a: ast.Model, b: ast.Model, a_name: str = "A", b_name: str = "B") -> ModelDiff:
    """Compare two flat models (variants already applied)."""
    ia, ib = _items(a), _items(b)
    result = ModelDiff(a_name, b_name, a.name, b.name)
    for sec in SECTIONS:
        xa, xb = ia[sec], ib[sec]
        for name, item in xa.items():
            if name not in xb:
                result.changes.append(Change(sec, name, "removed", item.text, None, item.note))
            elif xb[name].node != item.node:
                other = xb[name]
                note = ""
                if item.value is not None or other.value is not None:
                    va = "?" if item.value is None else f"{item.value:g}"
                    vb = "?" if other.value is None else f"{other.value:g}"
                    note = f"value {va} → {vb}"
                result.changes.append(Change(sec, name, "changed", item.text, other.text, note))
        for name, item in xb.items():
            if name not in xa:
                result.changes.append(Change(sec, name, "added", None, item.text, item.note))
    return result


def load_flat(path: str | Path) -> ast.Model:
    """Parse a file and apply its imports and ``extends``; raise :class:`EconError` on errors."""
    diags = Diagnostics()
    model = load_ast(path, diags)
    if model is None or diags.has_errors():
        raise EconError(diags)
    return model


def diff_files(a: str | Path, b: str | Path) -> ModelDiff:
    return diff_models(load_flat(a), load_flat(b), str(a), str(b))
