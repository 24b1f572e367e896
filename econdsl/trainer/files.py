"""The file names of a run directory (owned by the trainer; read by the analysis tools). No imports, so
that readers of run directories need not import torch."""

CONFIG = "config.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.pt"  # written atomically by the trainer (tmp + rename)
EVAL_SUMMARY = "eval.json"  # episode means of every series, written with eval.npz after training
EVAL_ARRAYS = "eval.npz"
# eval.npz key prefixes of continuous actions: the values taken, the policy's central values (median)
REAL_ACTION, REAL_CENTRAL = "action_real/", "action_real_central/"
