"""Imports every subcommand module so each registers itself."""

from gankit.cli import arena, export, lab, listing, run_commands, theory, train, translate  # noqa: F401
