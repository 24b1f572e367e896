"""``econdsl best-response RUN``: ε of the meta-game equilibrium test, per agent type."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("best-response")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--type", "types", multiple=True, help="Agent type(s) to best-respond (default: every type).")
@click.option("--iterations", default=100, show_default=True, type=click.IntRange(min=1),
              help="Best-response training iterations per type and seed.")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(min=1), help="Repeats (seeds 0..K-1).")
@click.option("--algo", type=click.Choice(["ppo", "pg"]), default="ppo", show_default=True,
              help="ppo: the run's own PPO settings; pg: the paper's vanilla policy gradient.")
@click.option("--paper", is_flag=True, help="The paper's variant: --algo pg, 0.1× entropy, base lr, no masks.")
@click.option("--envs", type=click.IntRange(min=1), default=None, help="Replicas (default: the run's).")
@click.option("--eval-iterations", default=8, show_default=True, type=click.IntRange(min=1),
              help="Evaluation batches for U before and after.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate (default: see --algo).")
@click.option("--entropy", type=click.FloatRange(min=0), default=None, help="Entropy weight (default: see --algo).")
@click.option("--masks", is_flag=True, help="Keep the curriculum's last action masks (the paper uses none).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Default: RUN/best_response.")
def best_response(run: str, types: tuple[str, ...], iterations: int, seeds: int, algo: str, paper: bool,
                  envs: int | None, eval_iterations: int, lr: float | None, entropy: float | None, masks: bool,
                  out: str | None) -> None:
    """Retrain one agent type's shared policy while every other type keeps its learned stochastic
    policy, and report ε per type: the gain in mean reward (absolute, and relative to the type's
    improvement over training). Writes epsilon.md, epsilon.csv, epsilon.json and curves.png."""
    from ..analysis import best_response as br
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
    settings = br.BRSettings(iterations=iterations, algo="pg" if paper else algo, lr=lr, entropy=entropy,
                             eval_iterations=eval_iterations, masks=masks and not paper)
    n_envs = envs or trainer.cfg.envs
    results = []
    for agent in types or trainer.types:
        gain = br.training_gain(run, agent)
        for k in range(seeds):
            s = br.setup_from_trainer(trainer, n_envs, seed=trainer.cfg.seed + 7919 * (k + 1))
            try:
                r = br.best_response(s, agent, settings, seed=k, train_gain=gain)
            except NonFiniteUpdate as e:  # e.g. --lr 1e30: stop with the type and the quantity, not a traceback
                raise click.ClickException(f"the best response of `{agent}` (seed {k}) produced a non-finite "
                                           f"{e.quantity}. Hint: {e.hint}") from None
            results.append(r)
            click.echo(f"{agent} seed {k}: U {r.before:.6g} → {r.after:.6g}, ε = {r.eps_abs:.4g}"
                       + (f" ({100 * r.eps_rel:.2f}% of the training gain {gain:.4g})" if gain == gain else ""))
    paths = br.write_results(Path(out) if out else Path(run) / "best_response", results, settings, run)
    click.echo(paths["markdown"].read_text(encoding="utf-8"))
    click.echo(f"written: {paths['csv']}, {paths['plot']}")
