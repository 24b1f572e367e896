#!/usr/bin/env bash
# The paper's experiments at the quick preset's scale (docs/paper-reproduction.md, section 5): 64 replicas ×
# 400 iterations per run (256,000 env-steps, ≈ 1/1000 of the paper's samples, 16× the CPU protocol of
# paper_cpu.sh), the model's own `quick` preset unchanged (N_a = 80, D = 30, 1 epoch of 4 minibatches,
# threads = 1). One training process at a time: about 8 min per run on a quiet 2-core machine, 20–40 min
# while other jobs share it.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-sweeps/paper-quick}
E=${ECONDSL:-econdsl}

# 1. Closed economy (the open economy's quick runs are in docs/results.md).
$E compare models/rbc_closed.econ --preset quick --jobs 1 --out "$OUT/open_closed"
$E train models/rbc_closed.econ --preset quick --seed 1 --out "$OUT/closed/seed1"

# 2. Best response (table 3) on an open quick run: every type, the run's PPO, 30 iterations.
RUN=${OPEN_RUN:-$OUT/open/seed0}
[ -d "$RUN" ] || $E train models/rbc_open.econ --preset quick --seed 0 --out "$RUN"
$E best-response "$RUN" --iterations 30 --eval-iterations 4

# 3. Fixed tax rates (figure 5), both rates at 0.2, then 0.6, from the first iteration.
for rate in 0.2 0.6; do
    $E train bench/experiments/rbc_fixed_tax.econ --preset quick --set tax_rate=$rate --seed 0 \
        --out "$OUT/fixed_tax_$rate/seed0"
done
