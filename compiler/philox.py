"""Counter-based random numbers for draws inside the step: Philox4x32-10, the same function everywhere.

A draw site (``ε[j] ~ Normal(0, σ)``) is the IR op ``random`` with an integer ``site``. Its uniform at a
point is a pure function of (key, counter): the Philox4x32-10 block cipher (Salmon et al. 2011,
"Parallel random numbers: as easy as 1, 2, 3"; the round constants and order of ``triton.language.philox``)
applied to

- key ``(k0, k1)``: the environment's seed, low and high 32 bits;
- counter ``(c0, c1, c2, c3)`` = (member: the row-major index of the point within the op's dims, ``site``,
  the replica's step counter, the replica's index).

The runtime passes, per replica, the four words ``rng[e] = (k0, k1, step counter, replica)`` (int64
holding uint32 values; see ``backends/__init__.py``). The first two output words ``x0, x1`` make a
52-bit integer ``m = x0·2^20 + (x1 >> 12)``, and the uniform is ``u = (m + 0.5)·2^-52`` in float64:
exact, strictly inside (0, 1), bit-identical on every backend. Float32 programs round it to float32 and
keep it below 1 (``min(u, 1 - 2^-24)``).

This module holds the numpy version (the reference backend) and the torch version (int64 arithmetic
emulating uint32, so that it runs on every device); the Triton printer calls ``tl.philox`` in the kernel.
"""

from __future__ import annotations

import numpy as np
import torch

ROUND_A, ROUND_B = 0xD2511F53, 0xCD9E8D57  # multipliers of c0 and c2
KEY_A, KEY_B = 0x9E3779B9, 0xBB67AE85  # Weyl increments of k0 and k1
ROUNDS = 10
MASK = 0xFFFFFFFF
F32_BELOW_ONE = 1.0 - 2.0 ** -24


def philox_numpy(c0, c1, c2, c3, k0, k1) -> tuple[np.ndarray, ...]:
    """Philox4x32-10 on uint64 arrays holding uint32 values (products below 2^64 are exact)."""
    c0, c1, c2, c3, k0, k1 = (np.asarray(x, dtype=np.uint64) & np.uint64(MASK) for x in (c0, c1, c2, c3, k0, k1))
    a, b, mask = np.uint64(ROUND_A), np.uint64(ROUND_B), np.uint64(MASK)
    for _ in range(ROUNDS):
        pa, pb = a * c0, b * c2
        c0, c1, c2, c3 = ((pb >> np.uint64(32)) ^ c1 ^ k0, pb & mask, (pa >> np.uint64(32)) ^ c3 ^ k1, pa & mask)
        k0, k1 = (k0 + np.uint64(KEY_A)) & mask, (k1 + np.uint64(KEY_B)) & mask
    return c0, c1, c2, c3


def uniform_numpy(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    m = (np.asarray(x0, dtype=np.uint64) << np.uint64(20)) | (np.asarray(x1, dtype=np.uint64) >> np.uint64(12))
    return (m.astype(np.float64) + 0.5) * 2.0 ** -52


def _mulhilo(a: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit words of ``a · x`` for a uint32 constant ``a`` and int64 ``x`` < 2^32, in int64."""
    lo16, hi16 = x & 0xFFFF, x >> 16
    p_lo, p_hi = a * lo16, a * hi16  # each < 2^48
    mid = p_lo + ((p_hi & 0xFFFF) << 16)  # < 2^49
    return (p_hi >> 16) + (mid >> 32), mid & MASK


def philox_torch(c0, c1, c2, c3, k0, k1) -> tuple[torch.Tensor, ...]:
    """Philox4x32-10 on int64 tensors holding uint32 values (the same words as :func:`philox_numpy`)."""
    for _ in range(ROUNDS):
        hb, lb = _mulhilo(ROUND_B, c2)
        ha, la = _mulhilo(ROUND_A, c0)
        c0, c1, c2, c3 = hb ^ c1 ^ k0, lb, ha ^ c3 ^ k1, la
        k0, k1 = (k0 + KEY_A) & MASK, (k1 + KEY_B) & MASK
    return c0, c1, c2, c3


def uniform_torch(x0: torch.Tensor, x1: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    u = ((x0 * 1048576 + (x1 >> 12)).to(torch.float64) + 0.5) * 2.0 ** -52
    u = u.to(dtype)
    return torch.clamp(u, max=F32_BELOW_ONE) if dtype != torch.float64 else u


def seed_words(seed: int) -> tuple[int, int]:
    """The key words (k0, k1) of a seed (any Python int; taken modulo 2^64)."""
    s = int(seed) % 2 ** 64
    return s & MASK, s >> 32


def rng_words(seed: int, counter: int, n_envs: int, device: torch.device | str = "cpu", first: int = 0) -> torch.Tensor:
    """The per-replica words ``[n_envs, 4]`` int64 = (k0, k1, step counter, replica) of one step, for replicas
    ``first..first+n_envs-1`` (a process running a share of a run's replicas passes its first one)."""
    k0, k1 = seed_words(seed)
    out = torch.empty((n_envs, 4), dtype=torch.int64, device=device)
    out[:, 0], out[:, 1], out[:, 2] = k0, k1, int(counter) & MASK
    out[:, 3] = torch.arange(first, first + n_envs, device=device) & MASK
    return out
