"""CLI commands, one module each, imported only when the command runs (keeps `econdsl check` fast)."""

from __future__ import annotations

import importlib

import click

# Command name -> (module in this package, attribute holding the click command).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check"),
    "explain": ("explain", "explain"),
    "compile": ("compile", "compile"),
    "train": ("train", "train"),
    "plot": ("plot", "plot"),
    "report": ("report", "report"),
    "settings": ("settings", "settings"),
    "diff": ("diff", "diff"),
    "compare": ("compare", "compare"),
    "sweep": ("sweep", "sweep"),
    "best-response": ("best_response", "best_response"),
    "fmt": ("fmt", "fmt"),
    "lsp": ("lsp", "lsp"),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
