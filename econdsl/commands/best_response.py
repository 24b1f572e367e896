"""``econdsl best-response RUN``: how much an agent can gain by deviating, unilaterally and per type."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from .compare import engine_of, engine_options


def _member_option(values: tuple[str, ...], types: list[str]) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    for v in values:
        agent, sep, idx = v.partition(":")
        if not sep or agent not in types:
            raise click.BadParameter(f"`{v}`: expected TYPE:INDEX with TYPE one of {', '.join(types)}",
                                     param_hint="--member")
        try:
            out.setdefault(agent, []).append(int(idx))
        except ValueError:
            raise click.BadParameter(f"`{v}`: the member index must be a whole number", param_hint="--member") from None
    return {a: tuple(sorted(set(m))) for a, m in out.items()}


@click.command("best-response")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--type", "types", multiple=True, help="Agent type(s) to test (default: every type).")
@click.option("--kind", type=click.Choice(["both", "unilateral", "type"]), default="both", show_default=True,
              help="unilateral: one member deviates alone; type: the whole type's shared policy is retrained "
                   "(the paper's meta-game ε, its table 3).")
@click.option("--iterations", default=100, show_default=True, type=click.IntRange(min=0),
              help="Best-response training iterations per trained deviation and seed.")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(min=1), help="Repeats (seeds 0..K-1).")
@click.option("--algo", type=click.Choice(["ppo", "pg"]), default="ppo", show_default=True,
              help="ppo: the run's own PPO settings; pg: the paper's vanilla policy gradient.")
@click.option("--paper", is_flag=True, help="The paper's protocol: --algo pg, 0.1× entropy, base lr, --game model.")
@click.option("--game", type=click.Choice(["played", "model"]), default="played", show_default=True,
              help="played: the run's last masks and curriculum constants; model: no masks, model constants.")
@click.option("--members", default=4, show_default=True, type=click.IntRange(min=1),
              help="Members tested per type (unilateral), stratified by their parameters.")
@click.option("--member", "member_list", multiple=True, metavar="TYPE:INDEX",
              help="Test these members instead (repeatable), e.g. --member Firm:3.")
@click.option("--replicas", type=click.IntRange(min=1), default=None,
              help="Replicas per trained deviation and per evaluated member (default: from the run's envs).")
@click.option("--envs", type=click.IntRange(min=1), default=None, help="Replicas of the type-level test "
              "(default: the run's).")
@click.option("--eval-iterations", default=8, show_default=True, type=click.IntRange(min=1),
              help="Evaluation episodes per replica for U before and after.")
@click.option("--no-exact", is_flag=True, help="Skip the fixed-action and one-step deviation checks.")
@click.option("--no-fresh", is_flag=True, help="Skip the deviator with a fresh, exploring policy head.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate (default: see --algo).")
@click.option("--entropy", type=click.FloatRange(min=0), default=None, help="Entropy weight (default: see --algo).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout (nothing else).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Default: RUN/best_response.")
@engine_options
def best_response(run: str, types: tuple[str, ...], kind: str, iterations: int, seeds: int, algo: str, paper: bool,
                  game: str, members: int, member_list: tuple[str, ...], replicas: int | None, envs: int | None,
                  eval_iterations: int, no_exact: bool, no_fresh: bool, lr: float | None, entropy: float | None,
                  as_json: bool, out: str | None, engine: str, address: str | None, cpus_per_run: float,
                  gpus_per_run: float) -> None:
    """Measure ε per agent type: what one member gains by deviating alone while everybody else keeps the
    learned profile (unilateral), and what the type gains by retraining its shared policy (type level, the
    paper's table 3). Writes epsilon.md, epsilon.csv, epsilon.json and curves.png."""
    from ..analysis import best_response as br
    from ..analysis.sweep import EngineError
    from ..language import EconError
    from ..trainer.ppo import NonFiniteUpdate
    from ..trainer.run import RunError

    try:
        trainer = br.load_trainer(run)
    except RunError as e:
        raise click.ClickException(str(e)) from None
    except EconError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    for t in types:
        if t not in trainer.types:
            raise click.BadParameter(f"`{t}` is not an agent type of this run ({', '.join(trainer.types)})",
                                     param_hint="--type")
    chosen = _member_option(member_list, trainer.types)
    for a, ms in chosen.items():
        n = trainer.env.n_agents[a]
        if any(not 0 <= m < n for m in ms):
            raise click.BadParameter(f"`{a}` has members 0..{n - 1}", param_hint="--member")
    settings = br.BRSettings(iterations=iterations, algo="pg" if paper else algo, lr=lr, entropy=entropy,
                             eval_iterations=eval_iterations, game="model" if paper else game, members=members,
                             member_list=chosen, replicas=replicas, fresh=not no_fresh, exact=not no_exact)
    n_envs = envs or trainer.cfg.envs
    say = (lambda *_: None) if as_json else click.echo
    _loaded[str(run)] = trainer  # the local engine reuses it for every seed
    units = [(agent, k) for agent in types or trainer.types for k in range(seeds)]
    measure = functools.partial(_measure, kind=kind, settings=settings, n_envs=n_envs)
    results = []
    try:
        for (agent, k), rs in engine_of(engine, 1, address, cpus_per_run, gpus_per_run).map(measure, units, run):
            results += rs
            for r in rs:
                if r.kind == "unilateral":
                    say(f"{agent}[{r.members[0]}] seed {k} (unilateral): U {r.before:.6g} → {r.after:.6g}, "
                        f"ε = {r.eps_abs:.4g} [{r.ci95[0]:.4g}, {r.ci95[1]:.4g}] by {r.deviation}")
                else:
                    say(f"{agent} seed {k} (type level): U {r.before:.6g} → {r.after:.6g}, ε = {r.eps_abs:.4g} "
                        f"[{r.ci95[0]:.4g}, {r.ci95[1]:.4g}]")
    except NonFiniteUpdate as e:  # e.g. --lr 1e30: stop with the type and the quantity, not a traceback
        agent, k = getattr(e, "unit", ("?", "?"))
        raise click.ClickException(f"the best response of `{agent}` (seed {k}) produced a non-finite "
                                   f"{e.quantity}. Hint: {e.hint}") from None
    except EngineError as e:  # Ray lost a worker after every retry: keep what the other units measured
        lost = "; ".join(f"`{a}` seed {k}: {why}" for (a, k), why in e.lost)
        if results:
            paths = _write(out, run, results, settings)
            kept = f"the {len(units) - len(e.lost)} other unit(s) are written to {paths['json'].parent}"
        else:
            kept = "nothing was written"
        raise click.ClickException(f"best response on `{run}`: the Ray engine lost {lost}; {kept}") from None
    paths = _write(out, run, results, settings)
    if as_json:
        click.echo(paths["json"].read_text(encoding="utf-8"))
        return
    click.echo(paths["markdown"].read_text(encoding="utf-8"))
    click.echo(f"written: {paths['json']}, {paths['csv']}, {paths['plot']}")


def _write(out: str | None, run: str, results: list, settings) -> dict[str, Path]:
    from ..analysis import best_response as br
    from ..trainer.run import RunError

    try:
        return br.write_results(Path(out) if out else Path(run) / "best_response", results, settings, run)
    except RunError as e:  # disk full, read-only: the earlier results stay as they were
        raise click.ClickException(str(e)) from None


_loaded: dict[str, object] = {}  # run directory -> its trainer, loaded once per process


def _measure(run: str, unit: tuple[str, int], kind: str, settings, n_envs: int) -> list:
    """The ε measurements of one agent type and seed (a unit of work of the engine: here, or a Ray task
    with a copy of the run directory)."""
    from ..analysis import best_response as br
    from ..trainer.ppo import NonFiniteUpdate

    agent, k = unit
    trainer = _loaded.get(run) or _loaded.setdefault(run, br.load_trainer(run))
    gain = br.training_gain(run, agent)
    s = br.setup_from_trainer(trainer, n_envs, seed=trainer.cfg.seed + 7919 * (k + 1), game=settings.game)
    out = []
    try:
        if kind in ("both", "unilateral"):
            out += br.unilateral(s, agent, settings, seed=k, train_gain=gain)
        if kind in ("both", "type"):
            out.append(br.best_response(s, agent, settings, seed=k, train_gain=gain))
    except NonFiniteUpdate as e:
        e.unit = unit  # which type and seed, for the message
        raise
    return out
