"""One shared policy and value network per agent type: an MLP trunk, masked multi-head categorical actions
and, for continuous actions, tanh-squashed Gaussian heads.

All discrete heads of a type are one padded logits tensor [batch, n_heads, max_n], so that sampling,
log-probabilities and entropies of every head (and every agent of the type) are single tensor operations,
never Python loops. Padding entries and curriculum-masked actions get a large negative logit (probability
exactly 0 in float32).

A continuous head (``action h in [lo, hi]``) draws ``z ~ Normal(μ(obs), σ)`` (σ a learned parameter per
column, independent of the observation) and acts ``lo + (hi - lo) · (tanh z + 1) / 2``: every value of
the open interval, never outside it. The rollout stores ``z``; its log-probability is that of the
squashed value ``u = (tanh z + 1) / 2``, i.e. the Gaussian's minus ``log du/dz`` (the correction does not
depend on the parameters, so PPO's ratio is the Gaussian's; it makes reported log-probabilities and KL
estimates those of the actions taken). The entropy bonus uses the Gaussian's entropy (the squashed one has
no closed form). Greedy (evaluation) actions are ``z = μ``: the distribution's median.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

MASKED = -1e9  # logit of a forbidden action: exp underflows to 0, so masked actions are never sampled
_HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


class Dist(NamedTuple):
    """A batch of action distributions of one agent type."""

    logp: torch.Tensor  # [B, n_heads, max_n] masked log-probabilities of the discrete heads
    mean: torch.Tensor  # [B, n_real] μ of the continuous heads' Gaussians (before the squash)
    log_std: torch.Tensor  # [n_real] log σ


class Action(NamedTuple):
    """A batch of actions of one agent type."""

    index: torch.Tensor  # [B, n_heads] int64 choices of the discrete heads
    z: torch.Tensor  # [B, n_real] the continuous heads' Gaussian draws (act with real_values)


class SplitObs(NamedTuple):
    """A batch of observations whose shared columns (the same for every member of the type: the global
    state) are kept once per group of rows instead of in every row (the lean rollout's layout).

    Row ``k`` of the batch has the raw columns ``own[k]`` (the type's other columns, in order) and
    ``shared[group[k]]``; ``group`` is an int ``n`` when rows ``j·n … j·n + n - 1`` share ``shared[j]``
    (one replica's members), else an int64 tensor [B] of rows of ``shared``. The policy combines the two
    parts inside its first layer: ``W·x = W_shared·x_shared + W_own·x_own``, the same numbers as on the
    concatenated row up to float rounding (the order of the sums)."""

    shared: torch.Tensor  # [G, n_shared] raw shared columns
    own: torch.Tensor  # [B, obs_dim - n_shared] raw per-member columns
    group: int | torch.Tensor

    def __len__(self) -> int:  # rows of the batch (as for a plain tensor)
        return self.own.shape[0]

    def take(self, idx: torch.Tensor | slice) -> SplitObs:
        """The rows ``idx`` of the batch (shared rows stay whole; the index maps into them)."""
        if isinstance(idx, slice) and idx == slice(None):
            return self
        rows = self.rows()
        return SplitObs(self.shared, self.own[idx], rows[idx])

    def rows(self) -> torch.Tensor:
        """``group`` as an index tensor [B]."""
        if isinstance(self.group, torch.Tensor):
            return self.group
        return torch.arange(len(self), device=self.own.device) // self.group


def rows_of(obs: torch.Tensor | SplitObs) -> int:
    """The batch size of plain or split observations."""
    return len(obs) if isinstance(obs, SplitObs) else obs.shape[0]


def take_rows(obs: torch.Tensor | SplitObs, idx: torch.Tensor | slice) -> torch.Tensor | SplitObs:
    return obs.take(idx) if isinstance(obs, SplitObs) else obs[idx]


def action_dtype(nvec: list[int]) -> torch.dtype:
    """The narrowest signed integer type that holds every choice of the grids ``nvec`` (and the count of
    ``sample``'s comparisons, up to the widest grid): int8 up to 127 choices, int16 up to 32,767."""
    widest = max(nvec, default=1)
    for dt in (torch.int8, torch.int16, torch.int32):
        if widest <= torch.iinfo(dt).max:
            return dt
    return torch.int64


def real_values(z: torch.Tensor, lo_hi: torch.Tensor) -> torch.Tensor:
    """The values of continuous actions: ``z`` [..., n_real] squashed into the bounds ``lo_hi`` [2, n_real]."""
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * (torch.tanh(z) + 1) * 0.5


def squashed_log_prob(mean: torch.Tensor, log_std: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Log-density of u = (tanh z + 1)/2 for z ~ Normal(mean, exp(log_std)), per column: [..., n_real]."""
    gauss = -0.5 * ((z - mean) * torch.exp(-log_std)).square() - log_std - 0.5 * math.log(2 * math.pi)
    # log du/dz = log((1 - tanh² z)/2) = 2·(log 2 - z - softplus(-2z)) - log 2, stable for large |z|
    log_jac = 2.0 * (math.log(2.0) - z - nn.functional.softplus(-2.0 * z)) - math.log(2.0)
    return gauss - log_jac


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class ObsNormalizer(nn.Module):
    """Observation preprocessing: optional digit expansion of some features, then running mean/std of the
    others (``mode = "running"``/``"digits"``) or fixed divisors (``"scaled"``, the paper's code).

    The statistics are buffers (saved in checkpoints) and change only through :meth:`update`, which the
    trainer calls once per iteration after the update, so the rollout and the PPO update of one iteration
    see exactly the same normalisation.
    """

    def __init__(self, obs_dim: int, mode: str = "running", clip: float = 10.0, digit_features: list[int] | None = None,
                 n_digits: int = 10, scales: list[float] | None = None):
        super().__init__()
        self.mode, self.clip, self.n_digits = mode, clip, n_digits
        digits = sorted(digit_features or []) if mode in ("digits", "scaled") else []
        keep = [k for k in range(obs_dim) if k not in set(digits)]
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.long))
        self.register_buffer("digits", torch.tensor(digits, dtype=torch.long))
        self.register_buffer("powers", 10.0 ** torch.arange(1, n_digits + 1, dtype=torch.float64))
        self.out_dim = len(keep) + len(digits) * n_digits
        # "scaled" (the paper's code): fixed divisors of the kept features, no centring, no clipping
        inv = [1.0 / (scales[k] if scales else 1.0) for k in keep] if mode == "scaled" else []
        self.register_buffer("inv_scale", torch.tensor(inv, dtype=torch.float32), persistent=False)  # from the config
        running = mode not in ("none", "scaled")
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(len(keep), dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(len(keep), dtype=torch.float64))
        self.running = running
        self._cache: tuple[torch.dtype, tuple[torch.Tensor, torch.Tensor] | None] | None = None
        self._stale = False  # the statistics changed since the cache was computed

    def _expand(self, x: torch.Tensor) -> torch.Tensor:
        """The paper's digit features of x: (x mod 10^(k+1)) / 10^(k+1), k = 0..n-1 (sign lost, as in the paper)."""
        return self._expand_values(x[:, self.digits])

    def _expand_values(self, cols: torch.Tensor) -> torch.Tensor:
        v = cols.double().unsqueeze(-1)
        return torch.remainder(v, self.powers).div(self.powers).flatten(1).to(cols.dtype)

    def part_index(self, cols: list[int]) -> dict[str, torch.Tensor]:
        """Where the raw columns ``cols`` (sorted) of the observation go: ``keep_local`` / ``digit_local``
        (positions in ``cols`` of the normalised and the digit-expanded features), ``keep_pos`` (their
        positions among the kept features: the statistics' index) and ``out`` (the columns of the
        normalised output that :meth:`forward_part` returns, in its order)."""
        keep, digits = self.keep.tolist(), self.digits.tolist()
        local = {c: j for j, c in enumerate(cols)}
        keep_pos = [i for i, c in enumerate(keep) if c in local]
        dig_q = [q for q, c in enumerate(digits) if c in local]
        out = keep_pos + [len(keep) + q * self.n_digits + r for q in dig_q for r in range(self.n_digits)]
        long = dict(dtype=torch.long, device=self.keep.device)
        return {"keep_local": torch.tensor([local[keep[i]] for i in keep_pos], **long),
                "keep_pos": torch.tensor(keep_pos, **long),
                "digit_local": torch.tensor([local[digits[q]] for q in dig_q], **long),
                "out": torch.tensor(out, **long)}

    def forward_part(self, x: torch.Tensor, part: dict[str, torch.Tensor]) -> torch.Tensor:
        """:meth:`forward` of some of the raw columns (``part`` from :meth:`part_index`): the output columns
        ``part["out"]``, element for element the numbers :meth:`forward` gives for them."""
        v = x[:, part["keep_local"]]
        pos = part["keep_pos"]
        stats = self._stats(v.dtype) if self.running else None
        if self.mode == "scaled":
            v = v * self.inv_scale[pos].to(v.dtype)
        elif stats is not None:
            v = ((v - stats[0][pos]) * stats[1][pos]).clamp(-self.clip, self.clip)
        if len(part["digit_local"]):
            v = torch.cat([v, self._expand_values(x[:, part["digit_local"]])], dim=1)
        return v

    @torch.no_grad()
    def update(self, x: torch.Tensor, shard=None) -> None:
        """Merge a batch [N, obs_dim] of raw observations into the running statistics (Chan et al.).
        ``shard`` (``econdsl.scale.distributed.Shard``): ``x`` is this process's part of the batch; the
        statistics merge the whole batch, the same on every process."""
        if not self.running or len(self.mean) == 0 or (x.shape[0] == 0 and shard is None):
            return
        v = x[:, self.keep] if len(self.digits) else x
        n = float(v.shape[0])
        if shard is None:
            var, mean = torch.var_mean(_wide(v), 0, unbiased=False)
        else:  # two passes over every process's rows, in float64
            n = float(shard.sum(torch.tensor(n, dtype=torch.float64, device=v.device)))
            if n == 0:
                return
            mean = shard.sum(v.double().sum(0)) / n
            var = shard.sum((v.double() - mean).square().sum(0)) / n
        self._merge(mean.double(), var.double(), n)

    @torch.no_grad()
    def update_parts(self, parts: list[tuple[torch.Tensor, dict[str, torch.Tensor]]], n_rows: int) -> None:
        """:meth:`update` of a batch of ``n_rows`` rows given as column parts: (raw columns [M, k], their
        :meth:`part_index`). A part of fewer rows (the shared columns, once per replica) stands for its
        rows repeated equally often, which has the same mean and variance."""
        if not self.running or n_rows == 0 or len(self.mean) == 0:
            return
        mean, var = torch.zeros_like(self.mean), torch.zeros_like(self.m2)
        for x, part in parts:
            if len(part["keep_pos"]) and x.shape[0]:
                pv, pm = torch.var_mean(_wide(x[:, part["keep_local"]]), 0, unbiased=False)
                mean[part["keep_pos"]], var[part["keep_pos"]] = pm.double(), pv.double()
        self._merge(mean, var, float(n_rows))

    def _merge(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        """Chan et al.'s merge of a batch's mean and (biased) variance over ``n`` rows."""
        delta = mean - self.mean
        tot = self.count + n
        self.mean += delta * n / tot
        self.m2 += var * n + delta.square() * self.count * n / tot
        self.count.fill_(tot)
        self._stale = True

    def _stats(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Mean and 1/std in the observations' dtype, recomputed only after an update (None before any).
        Recomputed in place: the tensors stay the same, so that a compiled or captured rollout step reads
        the new statistics."""
        if self._cache is None or self._cache[0] != dtype or self._stale:
            stats = None
            if float(self.count) != 0:  # one host read per update, not per call (the cache keeps the answer)
                std = (self.m2 / self.count).sqrt()
                # Features that have not varied yet keep their scale (÷ |mean|) instead of exploding.
                std = torch.where(std > 1e-6, std, self.mean.abs().clamp_min(1.0))
                stats = (self.mean.to(dtype, copy=True), std.reciprocal().to(dtype))
                old = self._cache[1] if self._cache is not None and self._cache[0] == dtype else None
                if old is not None and not old[0].is_inference():  # (made outside torch.inference_mode)
                    old[0].copy_(stats[0])
                    old[1].copy_(stats[1])
                    stats = old
            self._cache = (dtype, stats)
            self._stale = False
        return self._cache[1]

    def stats_key(self) -> tuple[int, int] | None:
        """Where the prepared statistics live (host-side pointers, no device read; None before any): a
        captured rollout step reads them there."""
        stats = None if self._cache is None else self._cache[1]
        return None if stats is None else (stats[0].data_ptr(), stats[1].data_ptr())

    def prepare(self, dtype: torch.dtype) -> None:
        """Compute the statistics of ``dtype`` now (before a rollout, so that it reads nothing from the
        device while it runs)."""
        if self.running:
            self._stats(dtype)

    def _load_from_state_dict(self, *args, **kwargs):
        self._cache = None
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, self.keep] if len(self.digits) else x
        stats = self._stats(v.dtype) if self.running else None
        if self.mode == "scaled":
            v = v * self.inv_scale.to(v.dtype)
        elif stats is not None:
            v = ((v - stats[0]) * stats[1]).clamp(-self.clip, self.clip)
        if len(self.digits):
            v = torch.cat([v, self._expand(x)], dim=1)
        return v


def _wide(v: torch.Tensor) -> torch.Tensor:
    """The observations' statistics are computed in float32 (float64 observations keep their precision)."""
    return v if v.dtype == torch.float64 else v.float()


def _mlp(width: int, hidden: tuple[int, ...], activation: str) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [layer_init(nn.Linear(width, h)), nn.ReLU() if activation == "relu" else nn.Tanh()]
        width = h
    return nn.Sequential(*layers), width


class TypePolicy(nn.Module):
    """The shared policy and value network of one agent type."""

    def __init__(self, obs_dim: int, nvec: list[int], hidden: tuple[int, ...], obs_norm: str = "running",
                 obs_clip: float = 10.0, digit_features: list[int] | None = None, activation: str = "relu",
                 shared_value: bool = True, obs_scales: list[float] | None = None, n_real: int = 0,
                 shared_columns: list[int] | None = None):
        super().__init__()
        self.nvec = list(nvec)
        self.n_heads, self.max_n = len(nvec), max(nvec, default=1)
        self.n_real = n_real
        self.norm = ObsNormalizer(obs_dim, obs_norm, obs_clip, digit_features, scales=obs_scales)
        # A type that observes nothing sees one constant input: its action distribution is the same in every
        # state (right for a one-shot game), and the network keeps its usual shape.
        self.blind = self.norm.out_dim == 0
        inputs = 1 if self.blind else self.norm.out_dim
        self.trunk, width = _mlp(inputs, hidden, activation)
        self.logits = layer_init(nn.Linear(width, self.n_heads * self.max_n), std=0.01) if self.n_heads else None
        if n_real:  # continuous heads: μ from the trunk, one learned σ per column (σ = 1 at the start)
            self.mean = layer_init(nn.Linear(width, n_real), std=0.01)
            self.log_std = nn.Parameter(torch.zeros(n_real))
        # The paper puts the value head on the policy's trunk; a separate critic MLP is the option.
        self.critic = None if shared_value else _mlp(inputs, hidden, activation)[0]
        self.value = layer_init(nn.Linear(width, 1), std=1.0)
        pad = torch.zeros(self.n_heads, self.max_n, dtype=torch.bool)
        for k, n in enumerate(self.nvec):
            pad[k, :n] = True
        self.register_buffer("valid", pad)
        # The columns every member of the type sees alike (Program.obs_shared_columns): with SplitObs
        # inputs they come once per replica. Index buffers only (not saved: they follow the model).
        shared = sorted(shared_columns or [])
        own = [k for k in range(obs_dim) if k not in set(shared)]
        for name, cols in (("shared", shared), ("own", own)):
            self.register_buffer(f"{name}_columns", torch.tensor(cols, dtype=torch.long), persistent=False)
            for k, v in self.norm.part_index(cols).items():
                self.register_buffer(f"_{name}_{k}", v, persistent=False)

    def _part(self, name: str) -> dict[str, torch.Tensor]:
        return {k: getattr(self, f"_{name}_{k}") for k in ("keep_local", "keep_pos", "digit_local", "out")}

    def split(self, obs: torch.Tensor, n: int) -> SplitObs:
        """Plain observations [B, obs_dim] (B a multiple of ``n``) → :class:`SplitObs`, the shared columns
        taken from the first row of every ``n`` (tests and callers that have plain rows)."""
        shared = obs[::n][:, self.shared_columns] if n else obs[:0, self.shared_columns]
        return SplitObs(shared, obs[:, self.own_columns], n)

    def concat(self, obs: SplitObs) -> torch.Tensor:
        """:class:`SplitObs` → the plain rows [B, obs_dim] (the concatenation the split avoids)."""
        out = obs.own.new_empty(len(obs), len(self.shared_columns) + len(self.own_columns))
        out[:, self.shared_columns] = obs.shared[obs.rows()]
        out[:, self.own_columns] = obs.own
        return out

    def update_norm(self, obs: torch.Tensor | SplitObs, shard=None) -> None:
        """Merge a batch of raw observations (plain [N, obs_dim] or split) into the normaliser's statistics
        (``shard``: this process's part of a batch shared by processes, see :meth:`ObsNormalizer.update`)."""
        if isinstance(obs, SplitObs) and shard is None:
            self.norm.update_parts([(obs.shared, self._part("shared")), (obs.own, self._part("own"))], len(obs))
        else:  # the processes' two-pass float64 statistics take whole rows
            self.norm.update(self.concat(obs) if isinstance(obs, SplitObs) else obs, shard)

    def _trunk(self, seq: nn.Sequential, obs: torch.Tensor | SplitObs) -> torch.Tensor:
        """The trunk (or critic) on plain or split observations. Split: the first layer is applied to each
        part with its columns of the weight, W·[s; o] + b = W_s·s + (W_o·o + b), W_s·s once per shared row."""
        if not isinstance(obs, SplitObs):
            return seq(obs.new_ones(obs.shape[0], 1) if self.blind else self.norm(obs))
        if self.blind or not len(seq) or not isinstance(seq[0], nn.Linear):
            return self._trunk(seq, self.concat(obs))
        first = seq[0]
        shared, own = self._part("shared"), self._part("own")
        hs = nn.functional.linear(self.norm.forward_part(obs.shared, shared), first.weight[:, shared["out"]])
        ho = nn.functional.linear(self.norm.forward_part(obs.own, own), first.weight[:, own["out"]], first.bias)
        if isinstance(obs.group, int):
            h = (ho.view(-1, obs.group, ho.shape[-1]) + hs[:, None, :]).view(-1, ho.shape[-1])
        else:
            h = ho + hs[obs.group]
        return seq[1:](h)

    def allowed(self, mask: torch.Tensor | None) -> torch.Tensor:
        """Grid padding combined with a curriculum mask [n_heads, max_n]."""
        return self.valid if mask is None else self.valid & mask.to(self.valid.device)

    def forward(self, obs: torch.Tensor | SplitObs, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw observations [B, obs_dim] (or split) → masked log-probabilities [B, n_heads, max_n] and values [B]."""
        d, value = self.dist(obs, mask)
        return d.logp, value

    def dist(self, obs: torch.Tensor | SplitObs, mask: torch.Tensor | None = None) -> tuple[Dist, torch.Tensor]:
        """Raw observations [B, obs_dim] (or :class:`SplitObs`) → the distributions of every head
        (:class:`Dist`) and values [B]."""
        z = self._trunk(self.trunk, obs)
        zv = z if self.critic is None else self._trunk(self.critic, obs)
        if self.logits is None:
            logp = z.new_zeros(z.shape[0], 0, self.max_n)
        else:
            bias = torch.where(self.allowed(mask), 0.0, MASKED)  # one broadcast add: cheaper than masked_fill
            logits = self.logits(z).view(-1, self.n_heads, self.max_n) + bias
            # z − logsumexp(z) is about twice as fast as log_softmax on CPU for short last dimensions
            logp = logits - logits.logsumexp(-1, keepdim=True)
        if self.n_real:
            mean, log_std = self.mean(z), self.log_std
        else:
            mean, log_std = z.new_zeros(z.shape[0], 0), z.new_zeros(0)
        return Dist(logp, mean, log_std), self.value(zv).squeeze(-1)

    @staticmethod
    def sample_action(d: Dist, generator: torch.Generator | None = None, greedy: bool = False,
                      u: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                      dtype: torch.dtype = torch.long) -> Action:
        """One action of every head (discrete and continuous); ``greedy``: the most likely choice and μ.
        ``u`` / ``noise``: the uniforms and normals to use instead of fresh draws (see :meth:`sample`);
        ``dtype``: the discrete choices' integer type (see :meth:`sample`)."""
        index = TypePolicy.sample(d.logp, generator, greedy, u, dtype=dtype) if d.logp.shape[1] else \
            torch.zeros(d.logp.shape[0], 0, dtype=dtype, device=d.logp.device)
        z = d.mean
        if d.mean.shape[1] and not greedy:  # no draw without continuous heads: the random stream is unchanged
            if noise is None:
                noise = torch.randn(d.mean.shape, generator=generator, device=d.mean.device, dtype=d.mean.dtype)
            z = d.mean + noise * d.log_std.exp()
        return Action(index, z)

    @staticmethod
    def action_log_prob(d: Dist, a: Action) -> torch.Tensor:
        """Joint log-probability of every head's action: [B]."""
        out = TypePolicy.log_prob(d.logp, a.index)
        if d.mean.shape[1]:
            out = out + squashed_log_prob(d.mean, d.log_std, a.z).sum(-1)
        return out

    @staticmethod
    def action_entropy(d: Dist) -> torch.Tensor:
        """Entropy of the discrete heads plus the continuous heads' Gaussians (before the squash): [B]."""
        out = TypePolicy.entropy(d.logp)
        if d.mean.shape[1]:
            out = out + TypePolicy.real_entropy(d).sum()
        return out

    @staticmethod
    def real_entropy(d: Dist) -> torch.Tensor:
        """Entropy of each continuous head's Gaussian (before the squash): [n_real]."""
        return d.log_std + _HALF_LOG_2PI_E

    @staticmethod
    def sample(logp: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False,
               u: torch.Tensor | None = None, dtype: torch.dtype = torch.long) -> torch.Tensor:
        """One action per head, all heads at once (inverse CDF, one uniform per head): [B, n_heads] of
        ``dtype`` (int64, or :func:`action_dtype` of the grids: the comparisons are counted in it).
        ``u`` [B, n_heads, 1]: the uniforms to use (common random numbers), instead of fresh draws."""
        if greedy:
            return logp.argmax(-1).to(dtype)
        cdf = logp.exp().cumsum(-1)
        if u is None:
            u = torch.rand(logp.shape[:-1] + (1,), generator=generator, device=logp.device, dtype=logp.dtype)
        else:
            u = u.to(logp.dtype).clone()
        # u ≥ 1e-7 so that a zero-probability (masked) first entry can never be chosen
        below = cdf < u.clamp_(min=1e-7) * cdf[..., -1:]
        return below.sum(-1, dtype=dtype).clamp_(max=logp.shape[-1] - 1)

    @staticmethod
    def log_prob(logp: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Joint log-probability of the heads' actions (any integer dtype; widened here, where the gather
        needs int64): [B]."""
        return logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1).sum(-1)

    @staticmethod
    def entropy(logp: torch.Tensor) -> torch.Tensor:
        """Entropy summed over heads (the paper sums the consumer's 12 heads): [B]."""
        return -(logp.exp() * logp).sum((-1, -2))

    @staticmethod
    def head_entropy(logp: torch.Tensor) -> torch.Tensor:
        """Entropy of each head: [B, n_heads]."""
        return -(logp.exp() * logp).sum(-1)
