"""The ``teleflow`` command: run the local emulator, or the demo of the whole SDK."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ._version import __version__
from .emulator.command import configure_parser as configure_emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="teleflow",
        description="Teleflow SDK tools: a local API emulator and a guided demo.",
    )
    parser.add_argument("--version", action="version", version=f"teleflow-py {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    emulator = commands.add_parser(
        "emulator", help="run the local Teleflow API emulator and its dashboard"
    )
    configure_emulator(emulator)

    demo = commands.add_parser(
        "demo", help="start an emulator in-process and walk through the whole SDK"
    )
    demo.add_argument("--events", type=int, default=10_000, help="track() calls (10000)")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the emulator and its dashboard up after the demo, until Ctrl-C",
    )
    demo.add_argument("--port", type=int, default=0, help="emulator port (0: any free port)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``teleflow`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        from .emulator.command import run as run_emulator

        return run_emulator(args)
    from .demo import run_demo

    return run_demo(events=args.events, serve=args.serve, port=args.port, out=sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
