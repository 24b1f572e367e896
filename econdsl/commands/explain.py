"""``econdsl explain CODE``: print a diagnostics catalogue entry."""

from __future__ import annotations

import click

from ..language.catalogue import CATALOGUE, markdown
from ..language.catalogue import explain as explain_code


@click.command()
@click.argument("code", required=False)
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the whole catalogue as Markdown.")
def explain(code: str | None, as_markdown: bool) -> None:
    """Explain a diagnostic code such as E201 (without CODE: list all codes)."""
    if as_markdown:
        click.echo(markdown(), nl=False)
        return
    if code is None:
        for e in CATALOGUE.values():
            click.echo(f"{e.code}  {e.title}")
        return
    text = explain_code(code)
    if text is None:
        raise click.BadParameter(f"unknown code {code!r}; run `econdsl explain` for the list", param_hint="CODE")
    click.echo(text)
