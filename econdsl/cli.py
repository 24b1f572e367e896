"""The ``econdsl`` command line: a click group; each command lives in ``econdsl.commands``."""

from __future__ import annotations

import click

from .commands import register


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="econdsl")
def main() -> None:
    """econdsl: write many-agent economies in .econ files; check, compile, train and compare them."""


register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
