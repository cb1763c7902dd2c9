"""Imports every subcommand module so each registers itself."""

from gankit.cli import (  # noqa: F401
    arena,
    export,
    fid,
    lab,
    listing,
    run_commands,
    theory,
    train,
    translate,
)
