"""The ``econdsl`` command line: a click group; each command lives in ``econdsl.commands``."""

from __future__ import annotations

import click

from .commands import LazyGroup


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="econdsl")
def main() -> None:
    """econdsl: write many-agent economies in .econ files; check, compile, train and compare them."""


if __name__ == "__main__":  # pragma: no cover
    main()
