"""The ``teleflow`` command: the Events API, bulk sends and analytics from a shell, the
local emulator and the demo.

One module per command, each with ``configure_parser(parser)`` and ``run(args, output)``;
what is printed, and the exit codes, live in :mod:`teleflow_py.cli.output`:
0 success, 1 API error, 2 usage or input error, 3 connection error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
import warnings
from types import ModuleType
from typing import Any, Iterator, List, NoReturn, Optional, Sequence

from .._version import __version__
from ..errors import TeleflowError
from . import broadcast, bulk, cancel, demo, emulator, spool, track, trigger
from .options import api_key_of, key_hint_of
from .output import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    LibraryLogging,
    Output,
    UsageError,
    flag_names,
)

#: Every command, in the order ``teleflow --help`` lists them.
COMMANDS: Sequence[ModuleType] = (
    trigger,
    broadcast,
    cancel,
    bulk,
    track,
    spool,
    emulator,
    demo,
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, raised rather than exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``teleflow`` command and its subcommands."""
    parser = _Parser(
        prog="teleflow",
        description="Teleflow from a shell: trigger workflows, send a JSON Lines file in bulk, "
        "track analytics events, inspect an analytics spool, run the local emulator or the demo. "
        "Exit codes: 0 success, 1 API error, 2 usage or input error, 3 connection error, "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"teleflow-py {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in COMMANDS:
        name = module.__name__.rpartition(".")[2]
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure_parser(sub)
        sub.set_defaults(run=module.run, names=flag_names(sub))
    return parser


def _quiet_stdout() -> None:
    # stdout was closed under us (``teleflow ... | head``): point it at /dev/null so the
    # interpreter's final flush does not print a second error.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@contextlib.contextmanager
def _warnings_as_notes(output: Output) -> Iterator[None]:
    # The SDK's warnings (a base_url corrected, for one) as one line each, not Python's
    # two-line format that points into the command's own source.
    def show(message: Any, category: Any, *_: Any, **__: Any) -> None:
        output.note(f"teleflow: warning: {message}")

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        # Not the user's to act on: the collector's notes about objects it finalises
        # (Python 3.13's sqlite3 says so of any connection it closes) are not shown.
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.showwarning = show
        yield


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``teleflow`` console script; returns the exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    output = Output(json_mode="--json" in arguments)
    try:
        args = build_parser().parse_args(arguments)
        output = Output(
            json_mode=args.json,
            secret=api_key_of(args),
            key_hint=key_hint_of(args),
            names=args.names,
        )
        quiet = getattr(args, "quiet_retries", True)
        with LibraryLogging(output, args.verbose, quiet), _warnings_as_notes(output):
            try:
                code: int = args.run(args, output)
                return code
            except (KeyboardInterrupt, BrokenPipeError):
                raise
            except Exception as exc:
                if args.verbose and not isinstance(exc, (UsageError, TeleflowError, OSError)):
                    output.note(traceback.format_exc().rstrip())
                return output.error(exc)
    except UsageError as exc:
        return output.error(exc)
    except KeyboardInterrupt:
        output.note("teleflow: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
