"""Chosen actions as the values an economist declared (``hours = 520``), not as grid indices."""

from __future__ import annotations

import itertools

import numpy as np


def action_values(resolved, agent: str, chosen: np.ndarray | None,
                  real: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``chosen``: grid indices as the evaluation records them, ``[T, E, n_agents, columns]``; ``real``: the
    values drawn for continuous heads, ``[T, E, n_agents, real columns]``. Returns each action component's
    value by name: ``[T, E, n_agents]``, or ``[T, E, n_agents, members]`` for a per-member head
    (``demand[Firm]``). Components that choose a population member keep the member index."""
    from .curriculum import head_layout

    layout = head_layout(resolved, agent)
    out: dict[str, np.ndarray] = {}
    for k, head in enumerate(resolved.heads[agent]):
        if head.continuous:
            if real is None:
                continue
            for j, name in enumerate(head.components):
                cols = [c for c, kc in enumerate(layout.real_columns) if kc == (k, j)]
                v = real[..., cols].astype(float)
                out[name] = v if head.per else v[..., 0]
            continue
        if chosen is None:
            continue
        cols = [c for c, h in enumerate(layout.columns) if h == k]
        idx = chosen[..., cols]  # [T, E, n, reps]
        combos = np.array(list(itertools.product(*head.values)), dtype=float)  # [choices, components]
        for j, name in enumerate(head.components):
            v = combos[np.clip(idx, 0, len(combos) - 1), j]
            out[name] = v if head.per else v[..., 0]
    return out
