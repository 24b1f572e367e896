"""Summarise trained runs of models/aiyagari.econ: the second half of each run's evaluation episode.

    python scripts/aiyagari_runs.py RUN [RUN ...]

Prints, per run: the interest rate (mean over periods and replicas, and the standard error of the
replicas' means), capital, and mean assets and saving rates by productivity state; the criteria of
tests/trainer/test_aiyagari.py are the same numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from econdsl.language import check_model
from econdsl.trainer import evaluate


def summary(run: Path) -> str:
    arrays, _ = evaluate.load(run)
    grid = np.array(check_model(run / "model.econ").heads["Household"][0].values[0])
    a, e, r = arrays["series/a"], arrays["series/e"], arrays["series/r"]
    late = slice(a.shape[0] // 2, None)
    a, e, r, s = a[late], e[late], r[late], grid[arrays["action/Household"][late][..., 0]]
    replicas = r.mean(axis=0)
    se = replicas.std(ddof=1) / np.sqrt(len(replicas))
    assets = ", ".join(f"{a[e == k].mean():.2f}" for k in range(3))
    saving = ", ".join(f"{s[e == k].mean():.3f}" for k in range(3))
    return (f"{run}: r = {replicas.mean():.4f} (s.e. {se:.4f}, {len(replicas)} replicas), K = {a.mean():.2f}, "
            f"assets by state {assets}, saving rate by state {saving}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summary(Path(arg)))
