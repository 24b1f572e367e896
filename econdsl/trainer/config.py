"""Training configuration: one dataclass, one documented field per hyper-parameter.

Values are layered, later layers winning: the dataclass defaults, the model's ``train`` section, the
chosen ``preset`` inside it, then command-line flags (``--iterations``, ``--set name=value`` ...).
Fields listed in :data:`PER_TYPE` may also be set for one agent type (``lr[Government] = 5e-5``); the
plain value is the default for every type.

The language checker validates ``train`` settings against :data:`SETTINGS`; names that are not fields
are curriculum constants (``N_a``) or model constants, which presets and ``--set`` may also change.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class TrainConfig:
    """PPO + curriculum hyper-parameters for every agent type of a model."""

    iterations: int = 1000
    """Training iterations. One iteration = ``steps`` environment steps in every replica, then one PPO update
    per agent type that is training. Curriculum schedules count iterations (``e``)."""
    envs: int = 128
    """Parallel environment replicas (the paper's batch size)."""
    steps: int = 0
    """Environment steps per replica per iteration; 0 means the model's horizon (one episode per iteration)."""
    hidden: tuple[int, ...] = (128, 128)
    """Hidden layer widths of each agent type's shared policy/value MLP (the paper: two layers of 128)."""
    activation: str = "relu"
    """Hidden-layer activation: "relu" (the paper's) or "tanh"."""
    shared_value: bool = True
    """The value head sits on the policy's trunk (the paper's); false gives each type a separate critic MLP."""
    lr: float = 1e-3
    """Adam learning rate (per type: ``lr[Government] = 5e-5``)."""
    anneal_lr: bool = False
    """Decay every type's learning rate linearly from ``lr`` at iteration 0 to 0 at ``iterations`` (the
    common PPO schedule): the last updates are small, so the policies end at an average of their late iterates
    instead of a step-size-wide random walk around them."""
    reward_scale: float = 1.0
    """Rewards are divided by this before returns are computed (per type)."""
    gamma: float = 0.99
    """Discount factor (per type). The paper's effective value is 1 (undiscounted reward-to-go)."""
    gae_lambda: float = 0.95
    """GAE(λ) parameter (per type); ignored when ``returns = "monte_carlo"``."""
    returns: str = "gae"
    """How advantages are built: "gae" (GAE(λ) with the type's γ, bootstrapped at the rollout end), or
    "monte_carlo" (the paper's: discounted reward-to-go within the episode, advantage = return − V)."""
    clip: float = 0.2
    """PPO ratio clip ε."""
    value_clip: float = -1.0
    """Value clipping range around the old value prediction; negative means "same as ``clip``", 0 disables it."""
    value_coef: float = 1.0
    """Weight of the value loss."""
    value_loss: str = "huber"
    """Value loss: "huber" (SmoothL1, β = 1, the paper's) or "mse"."""
    entropy: float = 0.01
    """Entropy bonus weight (per type); a curriculum ``entropy`` schedule overrides it."""
    entropy_per_head: bool = False
    """The entropy bonus of a type is the mean entropy of its action heads (those with a choice) instead of
    their sum (the paper's): with the sum, a type with twelve heads is pushed towards randomness twelve
    times as hard as a type with one."""
    entropy_exclude: str = ""
    """Action heads that get no entropy bonus, comma-separated action names (per type: ``entropy_exclude[Consumer]
    = "demand"``; a joint head is named by any of its components). For heads over which the agent is close to
    indifferent, where a bonus summed with the other heads' holds the policy uniform; their entropy is still
    logged. Empty: every head gets the bonus."""
    epochs: int = 4
    """PPO epochs over each iteration's batch."""
    minibatches: int = 1
    """Minibatches per epoch (1 = full batch, as in the paper)."""
    max_grad_norm: float = 2.0
    """Global gradient-norm clip per agent type (0 disables)."""
    norm_adv: bool = True
    """Standardise advantages over each type's whole batch (envs × steps × agents)."""
    obs_norm: str = "running"
    """Observation preprocessing: "running" (running mean/std, clipped), "digits" (the paper's digit
    expansion of ``digits``, running normalisation of the other features), "scaled" (the paper's code: digit
    expansion of ``digits``, every other feature divided by a fixed ``obs_scale``, no centring, no clipping),
    or "none"."""
    digits: str = ""
    """With ``obs_norm = "digits"`` or ``"scaled"``: the observed quantities to digit-expand, comma-separated
    names (the paper: inventories and budgets, ``"y, B, B_f"``); empty means every observed state without a
    finite upper bound."""
    obs_scale: str = ""
    """With ``obs_norm = "scaled"``: fixed divisors of observed quantities, ``"name: scale, …"`` (the paper:
    ``"p: 2500, w: 44, t: 10, θ: 0.01, K: 10000"``); a quantity not listed is divided by 1."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to ±obs_clip (``obs_norm = "running"`` or ``"digits"``)."""
    seed: int = 0
    """Seed of the policies, the action sampling and the environment."""
    device: str = "cpu"
    """torch device: "cpu" or "cuda"."""
    backend: str = "torch"
    """Environment backend: "torch" or "triton"."""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default."""
    checkpoint_every: int = 50
    """Write a checkpoint every this many iterations (and always at the end and on Ctrl-C)."""
    log_every: int = 1
    """Write a metrics row every this many iterations."""
    lean: str = "auto"
    """The rollout's layout: "on" (actions in the narrowest integer type of their grids, the global part
    of the observations once per replica, no step quantities in the environment's step: the economy
    series come from ``analytics_every``), "off" (int64 actions, whole observation rows, quantities in
    every step), or "auto" (on with ``device = "cuda"``, off on the CPU). Both give the same numbers up to
    float rounding (the order of the first layer's sums)."""
    capture: str = "auto"
    """How each rollout step (every type's policy sampling and the environment step) runs: "graph" (captured
    in CUDA graphs once and replayed: no Python or launch overhead per operation; CUDA only), "compile"
    (``torch.compile``: inductor's mode "default" on the CPU, "reduce-overhead" on CUDA), "off" (eagerly), or
    "auto" (graph with ``device = "cuda"``, off on the CPU). Every mode draws the same random numbers in the
    same order, so a run gives the same actions (and numbers up to float rounding) in each."""
    analytics_every: int = 0
    """Collect the economy series (the ``econ/…`` metrics and plots) every this many iterations (and on
    the last); 0 means every iteration with ``lean`` off, and with it on iterations / 100 (at least 1,
    rounded up to a multiple of ``log_every``), which keeps about 100 points on every plot."""
    eval_envs: int = 4
    """Replicas of the final evaluation rollout (one episode each); the series of replica 0 are plotted."""
    eval_greedy: bool = False
    """Evaluate with the most likely action instead of sampling."""
    curriculum: bool = True
    """Execute the model's curriculum section (``--no-curriculum``: every action allowed, every type
    training from iteration 0, constants at their model values)."""
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-type overrides of :data:`PER_TYPE` fields, e.g. ``{"lr": {"Government": 5e-5}}``."""

    def value_clip_range(self) -> float:
        """The value clipping range actually used (``value_clip``, or ``clip`` when it is negative)."""
        return self.clip if self.value_clip < 0 else self.value_clip

    def lean_rollout(self) -> bool:
        """Whether the rollout uses the lean layout (``lean``; "auto": on CUDA)."""
        return self.lean == "on" or (self.lean == "auto" and self.device == "cuda")

    def capture_mode(self) -> str:
        """The ``capture`` setting resolved ("auto": "graph" on CUDA, "off" elsewhere)."""
        if self.capture == "auto":
            return "graph" if self.device == "cuda" else "off"
        return self.capture

    def series_every(self) -> int:
        """Iterations between two collections of the economy series (``analytics_every`` resolved)."""
        if self.analytics_every > 0:
            return self.analytics_every
        if not self.lean_rollout():
            return 1
        every = max(1, self.iterations // 100)
        return -(-every // self.log_every) * self.log_every  # a multiple of log_every: logged rows carry them

    def get(self, name: str, agent: str) -> Any:
        """The value of a per-type field for ``agent``: its override if any, else the plain value."""
        return self.per_type.get(name, {}).get(agent, getattr(self, name))

    def set(self, name: str, value: Any, agent: str | None = None) -> None:
        """Set a field (or one type's override) from a value of the ``.econ`` file or the command line."""
        if name not in SETTINGS:
            from ..language.diagnostics import did_you_mean

            hint = did_you_mean(name, SETTINGS)
            raise ConfigError(f"`{name}` is not a training setting" + (f"; {hint}" if hint else "")
                              + f" (known: {', '.join(sorted(SETTINGS))})")
        if agent is not None:
            if name not in PER_TYPE:
                raise ConfigError(f"`{name}` cannot be set per agent type (only {', '.join(sorted(PER_TYPE))})")
            self.per_type.setdefault(name, {})[agent] = _coerce(name, value)
            return
        setattr(self, name, _coerce(name, value))

    def validate(self, agent_types: list[str] | None = None) -> None:
        """Raise :class:`ConfigError` for values no run could use (each named, with its allowed range)."""
        for name in SETTINGS:
            problem = value_problem(name, getattr(self, name))
            if problem:
                raise ConfigError(f"`{name}` {problem}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"`{name}` must be one of {', '.join(allowed)}, not `{getattr(self, name)}`")
        for name, per in self.per_type.items():
            for agent, value in per.items():
                if agent_types is not None and agent not in agent_types:
                    raise ConfigError(f"`{name}[{agent}]`: `{agent}` is not an agent type of this model "
                                      f"({', '.join(agent_types)})")
                problem = value_problem(name, value)
                if problem:
                    raise ConfigError(f"`{name}[{agent}]` {problem}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        cfg = cls()
        for k, v in d.items():
            if k == "per_type":
                cfg.per_type = {n: dict(p) for n, p in v.items()}
            elif k in SETTINGS:
                setattr(cfg, k, _coerce(k, v))
        return cfg


class ConfigError(ValueError):
    """A training setting that cannot be used; the message names it."""


# Every settable field (the `train` section's vocabulary), and those that may be set per agent type.
SETTINGS: dict[str, type] = {f.name: f.type for f in fields(TrainConfig) if f.name != "per_type"}  # type: ignore
PER_TYPE = frozenset({"lr", "reward_scale", "gamma", "gae_lambda", "entropy", "entropy_exclude"})
CHOICES = {
    "returns": ("gae", "monte_carlo"),
    "obs_norm": ("running", "digits", "scaled", "none"),
    "value_loss": ("huber", "mse"),
    "activation": ("relu", "tanh"),
    "device": ("cpu", "cuda"),
    "backend": ("torch", "triton"),
    "lean": ("auto", "on", "off"),
    "capture": ("auto", "graph", "compile", "off"),
}
_INT = {"iterations", "envs", "steps", "epochs", "minibatches", "seed", "threads", "checkpoint_every",
        "log_every", "eval_envs", "analytics_every"}
_BOOL = {"norm_adv", "eval_greedy", "curriculum", "shared_value", "entropy_per_head", "anneal_lr"}
_STR = set(CHOICES)


def _coerce(name: str, value: Any) -> Any:
    """Convert a value from the ``.econ`` file (floats, strings, lists) or a CLI string to the field's type."""
    try:
        if name == "obs_scale":
            text = ", ".join(str(v).strip() for v in (value if isinstance(value, list | tuple) else [value]))
            parse_scales(text)  # refuse a malformed list now, not when the policies are built
            return text
        if name in ("digits", "entropy_exclude"):
            return ", ".join(str(v).strip() for v in (value if isinstance(value, list | tuple) else [value])
                             if str(v).strip())
        if name == "hidden":
            if isinstance(value, str):
                value = [v for v in value.replace("[", "").replace("]", "").replace("x", ",").split(",") if v.strip()]
            if isinstance(value, int | float):
                value = [value]
            out = tuple(_as_int(name, v) for v in value)
            return out
        if name in _INT:
            return _as_int(name, value)
        if name in _BOOL:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ConfigError(f"`{name}` must be true or false, not `{value}`")
            return bool(value)
        if name in _STR:
            if not isinstance(value, str):
                raise ConfigError(f"`{name}` must be one of {', '.join(CHOICES[name])}")
            return value
        v = float(value)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"`{name}` = `{value}` is not a valid value") from None
    if math.isnan(v):
        raise ConfigError(f"`{name}` must be a number, not NaN")
    return v


def names(text: str) -> tuple[str, ...]:
    """The names of a comma-separated setting (``digits``, ``entropy_exclude``)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def parse_scales(text: str) -> dict[str, float]:
    """``"p: 2500, w: 44"`` → ``{"p": 2500.0, "w": 44.0}`` (the ``obs_scale`` setting); ConfigError if malformed."""
    out: dict[str, float] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition(":")
        try:
            scale = float(value)
        except ValueError:
            scale = math.nan
        if not sep or not name.strip() or not scale > 0 or math.isinf(scale):
            raise ConfigError(f"`obs_scale`: `{item}` is not `name: scale` with a positive number "
                              f"(e.g. \"p: 2500, w: 44\")")
        out[name.strip()] = scale
    return out


def inert(cfg: TrainConfig, name: str) -> tuple[str, str] | None:
    """Why setting ``name`` cannot take effect with the other values of ``cfg``, as (message naming the
    setting that disables it, hint), or None when it takes effect."""
    norm = cfg.obs_norm
    if name == "digits" and norm not in ("digits", "scaled"):
        return (f"`digits` has no effect: `obs_norm` is \"{norm}\", and digits are expanded only with "
                f"`obs_norm = \"digits\"` or `\"scaled\"`",
                "set `obs_norm = \"digits\"` (or \"scaled\") where `digits` is set, or move `digits` into the "
                "preset that sets it")
    if name == "obs_scale" and norm != "scaled":
        return (f"`obs_scale` has no effect: `obs_norm` is \"{norm}\", and fixed scales are used only with "
                f"`obs_norm = \"scaled\"`", "set `obs_norm = \"scaled\"` where `obs_scale` is set, or remove it")
    if name == "obs_clip" and norm in ("scaled", "none"):
        return (f"`obs_clip` has no effect: `obs_norm` is \"{norm}\", which does not clip observations",
                "remove `obs_clip`, or use `obs_norm = \"running\"` or `\"digits\"`")
    if name == "gae_lambda" and cfg.returns == "monte_carlo":
        return ("`gae_lambda` has no effect: `returns` is \"monte_carlo\" (reward-to-go, no GAE)",
                "remove `gae_lambda`, or set `returns = \"gae\"`")
    return None


def _as_int(name: str, value: Any) -> int:
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"`{name}` must be a whole number, not {value}")
    if v != int(v):
        raise ConfigError(f"`{name}` must be a whole number, not {value}")
    return int(v)


# The values each numeric setting may take: (low, high, low is exclusive). The upper limits keep a typo
# (`envs = 1e9`, `hidden = [99999999999]`) from exhausting the memory instead of failing with its name.
LIMITS: dict[str, tuple[float, float, bool]] = {
    "iterations": (1, 10**9, False), "envs": (1, 1_000_000, False), "steps": (0, 1_000_000, False),
    "epochs": (1, 10_000, False), "minibatches": (1, 1_000_000, False), "seed": (0, 2**32 - 1, False),
    "threads": (0, 4096, False), "checkpoint_every": (1, 10**9, False), "log_every": (1, 10**9, False),
    "analytics_every": (0, 10**9, False),
    "eval_envs": (1, 1_000_000, False), "lr": (0, math.inf, True), "reward_scale": (0, math.inf, True),
    "gamma": (0, 1, False), "gae_lambda": (0, 1, False), "clip": (0, math.inf, True),
    "value_clip": (-math.inf, math.inf, False), "value_coef": (0, math.inf, False),
    "entropy": (0, math.inf, False), "max_grad_norm": (0, math.inf, False), "obs_clip": (0, math.inf, True),
}
MAX_HIDDEN_WIDTH = 65_536
MAX_HIDDEN_LAYERS = 64
MAX_HIDDEN_WEIGHTS = 50_000_000  # 200 MB of float32 per network, before Adam's two copies


def value_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the setting ``name`` (``"must be …"``), or None. The one statement of
    the settings' ranges: the trainer's validation and the language checker (E1010) both use it."""
    if name == "hidden":
        widths = list(value) if isinstance(value, list | tuple) else [value]
        if not widths or len(widths) > MAX_HIDDEN_LAYERS:
            return f"must list 1 to {MAX_HIDDEN_LAYERS} layer widths, not {len(widths)}"
        for w in widths:
            if not isinstance(w, int | float) or not math.isfinite(w) or w != int(w) \
                    or not 1 <= w <= MAX_HIDDEN_WIDTH:
                return f"must hold whole layer widths from 1 to {MAX_HIDDEN_WIDTH:,}, not {_num(w)}"
        weights = sum(a * b for a, b in zip(widths, widths[1:], strict=False))
        if weights > MAX_HIDDEN_WEIGHTS:
            return (f"would give each network {_num(weights)} weights between its hidden layers, above the limit of "
                    f"{MAX_HIDDEN_WEIGHTS:,}")
        return None
    if name not in LIMITS or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    lo, hi, open_lo = LIMITS[name]
    if math.isnan(value) or (math.isinf(value) and not (math.isinf(lo) and math.isinf(hi))):
        return f"must be a finite number, not {value}"
    if (value <= lo if open_lo else value < lo) or value > hi:
        low = f"> {_num(lo)}" if open_lo else f"≥ {_num(lo)}"
        rng = low if math.isinf(hi) else f"{low} and ≤ {_num(hi)}"
        return f"must be {rng}, not {_num(value)}"
    return None


def _num(x: float) -> str:
    if not isinstance(x, int | float) or not math.isfinite(x):
        return str(x)
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass
class Layers:
    """What the layers of settings produced: the config, and values for names that are not settings."""

    config: TrainConfig
    curriculum_consts: dict[str, float] = field(default_factory=dict)
    """Overrides of the curriculum's own constants (``N_a`` in a preset)."""
    model_overrides: dict[str, float] = field(default_factory=dict)
    """Overrides of model constants and parameters, passed to ``econdsl.load``."""


def setting_value(expr: Any, consts: dict[str, float]) -> Any:
    """The value of a ``train`` setting's expression: a number, a string or a list of numbers."""
    from ..language import ast
    from ..language.resolve import NotConstant, eval_const

    if isinstance(expr, ast.Str):
        return expr.value
    if isinstance(expr, ast.Array):  # numbers, or bare names (`digits = [y, B]`)
        return [x.id if isinstance(x, ast.Name) and x.id not in consts else setting_value(x, consts)
                for x in expr.items]
    if isinstance(expr, ast.Name) and expr.id in ("true", "false"):
        return expr.id == "true"
    if isinstance(expr, ast.Name) and expr.id not in consts and expr.id in _STR_VALUES:
        return expr.id  # bare words such as `returns = monte_carlo`
    try:
        return eval_const(expr, consts)
    except NotConstant as e:
        raise ConfigError(f"{expr.span}: a training setting must be a constant: {e.reason}") from None


_STR_VALUES = {v for vs in CHOICES.values() for v in vs}


def build_layers(resolved: Any, preset: str | None = None, sets: dict[str, str] | None = None,
                 flags: dict[str, Any] | None = None) -> Layers:
    """Defaults → the model's ``train`` section → ``preset`` → ``--set name=value`` → explicit CLI flags.

    ``sets`` keys may be ``name`` or ``name[Type]``; names that are not settings go to the curriculum's
    constants when the curriculum declares them, else to the model's constants/parameters.
    """
    from ..language import ast

    cfg = TrainConfig()
    layers = Layers(cfg)
    cur_consts = {c.name for c in (resolved.curriculum.items if resolved.curriculum else ())
                  if isinstance(c, ast.Const)}
    agent_types = list(resolved.populations)

    def apply(name: str, agent: str | None, value: Any, where: str) -> None:
        if name in SETTINGS:
            if agent is not None and agent not in agent_types:
                raise ConfigError(f"{where}: `{agent}` is not an agent type ({', '.join(agent_types)})")
            cfg.set(name, value, agent)
        elif agent is not None:
            raise ConfigError(f"{where}: `{name}` is not a training setting, so it cannot be set per type")
        elif name in cur_consts:
            layers.curriculum_consts[name] = _number(name, value)
        elif name in resolved.consts or resolved.symbols.get(name) is not None \
                and resolved.symbols[name].kind == "param":
            layers.model_overrides[name] = _number(name, value)
        else:
            from ..language.diagnostics import did_you_mean

            hint = did_you_mean(name, [*SETTINGS, *cur_consts, *resolved.consts])
            raise ConfigError(f"{where}: `{name}` is neither a training setting, a curriculum constant nor a "
                              f"model constant" + (f"; {hint}" if hint else " (`econdsl settings` lists the "
                                                                              "settings)"))

    train = resolved.train
    env = dict(resolved.consts)
    if train is not None:
        for s in train.settings:
            apply(s.name, s.agent, setting_value(s.value, env), str(s.span))
    if preset is not None:
        found = [p for p in (train.presets if train else ()) if p.name == preset]
        if not found:
            known = [p.name for p in (train.presets if train else ())]
            raise ConfigError(f"the model has no preset `{preset}`"
                              + (f" (presets: {', '.join(known)})" if known else " (it declares no presets)"))
        for s in found[0].settings:
            apply(s.name, s.agent, setting_value(s.value, env), str(s.span))
    for key, value in (sets or {}).items():
        name, agent = key, None
        if key.endswith("]") and "[" in key:
            name, agent = key[:-1].split("[", 1)
        apply(name.strip(), agent.strip() if agent else None, value, f"--set {key}")
    for name, value in (flags or {}).items():
        if value is not None:
            cfg.set(name, value)
    cfg.validate(agent_types)
    return layers


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"`{name}` needs a number, not `{value}`") from None
