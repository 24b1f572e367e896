"""The CPU benchmarks of two source trees side by side: old and new code measured in turn, round after round.

Issue 16 asks that the CPU paths keep their speed while the GPU path is made lean. One process cannot import two
versions of econdsl, so this script alternates processes instead: in every round it runs ``bench/env_step.py``
and ``bench/train.py`` of each tree once (``--repeats 1``, each tree's own interpreter and model file), so that
the old and the new code see the same machine load within a round; the rows of each (tree, script, size,
variant) are reduced to their median over the rounds. Ratios new / old come from those medians.

    python bench/side_by_side.py --tree old=/work/wt/old16 --tree new=. --rounds 5 \
        --out bench/results/cpu_side_by_side.json

Each tree needs a ``.venv`` with econdsl installed from that tree (``pip install -e``). ``--new-env-args`` and
``--new-train-args`` add options that only the newer scripts know (``--obs whole split``, ``--lean off on``) to the
last tree's runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

# The row fields that name a variant within one script's output (the rest are measurements or machine facts).
KEYS = ("bench", "kind", "envs", "mode", "action_dtype", "obs", "variant", "lean", "capture", "preset", "threads")
# A new variant (int8 actions, split observations, the lean rollout) is compared with the old code's default.
MATCH = ("bench", "kind", "envs", "mode", "dtype", "preset", "threads")
MEASURED = ("env_steps_per_s", "agent_steps_per_s", "rollout_s", "update_s")


def run_script(tree: Path, script: str, args: list[str]) -> list[dict]:
    """Rows of one run of ``tree``'s ``bench/<script>`` with its own interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [str(tree / ".venv" / "bin" / "python"), str(tree / "bench" / script), *args, "--out", str(out)]
        subprocess.run(cmd, cwd=tree, check=True, stdout=subprocess.DEVNULL)
        text = out.read_text()
    if script == "train.py":  # JSON lines
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)["rows"]


def variant(row: dict) -> tuple:
    """The row's naming fields as they are (numbers stay numbers in the output)."""
    return tuple((k, row[k]) for k in KEYS if k in row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, metavar="NAME=DIR", help="a source tree (twice)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--env-envs", type=int, nargs="+", default=[64, 1024, 4096])
    ap.add_argument("--train-envs", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--new-env-args", default="", help="extra env_step.py options for the last tree only")
    ap.add_argument("--new-train-args", default="", help="extra train.py options for the last tree only")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    trees = [(n, Path(d).resolve()) for n, d in (t.split("=", 1) for t in a.tree)]
    env_args = ["--envs", *map(str, a.env_envs), "--modes", "eager", "compiled", "--repeats", "1", "--threads", "1",
                "--baseline"]
    train_args = ["--envs", *map(str, a.train_envs), "--warmup", "1", "--repeats", "1"]
    runs: dict[tuple, list[dict]] = {}
    t0 = time.time()
    for r in range(a.rounds):
        for i, (name, tree) in enumerate(trees):
            last = i == len(trees) - 1
            for script, args in (("env_step.py", env_args + (shlex.split(a.new_env_args) if last else [])),
                                 ("train.py", train_args + (shlex.split(a.new_train_args) if last else []))):
                for row in run_script(tree, script, args):
                    runs.setdefault((name, script, variant(row)), []).append(row)
        print(f"round {r + 1}/{a.rounds} done at {time.time() - t0:.0f} s", flush=True)
    rows = []
    for (name, script, var), got in runs.items():
        row = {"tree": name, "script": script, **dict(var), "rounds": len(got),
               "commit": got[0].get("commit"), "loadavg_1m_at_start": [g.get("loadavg_1m_at_start") for g in got]}
        for m in MEASURED:
            vals = [g[m] for g in got if isinstance(g.get(m), (int, float))]
            if vals:
                row[m] = statistics.median(vals)
                row[m + "_all"] = vals
        rows.append(row)
    old, new = trees[0][0], trees[-1][0]
    ratios = []
    for row in rows:
        if row["tree"] != new:
            continue
        match = [o for o in rows if o["tree"] == old and o["script"] == row["script"] and
                 all(o.get(k) == row.get(k) for k in MATCH)]
        if match and "env_steps_per_s" in row and "env_steps_per_s" in match[0]:
            ratios.append({"script": row["script"], **{k: row[k] for k in KEYS if k in row},
                           f"{new}/{old}": round(row["env_steps_per_s"] / match[0]["env_steps_per_s"], 3)})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"machine": describe(), "trees": {n: str(d) for n, d in trees}, "rounds": a.rounds,
                                 "wall_s": round(time.time() - t0, 1), "rows": rows, "ratios": ratios}, indent=1))
    for q in ratios:
        print(json.dumps(q))


if __name__ == "__main__":
    main()
