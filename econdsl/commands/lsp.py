"""``econdsl lsp``: the language server for editors (needs pygls: ``pip install 'econdsl[lsp]'``)."""

from __future__ import annotations

import importlib.util
import sys

import click


@click.command()
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only transport).")
def lsp(stdio: bool) -> None:
    """Run the econdsl language server over stdin/stdout, for editors: the checker's diagnostics as you
    type, hover (kind, unit, shape, range, doc comment), go to definition, find references, completion,
    rename and formatting. Setup for VS Code, Neovim and Emacs: docs/editors.md."""
    if importlib.util.find_spec("pygls") is None:
        click.echo("econdsl lsp needs pygls: pip install 'econdsl[lsp]' (or pip install pygls)", err=True)
        sys.exit(1)
    from ..lsp import serve

    serve()
