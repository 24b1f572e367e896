"""Curriculum and training settings, and features the trainer does not run yet.

Codes: E1001 an invalid curriculum item, E1002 an unknown training setting or a value of the wrong
type, E1010 a
setting outside its allowed range (the trainer's ``config.value_problem``), E1030 a malformed ``obs_scale``,
W1010 a setting that cannot take effect with the others of its block (``digits`` without
``obs_norm = "digits"``).

The vocabulary of ``train`` settings is the trainer's :class:`~econdsl.trainer.config.TrainConfig`:
its fields, the per-type fields that may be set as ``name[Type]``, and the allowed string choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ast
from ..allow import interval_limits
from ..diagnostics import Diagnostics, did_you_mean
from ..resolve import NotConstant, Resolved, eval_const
from ._sites import CURRICULUM_NAMES, const_env, curriculum_consts


@dataclass(frozen=True)
class Vocabulary:
    types: dict[str, str]  # setting -> "int" | "float" | "bool" | "str" | "ints"
    per_type: frozenset[str]
    choices: dict[str, tuple[str, ...]]


def _kind(annotation: object) -> str:
    text = str(annotation)
    if text.startswith("tuple") or text.startswith("list"):
        return "ints"
    for k in ("bool", "int", "float", "str"):
        if text == k or text == f"<class '{k}'>":
            return k
    return "float"


def vocabulary() -> Vocabulary:
    """The trainer's settings, read from its config dataclass."""
    from dataclasses import fields

    from ...trainer import config

    types = {f.name: _kind(f.type) for f in fields(config.TrainConfig) if f.name != "per_type"}
    per_type = frozenset(getattr(config, "PER_TYPE", ()))
    choices = {k: tuple(v) for k, v in getattr(config, "CHOICES", {}).items()}
    return Vocabulary(types, per_type, choices)


def check_settings(r: Resolved, diags: Diagnostics) -> None:
    _curriculum(r, diags)
    if r.train is not None:
        _train(r, diags)


# ---------------------------------------------------------------- curriculum


def _curriculum(r: Resolved, diags: Diagnostics) -> None:
    if r.curriculum is None:
        return
    cur = curriculum_consts(r)
    model_consts = {s.name for s in r.symbols.values() if s.kind == "const"}
    trained: dict[str, ast.TrainFrom] = {}
    for item in r.curriculum.items:
        if isinstance(item, ast.Const):
            continue
        agent = getattr(item, "agent", None)
        if agent is not None and agent not in r.agents:
            diags.add("E1001", f"`{agent}` is not an agent type", item.span,
                      did_you_mean(agent, r.agents) or "agent types: " + ", ".join(r.agents))
            continue
        if isinstance(item, ast.TrainFrom):
            if agent in trained:
                diags.add("E1001", f"`train {agent}` appears twice (first on line {trained[agent].span.line})",
                          item.span, "give each agent type one start")
            trained[item.agent] = item
            _names(r, diags, item.start, set(model_consts) | set(cur), "a training start", item.agent)
        elif isinstance(item, ast.Anneal):
            if item.name not in model_consts:
                hint = did_you_mean(item.name, model_consts) or "anneal a `const` of the model"
                what = "a curriculum constant" if item.name in cur else "not a constant of the model"
                diags.add("E1001", f"`anneal {item.name}`: `{item.name}` is {what}", item.span, hint)
            _names(r, diags, item.value, set(model_consts) | set(cur) | {"e"}, "an annealing schedule", None)
        elif isinstance(item, ast.Allow):
            comps = {c for h in r.heads.get(item.agent, []) for c in h.components}
            _names(r, diags, item.cond, set(model_consts) | set(cur) | set(CURRICULUM_NAMES) | comps,
                   "an `allow` condition", item.agent)
            _continuous_allow(r, diags, item)
        elif isinstance(item, ast.Entropy):
            _names(r, diags, item.value, set(model_consts) | set(cur) | set(CURRICULUM_NAMES),
                   "an entropy schedule", item.agent)


def _continuous_allow(r: Resolved, diags: Diagnostics, item: ast.Allow) -> None:
    """E1020: an `allow` on a continuous action must be bounds on it (it narrows the interval)."""
    names = {n.id for n in item.cond.walk() if isinstance(n, ast.Name)}
    for h in r.heads.get(item.agent, []):
        if h.continuous and names & set(h.components):
            bad = interval_limits(item.cond, h.components)
            if isinstance(bad, ast.Node):
                comps = ", ".join(f"`{c}`" for c in h.components)
                diags.add("E1020", f"an `allow` condition on the continuous action {comps} must bound it",
                          bad.span, f"write bounds joined by `&&`, e.g. `allow {item.agent} if "
                          f"{h.components[0]} <= 10 + e / 100`; they narrow the interval")


def _names(r: Resolved, diags: Diagnostics, e: ast.Expr, allowed: set[str], what: str, agent: str | None) -> None:
    bound: set[str] = set()
    for n in e.walk():
        if isinstance(n, ast.Reduce):
            bound.add(n.var)
        name = n.id if isinstance(n, ast.Name) else n.base if isinstance(n, ast.Index) else None
        if name is None or name in allowed or name in bound:
            continue
        sym = r.symbols.get(name)
        if name in CURRICULUM_NAMES:
            diags.add("E1001", f"{what} cannot use `{name}`", n.span,
                      "`age` counts an agent type's own training; only per-type items (`allow`, `entropy`) have it"
                      if name == "age" else "a training start is a constant number of iterations")
        elif sym is not None:
            kind = {"action": "an action of another agent type" if sym.owner != agent else "an action",
                    "state": "a state", "param": "a parameter", "quantity": "a step quantity"}.get(sym.kind, sym.kind)
            diags.add("E1001", f"{what} cannot use `{name}`, {kind}", n.span,
                      "the curriculum may read `e`, `age`, constants and (in `allow`) the type's own action "
                      "components")


# ---------------------------------------------------------------- train settings


def _train(r: Resolved, diags: Diagnostics) -> None:
    assert r.train is not None
    try:
        vocab = vocabulary()
    except ImportError:  # the trainer is not installed: settings cannot be checked
        return
    cur = curriculum_consts(r)
    consts = {s.name for s in r.symbols.values() if s.kind == "const"} | set(cur)
    env = const_env(r)
    errors_before = len(diags.errors)
    _settings(r, diags, r.train.settings, vocab, consts, env, "")
    seen: set[str] = set()
    for p in r.train.presets:
        if p.name in seen:
            diags.add("E1002", f"preset `{p.name}` is defined twice", p.span)
        seen.add(p.name)
        _settings(r, diags, p.settings, vocab, consts, env, f" in preset `{p.name}`")
    if len(diags.errors) == errors_before:  # the blocks' configurations can be built
        _inert(r, diags)


def _settings(r: Resolved, diags: Diagnostics, settings: tuple[ast.Setting, ...], vocab: Vocabulary,
              consts: set[str], env: dict[str, float], where: str) -> None:
    seen: set[tuple[str, str | None]] = set()
    for s in settings:
        key = (s.name, s.agent)
        label = f"{s.name}[{s.agent}]" if s.agent else s.name
        if key in seen:
            diags.add("E1002", f"`{label}` is set twice{where}", s.span, "keep one")
        seen.add(key)
        if s.name in consts and s.name not in vocab.types:
            if s.agent is not None:
                diags.add("E1002", f"the constant `{s.name}` cannot be set per agent type", s.span)
            elif _number(s.value, env) is None:
                diags.add("E1002", f"`{s.name}` is a constant and needs a number", s.value.span)
            continue
        if s.name not in vocab.types:
            diags.add("E1002", f"`{s.name}` is not a training setting{where}", s.span,
                      did_you_mean(s.name, list(vocab.types) + sorted(consts))
                      or "see the train section of docs/language.md for the settings")
            continue
        if s.agent is not None:
            if s.name not in vocab.per_type:
                diags.add("E1002", f"`{s.name}` cannot be set per agent type", s.span,
                          "per-type settings: " + ", ".join(sorted(vocab.per_type)))
                continue
            if s.agent not in r.agents:
                diags.add("E1002", f"`{label}`: `{s.agent}` is not an agent type", s.span,
                          did_you_mean(s.agent, r.agents) or "agent types: " + ", ".join(r.agents))
                continue
        problem = _type_problem(s, vocab, env)
        if problem:
            diags.add("E1002", f"`{label}` {problem}", s.value.span, _TYPE_HINTS.get(vocab.types[s.name]))
        elif (problem := _range_problem(s, env)) is not None:
            diags.add("E1010", f"`{label}` {problem}", s.value.span, "see the train section of docs/language.md")
        elif s.name == "entropy_exclude" and isinstance(s.value, ast.Str):
            _entropy_exclude(r, diags, s, label)


def _entropy_exclude(r: Resolved, diags: Diagnostics, s: ast.Setting, label: str) -> None:
    """Each name of ``entropy_exclude`` must be an action of the type (of some type when set for all)."""
    from ...trainer.config import names

    agents = [s.agent] if s.agent else list(r.agents)
    known = sorted({c for a in agents for h in r.heads.get(a, ()) for c in h.components})
    whose = f"`{s.agent}`" if s.agent else "any agent type"
    for name in names(s.value.value):
        if name not in known:
            diags.add("E1002", f"`{label}` names `{name}`, which is not an action of {whose}", s.value.span,
                      did_you_mean(name, known) or "actions: " + (", ".join(known) or "none"))


_TYPE_HINTS = {
    "int": "write a whole number, e.g. `400`", "float": "write a number, e.g. `0.001`",
    "bool": "write `true` or `false`", "ints": "write a list of whole numbers, e.g. `[128, 128]`",
    "str": "write a string in double quotes",
}


def _number(e: ast.Expr, env: dict[str, float]) -> float | None:
    try:
        return eval_const(e, env)
    except (NotConstant, RecursionError):
        return None


def _type_problem(s: ast.Setting, vocab: Vocabulary, env: dict[str, float]) -> str | None:
    kind = vocab.types[s.name]
    v = s.value
    if kind == "str":
        choices = vocab.choices.get(s.name)
        text = v.value if isinstance(v, ast.Str) else v.id if isinstance(v, ast.Name) else None
        if text is None:
            return "needs a string" + (f": one of {', '.join(choices)}" if choices else "")
        if choices and text not in choices:
            return f"must be one of {', '.join(choices)}, not `{text}`"
        return None
    if kind == "bool":
        if isinstance(v, ast.Name) and v.id in ("true", "false"):
            return None
        x = _number(v, env)
        return None if x in (0.0, 1.0) else "must be true or false"
    if kind == "ints":
        items = v.items if isinstance(v, ast.Array) else (v,)
        for it in items:
            x = _number(it, env)
            if x is None or not math.isfinite(x) or x != int(x):
                return "needs a list of whole numbers"
        return None
    x = _number(v, env)
    if x is None:
        return "needs a number"
    if kind == "int" and (not math.isfinite(x) or x != int(x)):
        return f"needs a whole number, not {x:g}"
    return None


def _range_problem(s: ast.Setting, env: dict[str, float]) -> str | None:
    """The trainer's range rule for a setting whose type is right (E1010)."""
    from ...trainer.config import value_problem

    if isinstance(s.value, ast.Array):
        value = [_number(it, env) for it in s.value.items]
    else:
        value = _number(s.value, env)
    return value_problem(s.name, value) if value is not None else None


# ---------------------------------------------------------------- settings that cannot take effect


def _inert(r: Resolved, diags: Diagnostics) -> None:
    """W1010 for each setting that the other values of its block disable (the train section alone, or the
    train section with the preset it is written in), judged on the configuration the trainer would build."""
    from ...trainer.config import ConfigError, build_layers, inert, parse_scales

    assert r.train is not None
    blocks = [(None, r.train.settings)] + [(p.name, p.settings) for p in r.train.presets]
    for preset, settings in blocks:
        for s in settings:
            if s.name == "obs_scale" and isinstance(s.value, ast.Str):
                try:
                    parse_scales(s.value.value)
                except ConfigError as e:
                    diags.add("E1030", str(e), s.value.span, 'write `"name: scale, …"`, e.g. `"p: 2500, w: 44"`')
        try:
            cfg = build_layers(r, preset).config
        except ConfigError:
            continue  # reported as E1002 or E1030, or a value no run could use (the trainer says which)
        where = f"in preset `{preset}`, " if preset else ""
        for s in settings:
            why = inert(cfg, s.name)
            if why is not None:
                diags.add("W1010", where + why[0], s.span, why[1])
