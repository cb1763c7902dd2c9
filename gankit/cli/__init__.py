"""The ``gankit`` command line: a thin layer over the Python API.

Each subcommand lives in its own module and registers ``(configure, run)`` in ``COMMANDS``;
``main`` turns every :class:`GankitError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from gankit.errors import GankitError
from gankit.registry import Registry

COMMANDS = Registry("command")


def command(name: str, help: str):
    """Register ``configure(parser)``; the decorated function returns ``run(args) -> int``."""

    def deco(configure):
        COMMANDS.register(name, summary=help)(configure)
        return configure

    return deco


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        sys.stderr.write(f"gankit: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def version() -> str:
    """The installed distribution's version, else the package's own ``__version__``."""
    from importlib import metadata

    try:
        return metadata.version("gankit")
    except metadata.PackageNotFoundError:
        from gankit import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    from gankit.cli import commands  # noqa: F401  (registers the subcommands)

    parser = _Parser(
        prog="gankit", description="Generative adversarial networks: train, evaluate, compare, understand."
    )
    parser.add_argument("--version", action="version", version=f"gankit {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS.names():
        entry = COMMANDS.get(name)
        p = sub.add_parser(name, help=entry.summary, description=entry.summary)
        p.set_defaults(_run=entry.factory(p))
    return parser


def _warning_line(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(f"gankit: warning: {message}\n")


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _warning_line
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from gankit.training import distributed

    try:
        code = int(args._run(args) or 0)
        distributed.finish()  # a rank that failed instead makes torchrun stop the others
        return code
    except GankitError as e:
        code = getattr(e, "exit_code", 2)  # 130/143: stopped by SIGINT/SIGTERM after a checkpoint
        sys.stderr.write(f"gankit: {'error' if code == 2 else 'stopped'}: {e}\n")
        return code
    except (MemoryError, RuntimeError) as e:  # training says more (faults.out_of_memory)
        from gankit.training.faults import is_out_of_memory

        if not is_out_of_memory(e):
            raise
        sys.stderr.write(
            "gankit: error: out of memory; ask for less at once: a smaller -n, --n, --n-eval or --batch-size\n"
        )
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("gankit: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
