"""CLI commands, one module each; ``register`` adds every available one to the ``econdsl`` group."""

from __future__ import annotations

import importlib

import click

# Module name -> attribute holding the click command. Each module owns one command.
COMMANDS = {
    "train": "train",
    "plot": "plot",
    "check": "check",
    "explain": "explain",
    "diff": "diff",
    "sweep": "sweep",
    "compare": "compare",
    "best_response": "best_response",
    "compile": "compile",
}


def register(group: click.Group) -> None:
    for module, attr in COMMANDS.items():
        mod = importlib.import_module(f"{__name__}.{module}")
        group.add_command(getattr(mod, attr))
