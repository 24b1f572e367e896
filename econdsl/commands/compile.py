"""``econdsl compile FILE``: lower a model to the IR and dump it, or write a backend's generated sources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--emit", type=click.Choice(["ir", "ir-unoptimized"]), default=None,
              help="Print the IR (after or before optimisation) instead of compiling.")
@click.option("--backend", type=click.Choice(["torch", "triton"]), default="torch", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Directory to write the generated sources to.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a constant or parameter.")
def compile(file: str, emit: str | None, backend: str, dtype: str, out_dir: str | None,
            sets: tuple[str, ...]) -> None:
    """Compile FILE: dump its IR (--emit ir) or write generated sources (--backend … -o DIR)."""
    import torch

    from ..compiler.backends import compile_program
    from ..compiler.dump import format_program
    from ..compiler.lower import lower
    from ..language import EconError
    from ..runtime.model import Model, check_with_overrides

    overrides = {}
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a number", param_hint="--set") from None
    try:
        if emit == "ir-unoptimized":
            click.echo(format_program(lower(check_with_overrides(file, overrides))), nl=False)
            return
        model = Model(file, overrides)
    except EconError as e:
        click.echo(e.diagnostics.render(color=sys.stdout.isatty()), err=True)
        sys.exit(1)
    if emit == "ir":
        click.echo(format_program(model.program), nl=False)
        return
    if backend == "triton" and not torch.cuda.is_available():
        # only the sources are needed here: build them through the Triton interpreter on CPU
        os.environ.setdefault("TRITON_INTERPRET", "1")
    device = "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"
    compiled = compile_program(model.program, backend, device, getattr(torch, dtype))
    sources = compiled.sources()
    if out_dir is None:
        for name, text in sources.items():
            click.echo(f"# ---- {name}")
            click.echo(text, nl=False)
        return
    from ..trainer.fileio import RunError, describe, write_atomic

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in sources.items():
            write_atomic(out / Path(name).name, text)
            click.echo(f"wrote {out / Path(name).name}")
    except OSError as e:
        raise click.ClickException(f"cannot write to `{out}`: {describe(e)}") from None
    except RunError as e:
        raise click.ClickException(str(e)) from None
