"""Rollout storage and collection: every agent type acts with its shared policy, all agents at once.

Buffers are preallocated on the env's device as [steps, envs, agents, …] per type. Collecting a rollout
makes no host synchronisation: economic series are accumulated as tensors and read once per iteration by
the trainer, which also checks the filled buffers for non-finite values (``finite_flags``).

The lean layout (``new_buffer(..., lean=True)``, the trainer's ``lean`` setting) stores what a step
produces with less traffic and the same numbers: actions in the narrowest integer type of their grids
(``policy.action_dtype``: int8 for every grid up to 127 choices), and each observation's shared columns
(``Program.obs_shared_columns``: the global state every member sees alike) once per replica
(``shared`` [T, E, n_shared]) next to the per-member columns (``own`` [T, E, n, n_own]); the policies
take them as ``policy.SplitObs`` and combine the parts in their first layer. Economy series are then
collected only on the iterations that ask for them (``collect(..., series=True)``), from ``Env.state``
of an environment made without step quantities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from .policy import SplitObs, TypePolicy, action_dtype, real_values


@dataclass
class TypeBuffer:
    obs: torch.Tensor | None  # [T, E, n, obs_dim] raw observations (None in the lean layout)
    actions: torch.Tensor  # [T, E, n, n_heads] int64 (lean: policy.action_dtype of the grids)
    logp: torch.Tensor  # [T, E, n]
    values: torch.Tensor  # [T, E, n]
    rewards: torch.Tensor  # [T, E, n] raw (unscaled) rewards
    last_value: torch.Tensor  # [E, n] value of the observation after the last step
    reals: torch.Tensor | None = None  # [T, E, n, n_real] the continuous heads' draws z (None without)
    shared: torch.Tensor | None = None  # lean: [T, E, n_shared] the columns every member sees alike
    own: torch.Tensor | None = None  # lean: [T, E, n, obs_dim - n_shared] the other columns
    shared_columns: torch.Tensor | None = None  # lean: which observation columns are shared / own
    own_columns: torch.Tensor | None = None
    declared: torch.Tensor | None = None  # [2, n_real] the continuous columns' declared bounds (None without)

    @property
    def lean(self) -> bool:
        return self.obs is None

    def store_obs(self, t: int, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor | SplitObs:
        """Store the observations of step ``t``: whole rows [E, n, obs_dim], or split as an ``Env`` with
        ``split_obs`` gives them ((shared [E, n_shared], own [E, n, n_own])); return them as the policy
        takes them."""
        E, n = self.rewards.shape[1:]
        if self.obs is not None:
            self.obs[t] = x
            return x.reshape(E * n, -1).to(self.obs.dtype)
        if isinstance(x, tuple):
            self.shared[t], self.own[t] = x
        else:
            self.shared[t] = x[:, 0, self.shared_columns]
            self.own[t] = x[:, :, self.own_columns]
        return SplitObs(self.shared[t], self.own[t].view(E * n, -1), n)

    def observations(self) -> torch.Tensor | SplitObs:
        """Every stored observation, flattened over (steps, envs, agents): [T·E·n, obs_dim] or split."""
        if self.obs is not None:
            return self.obs.flatten(0, 2)
        T, E, n = self.rewards.shape
        return SplitObs(self.shared.flatten(0, 1), self.own.flatten(0, 2), n)

    def finite_obs(self) -> torch.Tensor:
        """[T] bool: whether every observation of each step was finite."""
        if self.obs is not None:
            return torch.isfinite(self.obs).flatten(1).all(1)
        return torch.isfinite(self.shared).flatten(1).all(1) & torch.isfinite(self.own).flatten(1).all(1)


def as_policy_input(policy: TypePolicy, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor], lean: bool,
                    dtype: torch.dtype) -> torch.Tensor | SplitObs:
    """Observations (whole rows [E, n, obs_dim] or split) as a policy takes them (split in the lean
    layout), not stored."""
    if isinstance(x, tuple):
        shared, own = x
        E, n, _ = own.shape
        return SplitObs(shared.to(dtype), own.reshape(E * n, -1).to(dtype), n)
    E, n, d = x.shape
    flat = x.reshape(E * n, d).to(dtype)
    return policy.split(flat, n) if lean else flat


@dataclass
class RolloutBuffer:
    types: dict[str, TypeBuffer]
    dones: torch.Tensor  # [T, E] float
    series: torch.Tensor  # [T, n_series] mean over envs (and members) of each tracked quantity
    series_names: list[str] = field(default_factory=list)
    steppers: dict = field(default_factory=dict)  # capture → (env, policies, its rollout step, RolloutStep)


def new_buffer(env, steps: int, series_names: list[str], device: torch.device | str,
               dtype: torch.dtype, lean: bool = False) -> RolloutBuffer:
    """Preallocate the buffers of one iteration of ``env`` (every agent type, ``env.n_envs`` replicas);
    ``lean``: the lean layout (module docstring), with the shared columns ``env.obs_shared`` names."""
    out = {}
    types, n_envs = list(env.agent_types), env.n_envs
    for a in types:
        n, d, h = env.n_agents[a], env.obs_dim[a], len(env.action_nvec[a])
        lean_parts = {}
        if lean:
            shared = sorted(getattr(env, "obs_shared", {}).get(a, []))  # none known: every column per member
            own = [k for k in range(d) if k not in set(shared)]
            lean_parts = dict(
                shared=torch.zeros(steps, n_envs, len(shared), device=device, dtype=dtype),
                own=torch.zeros(steps, n_envs, n, len(own), device=device, dtype=dtype),
                shared_columns=torch.tensor(shared, dtype=torch.long, device=device),
                own_columns=torch.tensor(own, dtype=torch.long, device=device))
        out[a] = TypeBuffer(
            obs=None if lean else torch.zeros(steps, n_envs, n, d, device=device, dtype=dtype),
            actions=torch.zeros(steps, n_envs, n, h, device=device,
                                dtype=action_dtype(env.action_nvec[a]) if lean else torch.long),
            logp=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            values=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            rewards=torch.zeros(steps, n_envs, n, device=device, dtype=dtype),
            last_value=torch.zeros(n_envs, n, device=device, dtype=dtype),
            **lean_parts,
        )
        n_real = len(getattr(env, "action_bounds", {}).get(a, ()))
        if n_real:
            out[a].reals = torch.zeros(steps, n_envs, n, n_real, device=device, dtype=dtype)
            out[a].declared = declared_bounds(env, a, device)
    return RolloutBuffer(out, torch.zeros(steps, n_envs, device=device, dtype=dtype),
                         torch.zeros(steps, len(series_names), device=device, dtype=dtype), list(series_names))


def finite_flags(buf: RolloutBuffer) -> torch.Tensor:
    """[T, n_types, 2] bool: whether the rewards (0) / observations (1) of each type were finite at each step."""
    per_type = [torch.stack([torch.isfinite(b.rewards).flatten(1).all(1), b.finite_obs()], -1)
                for b in buf.types.values()]
    return torch.stack(per_type, 1)


def declared_bounds(env, agent: str, device: torch.device | str) -> torch.Tensor:
    """[2, n_real]: lower and upper bounds of the agent type's continuous action columns, as declared."""
    return torch.tensor(env.action_bounds[agent], dtype=torch.float32, device=device).reshape(-1, 2).T


def action_draws(b: TypeBuffer, generator: torch.Generator | None, shard=None
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The random numbers of one sampling of a type's actions (every replica and member): uniforms
    [E·n, n_heads, 1] (one per discrete head) and normals [E·n, n_real] (one per continuous head), in the
    order, shapes and dtype in which ``TypePolicy.sample_action`` would draw them, so that sampling with them
    draws exactly what sampling without them draws. With a ``shard``
    (``econdsl.scale.distributed.Shard``): this process's rows of the draw the whole run makes."""
    E, n = b.rewards.shape[1:]
    heads, n_real = b.actions.shape[-1], 0 if b.reals is None else b.reals.shape[-1]
    device, dtype = b.logp.device, b.logp.dtype

    def draw(fn, shape: tuple[int, ...]) -> torch.Tensor:
        if shard is None:
            return fn(shape, generator=generator, device=device, dtype=dtype)
        return shard.draw(fn, shape, n, generator, device, dtype)

    return (draw(torch.rand, (E * n, heads, 1)) if heads else None,
            draw(torch.randn, (E * n, n_real)) if n_real else None)


class RolloutStep:
    """One step of the rollout as a function of tensors: every agent type samples its actions from its
    policy with the step's draws (:func:`action_draws`), stage by stage (a later stage observes the earlier
    stages' actions), then the environment steps (``Env.run_step``). It changes no state and reads nothing
    back to the host, so that it can run eagerly, compiled (``torch.compile``) or captured in CUDA graphs and
    replayed (:class:`GraphStep`), with the same numbers.

    Returns ``(acted, seen, actions, result, next_obs)``: ``acted[type]`` = (actions [E, n, n_heads] in the
    buffer's integer type, continuous draws z [E, n, n_real] or None, log-probabilities [E, n], values
    [E, n]); ``seen[type]`` the observations of the later stages' types; ``actions`` as the environment
    took them; the environment's ``StepResult`` and next observations (``Env.run_step``)."""

    def __init__(self, env, policies: dict[str, TypePolicy], buf: RolloutBuffer):
        self.env, self.policies, self.stages = env, policies, env.stages
        self.layout = {a: (*b.rewards.shape[1:], b.actions.dtype, b.lean, b.logp.dtype) for a, b in buf.types.items()}

    def __call__(self, obs: dict, draws: dict, masks: dict, bounds: dict, inputs) -> tuple:
        env, acted, seen, actions = self.env, {}, {}, {}
        for k, stage in enumerate(self.stages):
            if k:  # a later stage observes the actions of the earlier ones
                seen.update(env.observe_stage(actions, k, at=inputs))
            for a in stage:
                acted[a] = self.act(a, seen[a] if k else obs[a], draws[a], masks[a], bounds, actions)
        if inputs is None:  # an environment with only `step` (a test's fake): the caller steps it
            return acted, seen, actions, None, None
        result, nxt = env.run_step(inputs, actions)
        return acted, seen, actions, result, nxt

    def act(self, a: str, obs: torch.Tensor | SplitObs, draws: tuple, mask: torch.Tensor | None, bounds: dict,
            actions: dict) -> tuple:
        """Type ``a``'s actions sampled from its policy at ``obs`` with ``draws`` (:func:`action_draws`), put
        in ``actions`` as the environment takes them (with the real values of its continuous heads); returns
        (actions, z or None, log-probabilities, values) as ``acted[a]`` holds them."""
        E, n, action_type, lean, dtype = self.layout[a]
        policy = self.policies[a]
        dist, value = policy.dist(as_policy_input(policy, obs, lean, dtype), mask)
        act = TypePolicy.sample_action(dist, None, False, *draws, dtype=action_type)
        actions[a] = act.index.view(E, n, -1)
        z = act.z.view(E, n, -1) if a in bounds else None
        if z is not None:
            actions[self.env.real_key[a]] = real_values(z, bounds[a])
        return actions[a], z, TypePolicy.action_log_prob(dist, act).view(E, n), value.view(E, n)


COMPILE_MODE = {"cpu": "default", "cuda": "reduce-overhead"}  # torch.compile's mode per device type (settings)


class GraphStep:
    """``fn`` captured in CUDA graphs (``torch.cuda.CUDAGraph``) and replayed.

    One graph per structure of the arguments (the episode's last step or not, which masks are None …) and
    per ``key()`` (the tensors ``fn`` reads besides its arguments that may be replaced: the normalisers'
    statistics; a new key drops every graph). A call copies its tensor arguments into the captured ones
    (those that are not already them), replays, and returns the captured outputs, which the next call
    overwrites: the caller copies what it keeps. ``fn`` must be a function of its arguments (it is run
    twice on a side stream before the capture, for lazy initialisation: cuBLAS workspaces, Triton's
    compilation)."""

    WARMUP = 2
    needs_cuda = True

    def __init__(self, fn, key=lambda: ()):
        self.fn, self.key = fn, key
        self.graphs: dict = {}
        self._state = None

    def __call__(self, *args):
        leaves, spec = tree_flatten(args)
        state = self.key()
        if state != self._state:
            self.graphs, self._state = {}, state
        sig = (str(spec), tuple((tuple(x.shape), x.dtype, x.device) if isinstance(x, torch.Tensor) else x
                                for x in leaves))
        if sig not in self.graphs:
            self.graphs[sig] = self._capture(leaves, spec)
        graph, static, out = self.graphs[sig]
        for x, s in zip(leaves, static, strict=True):
            if isinstance(x, torch.Tensor) and x.data_ptr() != s.data_ptr():
                s.copy_(x)
        graph.replay()
        return out

    def _capture(self, leaves: list, spec) -> tuple:
        static = [x.clone() if isinstance(x, torch.Tensor) else x for x in leaves]
        args = tree_unflatten(static, spec)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP):
                self.fn(*args)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.fn(*args)
        return graph, static, out


def _statistics_key(policies: dict) -> tuple:
    """Where each policy's normalisation statistics live (host-side pointers: no device read)."""
    return tuple(p.norm.stats_key() if isinstance(p, TypePolicy) else None for p in policies.values())


def _stepper(env, policies: dict, buf: RolloutBuffer, capture: str) -> tuple:
    """The rollout step of ``capture`` ("off", "compile", "graph") and the eager :class:`RolloutStep` it runs,
    made once and kept with the buffer."""
    made = buf.steppers.get(capture)
    if made is not None and made[0] is env and made[1] is policies:
        return made[2:]
    step = RolloutStep(env, policies, buf)
    if capture == "compile":
        fn = torch.compile(step.__call__, dynamic=False, mode=COMPILE_MODE.get(torch.device(env.device).type))
    elif capture == "graph":
        if GraphStep.needs_cuda and torch.device(env.device).type != "cuda":
            raise ValueError(f"capture = \"graph\" needs a CUDA device, not {env.device}")
        fn = GraphStep(step, lambda: _statistics_key(policies))
    elif capture == "off":
        fn = step
    else:
        raise ValueError(f"capture must be graph, compile or off, not {capture!r}")
    buf.steppers[capture] = (env, policies, fn, step)
    return fn, step


def _replays(capture: str, device: torch.device | str) -> bool:
    """Whether the step of ``capture`` runs as CUDA graphs, whose outputs (and copied inputs) the next step
    overwrites."""
    mode = COMPILE_MODE.get(torch.device(device).type)
    return capture == "graph" or (capture == "compile" and mode == "reduce-overhead")


def collect(env, policies: dict[str, TypePolicy], masks: dict[str, torch.Tensor | None],
            obs: dict[str, torch.Tensor], buf: RolloutBuffer, generator: torch.Generator | None,
            bounds: dict[str, torch.Tensor | None] | None = None, shard=None,
            series: bool = True, capture: str = "off") -> dict[str, torch.Tensor]:
    """Run ``buf``'s number of steps from ``obs``; fill ``buf``; return the observation after the last step.

    ``shard`` (``econdsl.scale.distributed.Shard``): ``env`` holds this process's share of a run's replicas;
    the actions are drawn with the random numbers the whole run would give these replicas.

    ``bounds[type]`` ([2, n_real], the curriculum's narrowed intervals) scales the continuous actions;
    a type without an entry acts in its declared bounds. ``series``: fill ``buf.series`` (the economy
    series, from ``Env.state``) this time; without, ``buf.series`` keeps what it held. ``capture``: how the
    step of sampling + environment (:class:`RolloutStep`) runs: "off" (eagerly), "compile"
    (``torch.compile``), "graph" (CUDA graphs, :class:`GraphStep`); the random numbers are drawn outside
    it, by the run's generator in the same order, so every mode draws the same actions.

    Nothing in here reads from the device (no host synchronisation: tests/trainer/test_rollout_capture.py)."""
    # torch.compile guards on whether a tensor was made under inference_mode: the reset's observations and
    # states (made outside) and the step's (made inside) would each compile the step again; no_grad keeps
    # them alike
    with torch.no_grad() if capture == "compile" else torch.inference_mode():
        return _collect(env, policies, masks, obs, buf, generator, bounds, shard, series, capture)


def _collect(env, policies, masks, obs, buf, generator, bounds, shard, series, capture):
    types = list(buf.types)
    steps = buf.dones.shape[0]
    bounds = {a: (bounds or {}).get(a) for a in types if buf.types[a].reals is not None}
    bounds = {a: buf.types[a].declared if b is None else b for a, b in bounds.items()}
    masks = {a: masks.get(a) for a in types}
    stages = env.stages
    if series and buf.series_names and not getattr(env, "quantities", True) and _replays(capture, env.device):
        # Env.state computes the quantities from the step's inputs after it, which a replayed graph's next
        # step overwrites: the iterations that collect the economy series step eagerly
        capture = "off"
    step, eager = _stepper(env, policies, buf, capture)
    stepped_apart = hasattr(env, "run_step")  # an Env: its step runs inside the rollout step (else: env.step)
    for t in range(steps):
        for a in stages[0]:
            buf.types[a].store_obs(t, obs[a])
        draws = {a: action_draws(buf.types[a], generator, shard) for stage in stages for a in stage}
        inputs = env.begin_step() if stepped_apart else None
        acted, seen, actions, result, nxt = step({a: obs[a] for a in stages[0]}, draws, masks, bounds, inputs)
        for a, (index, z, logp, value) in acted.items():
            b = buf.types[a]
            if a in seen:
                b.store_obs(t, seen[a])
            b.actions[t] = index
            if z is not None:
                b.reals[t] = z
            b.logp[t] = logp
            b.values[t] = value
        obs, rewards, done, _ = env.finish_step(inputs, actions, result, nxt) if stepped_apart else env.step(actions)
        for a in types:
            buf.types[a].rewards[t] = rewards[a]
        buf.dones[t] = done.to(buf.dones.dtype)
        if buf.series_names and series:
            # the quantities come with the step when the env was made with quantities=True; otherwise
            # Env.state computes them from the step's inputs (the lean trainer, on its analytics iterations)
            state = env.state
            buf.series[t] = torch.stack([state[s].to(buf.series.dtype).mean() for s in buf.series_names])
    last = dict(obs)
    if len(stages) > 1:  # the next period's later stages: observe them after drawing its earlier stages' actions
        acts: dict[str, torch.Tensor] = {}
        for k, stage in enumerate(stages[:-1]):
            for a in stage:
                eager.act(a, last[a], action_draws(buf.types[a], generator, shard), masks[a], bounds, acts)
            last.update(env.observe_stage(acts, k + 1))
    for a in types:
        b = buf.types[a]
        E, n = b.rewards.shape[1:]
        b.last_value.copy_(policies[a](as_policy_input(policies[a], last[a], b.lean, b.logp.dtype), masks[a])[1]
                           .view(E, n))
    return obs
