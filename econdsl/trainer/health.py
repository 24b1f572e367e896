"""Does a run look like it worked? Checks of a finished run directory, each a finding an economist can act on.

Every check reads the run's own files (``metrics.csv``, ``config.json``, the evaluation episode) and the model
as trained; nothing is model-specific. The thresholds are deliberately coarse: a finding is a reason to look,
not a verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import METRICS

ENTROPY_NEAR_MAX = 0.9  # final entropy above this share of the uniform policy's: the type barely learned
REWARD_DROP = 0.1  # last-tenth mean reward below the first-tenth mean by this share of its size
FLAT_GAIN = 0.02  # no fixed choice of a head gains more than this share of |reward|: close to a best response
COLLAPSE_SHARE = 0.99  # an action at 0 (or a quantity at 0) in this share of agent-steps: activity stopped


@dataclass(frozen=True)
class Finding:
    level: str  # "ok" | "warning" | "problem"
    check: str  # short name of the check
    detail: str

    @property
    def mark(self) -> str:
        return {"ok": "✓", "warning": "⚠", "problem": "✗"}[self.level]


def _floats(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows])


def _head_fractions(rows: list[dict[str, str]], a: str) -> dict[str, float]:
    """Each head's final entropy as a share of its maximum (from the ``a/entropy_fraction[head]`` metrics);
    empty when the run did not log them (one head, older runs)."""
    prefix = f"{a}/entropy_fraction["
    names = [k[len(prefix):-1] for k in (rows[-1] if rows else {}) if k.startswith(prefix) and k.endswith("]")]
    shares = {n: _tenth(_floats(rows, f"{prefix}{n}]"), last=True) for n in names}
    shares = {n: f for n, f in shares.items() if np.isfinite(f)}
    return shares if len(shares) >= 2 else {}


BEST_RESPONSE_RESULTS = Path("best_response") / "epsilon.json"
"""Where ``econdsl best-response RUN`` writes its results by default, relative to the run directory."""


def head_payoffs(run_dir: str | Path) -> dict[str, dict[str, dict]]:
    """Per type and action head, what a fixed choice of the head gains at most (the unilateral screening of
    ``econdsl best-response``, from its default results file; empty when there is none, it is unreadable, or
    it is older than the run's metrics: a run trained again since)."""
    path = Path(run_dir) / BEST_RESPONSE_RESULTS
    try:
        metrics = Path(run_dir) / METRICS
        if metrics.exists() and path.stat().st_mtime < metrics.stat().st_mtime:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {a: dict(e["unilateral"]["heads"]) for a, e in data["types"].items()
                if (e.get("unilateral") or {}).get("heads")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _payoff_note(fractions: dict[str, float], payoffs: dict[str, dict]) -> tuple[str, bool]:
    """The screened gains of each head (best and worst fixed choice), for the entropy finding, and whether every
    head near its maximum entropy is one where no fixed choice gains more than :data:`FLAT_GAIN` of the type's
    mean |reward| (the play there is close to a best response against fixed choices)."""
    if not payoffs:
        return "", False
    parts, near, flat = [], [], []
    for name, h in payoffs.items():
        best, size = h.get("best"), h.get("abs_reward")
        if best is None or not size:
            continue
        worst, se = h.get("worst"), h.get("best_se")
        parts.append(f"{name} {best:+.3g}" + (f" ± {se:.2g}" if se else "") + f" ({100 * best / size:.1f}%"
                     + (f"; worst {worst:+.3g})" if worst is not None else ")"))
        if fractions.get(name, 0.0) > ENTROPY_NEAR_MAX:
            near.append(name)
            if best <= FLAT_GAIN * size:
                flat.append(name)
    if not parts:
        return "", False
    size = next(iter(payoffs.values())).get("abs_reward")
    note = (f"; the best fixed choice of one head gains per step (± its standard error on the screening "
            f"episodes), as a share of the mean |reward| {size:.3g} (`econdsl best-response`, "
            f"{BEST_RESPONSE_RESULTS}): " + ", ".join(parts))
    all_flat = bool(near) and flat == near
    if all_flat:
        note += (f". In the heads near uniform ({', '.join(near)}) no fixed choice gains more than "
                 f"{100 * FLAT_GAIN:.0f}% of it: the play there is close to a best response, not a failure to learn "
                 f"(where the worst fixed choice costs little too, the payoff is flat in the head; where it costs "
                 f"much, the policy already avoids it)")
    return note, all_flat


def _tenth(v: np.ndarray, last: bool) -> float:
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    k = max(1, v.size // 10)
    return float(np.mean(v[-k:] if last else v[:k]))


def check_run(info: dict[str, Any], rows: list[dict[str, str]], types: list[str],
              arrays: dict[str, np.ndarray] | None, resolved: Any | None,
              payoffs: dict[str, dict[str, dict]] | None = None) -> list[Finding]:
    """Every health finding of a run: ``info`` is config.json, ``rows`` metrics.csv, ``arrays`` the evaluation
    episode (None if the run has none), ``resolved`` the model as trained (None if it no longer checks),
    ``payoffs`` what each type's action heads are worth (:func:`head_payoffs`; None: not measured)."""
    out: list[Finding] = []
    limited_types: set[str] = set()
    cfg = info["config"]
    arch = (info.get("architecture") or {}).get("types", {})
    # -- non-finite values
    bad = sorted({k for r in rows for k, v in r.items() if v and v.strip().lower() in ("nan", "inf", "-inf")})
    bad_eval = sorted(k for k, v in (arrays or {}).items() if not np.all(np.isfinite(v)))
    if bad or bad_eval:
        out.append(Finding("problem", "non-finite values",
                           "NaN or infinity in " + ", ".join([f"metrics `{k}`" for k in bad[:6]]
                                                             + [f"evaluation `{k}`" for k in bad_eval[:6]])))
    else:
        out.append(Finding("ok", "non-finite values", "every logged metric and evaluation value is finite"))
    # -- types that never trained, curriculum that never finished
    never = [a for a in types if rows and not np.any(_floats(rows, f"{a}/training") > 0)]
    for a in never:
        out.append(Finding("problem", "type never trained",
                           f"`{a}` never trained in {len(rows)} logged iterations: its policy is the random initial "
                           f"one (raise `iterations`, or start it earlier in the curriculum)"))
    if resolved is not None and cfg.get("curriculum", True) and rows:
        from .curriculum import Curriculum

        try:
            cur = Curriculum(resolved, info.get("curriculum_consts", {}))
            last = int(float(rows[-1]["iteration"]))
            unfinished = [a for a in cur.start if not cur.training(a, last) and a not in never]
            limited = []
            for a in cur.allows:
                m = cur.mask(a, last)
                if m is not None and int(m.sum()) < sum(cur.layouts[a].nvec):
                    limited_types.add(a)
                    limited.append(f"{a} ({100 * int(m.sum()) / sum(cur.layouts[a].nvec):.0f}% of actions allowed)")
            if unfinished or limited:
                out.append(Finding("warning", "curriculum not finished",
                                   f"at the last iteration ({last}) " + "; ".join(
                                       [f"{a} had not started training" for a in unfinished]
                                       + [f"actions still limited: {', '.join(limited)}"] * bool(limited))))
            else:
                out.append(Finding("ok", "curriculum", "finished: every type trains, no action is limited"))
        except Exception as e:  # noqa: BLE001 - a health check must never stop a report
            out.append(Finding("warning", "curriculum", f"could not be replayed ({e})"))
    # -- entropy still near its maximum
    for a in types:
        if a in never:
            continue
        nvec = arch.get(a, {}).get("action_nvec")
        if resolved is not None and any(h.continuous for h in resolved.heads.get(a, ())):
            continue  # a density's entropy has no maximum to compare with
        ent = _floats(rows, f"{a}/entropy")
        if not nvec or not np.any(np.isfinite(ent)):
            continue
        top = float(sum(math.log(n) for n in nvec if n > 1))
        final = _tenth(ent, last=True)
        fractions = _head_fractions(rows, a)
        if not fractions and top > 0 and len((payoffs or {}).get(a, {})) == 1:  # one head: the total is its share
            fractions = {next(iter(payoffs[a])): final / top}
        heads = "; per head: " + ", ".join(f"{n} {100 * f:.0f}%" for n, f in fractions.items()) \
            if len(fractions) >= 2 else ""
        note, flat = _payoff_note(fractions, (payoffs or {}).get(a, {}))
        if top > 0 and final > ENTROPY_NEAR_MAX * top:
            if not note:
                note = (f"; `econdsl best-response RUN` measures whether the payoff depends on "
                        f"{'these heads' if heads else 'these actions'}")
            out.append(Finding("ok" if flat else "warning",
                               "entropy near its maximum, close to a best response" if flat
                               else "entropy near its maximum",
                               f"`{a}`'s policy entropy ends at {final:.3g} of at most {top:.3g} nats "
                               f"({100 * final / top:.0f}%): its actions are still close to uniformly random"
                               + heads + note))
        elif top > 0:
            out.append(Finding("ok", "entropy", f"`{a}`: {final:.3g} of at most {top:.3g} nats "
                                                f"({100 * final / top:.0f}%)" + heads + note))
    # -- falling reward
    for a in types:
        r = _floats(rows, f"{a}/reward")
        trained = _floats(rows, f"{a}/training") > 0
        r = r[trained] if np.any(trained) else r
        first, last = _tenth(r, last=False), _tenth(r, last=True)
        if np.isfinite(first) and np.isfinite(last) and r.size >= 10 and last < first - REWARD_DROP * abs(first):
            out.append(Finding("warning", "falling reward",
                               f"`{a}`'s mean reward fell from {first:.4g} (first tenth of its training) to "
                               f"{last:.4g} (last tenth)" + ("; the curriculum anneals constants, which can "
                                                            "cause this" if resolved is not None and cfg.get(
                                                                "curriculum", True) and _anneals(resolved) else "")))
    # -- collapse: an activity that stopped
    if arrays is not None and resolved is not None:
        out += _collapse(arrays, resolved, skip=limited_types | set(never))
    return out


def _anneals(resolved: Any) -> bool:
    from ..language import ast

    return resolved.curriculum is not None and any(isinstance(i, ast.Anneal) for i in resolved.curriculum.items)


def _collapse(arrays: dict[str, np.ndarray], resolved: Any, skip: set[str]) -> list[Finding]:
    """Actions of goods or hours at 0 for everyone (a warning: zero can be optimal) of types that trained with
    every action allowed; quantities of goods or hours at 0 throughout (a problem: nothing is produced,
    consumed or worked). An action in other units (a tax rate, a price) at 0 is a choice, not an activity
    that stopped."""
    from ..language.checks.units import of, quantity_units, show
    from .actions import action_values

    out = []
    units = quantity_units(resolved)
    for a in resolved.populations:
        if f"action/{a}" not in arrays or a in skip:
            continue
        for name, v in action_values(resolved, a, arrays[f"action/{a}"]).items():  # discrete heads
            grid = [x for h in resolved.heads[a] for c, vals in zip(h.components, h.values, strict=True)
                    if c == name for x in vals]
            sym = resolved.symbols.get(name)
            u = of(sym.unit) if sym is not None else None
            unit = show(u).strip("`") if u else None
            if _activity(unit) and any(x != 0 for x in grid) and 0 in grid and np.mean(v == 0) >= COLLAPSE_SHARE:
                out.append(Finding("warning", "collapse",
                                   f"every `{a}` chose `{name}` = 0 in {100 * np.mean(v == 0):.0f}% of the "
                                   f"evaluation's agent-steps"))
    for key, v in arrays.items():
        kind, name = key.split("/", 1)
        sym = resolved.symbols.get(name)
        if kind == "series" and sym is not None and sym.kind == "quantity" and np.all(v == 0) \
                and _activity(units.get(name)):
            out.append(Finding("problem", "collapse", f"`{name}` is 0 throughout the evaluation episode"))
    if not any(f.check == "collapse" for f in out):
        out.append(Finding("ok", "collapse",
                           "no action is 0 for every agent, no quantity of goods or hours is 0 throughout"))
    return out


def _activity(unit: str | None) -> bool:
    """A quantity measured in goods or hours (production, consumption, labour)."""
    return unit in ("goods", "hours", "goods*hours")


def verdict(findings: list[Finding]) -> str:
    problems = sum(f.level == "problem" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    if problems:
        return f"✗ {problems} problem(s), {warnings} warning(s): the run did not work as trained"
    if warnings:
        return f"⚠ {warnings} warning(s): read them before using the results"
    return "✓ no problem found"
