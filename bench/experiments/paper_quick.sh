#!/usr/bin/env bash
# The paper's experiments at the quick preset's scale (docs/paper-reproduction.md, sections 5 and 8), the model's
# own `quick` preset unchanged: since commit 04227d7 32 replicas × 300 iterations (96,000 env-steps), N_a = 60,
# D = 22, government lr 5e-4, 1 epoch of 4 minibatches, threads = 1 (section 5's numbers were measured with the
# earlier 64 × 400, N_a = 80, D = 30; add `--set envs=64 --iterations 400 --set N_a=80 --set D_decay=30
# --set 'lr[Government]=0.00005'` to repeat them). One training process at a time: about 5 min per run with
# one other job on the machine, 15–30 min while many share it.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-sweeps/paper-quick}
E=${ECONDSL:-econdsl}

# 1. Closed economy (the open economy's quick runs are in docs/results.md).
$E compare models/rbc_closed.econ --preset quick --jobs 1 --out "$OUT/open_closed"
$E train models/rbc_closed.econ --preset quick --seed 1 --out "$OUT/closed/seed1"

# 2. Table 3 over 3 seeds (section 8): unilateral and type-level ε of every type, the run's PPO, 30 iterations.
for s in 0 1 2; do
    RUN=$OUT/open/seed$s
    [ -d "$RUN" ] || $E train models/rbc_open.econ --preset quick --seed $s --out "$RUN"
    $E best-response "$RUN" --json --iterations 30 > "$OUT/open/seed$s.json"
done
python bench/experiments/quick_seeds.py "$OUT"/open/seed0 "$OUT"/open/seed1 "$OUT"/open/seed2

# 3. Fixed tax rates (figure 5), both rates at 0.2, then 0.6, from the first iteration.
for rate in 0.2 0.6; do
    $E train bench/experiments/rbc_fixed_tax.econ --preset quick --set tax_rate=$rate --seed 0 \
        --out "$OUT/fixed_tax_$rate/seed0"
done
