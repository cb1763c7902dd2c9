"""Imports every subcommand module so each registers itself."""

from gankit.cli import listing, run_commands, train  # noqa: F401
