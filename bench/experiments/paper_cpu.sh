#!/usr/bin/env bash
# The paper's experiments (Curry et al. 2022) at the scale this 2-core CPU allows.
# Results: docs/paper-reproduction.md (tables written by bench/experiments/paper_tables.py).
#
# CPU protocol (every run): the `quick` preset of models/rbc_open.econ (compressed curriculum), further
# cut to 8 replicas × 200 iterations, annealing window N_a = 40 (firms train from 40, the government from
# 80), decay D = 15, 2 PPO epochs (the paper uses 2 or 4), one torch thread. That is 16,000 env-steps per
# run, about 1/16000 of the paper's 256 M. Runs are sequential (--jobs 1): the machine is shared with
# other jobs, which left this one about half a core (2-3 s per iteration at 16 replicas).
#
# Full scale on a GPU: drop CPU and pass `--device cuda` (the model's own train section is the paper's
# configuration: 128 replicas, 200,000 iterations, N_a = 30,000, D = 10,000, 4 epochs), e.g.
#   econdsl compare models/rbc_open.econ models/rbc_closed.econ --seeds 3 --device cuda --out sweeps/paper-gpu/open_closed
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-sweeps/paper-cpu}
CPU=(--preset quick --envs 8 --iterations 200 --set N_a=40 --set D_decay=15 --set epochs=2 --set threads=1 --jobs 1)
E=${ECONDSL:-econdsl}

# 1. Open vs closed economy (2 seeds each), then more open-economy seeds for the spread of equilibria
#    (figure 7). The second command reuses the first's finished open runs (same directory, same flags).
$E compare models/rbc_open.econ models/rbc_closed.econ --seeds 2 "${CPU[@]}" --out "$OUT/open_closed"
$E compare models/rbc_open.econ --seeds "${OPEN_SEEDS:-4}" "${CPU[@]}" --out "$OUT/open_closed"

# 2. Fixed tax rates vs the learned government (figure 5): both rates fixed at 0.2 … 0.8 from the first
#    iteration (see bench/experiments/rbc_fixed_tax.econ); the learned government is the open runs above.
$E sweep bench/experiments/rbc_fixed_tax.econ --set tax_rate=0.2,0.4,0.6,0.8 "${CPU[@]}" --out "$OUT/fixed_tax"

# 3. Best responses (table 3) on the open economy's seed-0 run: every type, vanilla PG as in the paper
#    and PPO (econdsl's default).
RUN="$OUT/open_closed/runs/rbc_open/seed0"
$E best-response "$RUN" --iterations "${BR_ITERS:-30}" --seeds 2 --paper --eval-iterations 4 --out "$RUN/best_response_pg"
$E best-response "$RUN" --iterations "${BR_ITERS:-30}" --seeds 2 --eval-iterations 4

# 4. Tables and figures for docs/paper-reproduction.md.
${PYTHON:-python} bench/experiments/paper_tables.py "$OUT"
