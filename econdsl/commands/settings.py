"""``econdsl settings``: every training setting with its default, range and meaning."""

from __future__ import annotations

import click


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True,
              help="markdown: a table for documentation.")
def settings(fmt: str) -> None:
    """List every training setting (the `train` section's vocabulary and `--set NAME=VALUE`) with its default,
    its allowed range and its meaning."""
    from ..trainer.settings_doc import settings_markdown, settings_text

    click.echo(settings_markdown() if fmt == "markdown" else settings_text())
