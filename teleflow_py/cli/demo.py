"""``teleflow demo``: the whole SDK against an in-process emulator, narrated as it goes."""

from __future__ import annotations

import argparse

from ..demo import run_demo
from .options import add_output_options
from .output import EXIT_API_ERROR, EXIT_OK, Output, UsageError

HELP = "start an emulator in-process and walk through the whole SDK"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow demo``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("--events", type=int, default=10_000, help="track() calls (10000)")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the emulator and its dashboard up after the demo, until Ctrl-C",
    )
    parser.add_argument("--port", type=int, default=0, help="emulator port (0: any free port)")
    add_output_options(parser)


def run(args: argparse.Namespace, output: Output) -> int:
    """Run the demo; exit code 0 when every check held, 1 otherwise.

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: ``--events`` below 1 (exit code 2).
        OSError: the port cannot be bound (exit code 2).
    """
    # With --json, the narration goes to stderr and only the result to stdout.
    if args.events < 1:
        raise UsageError(f"--events: must be >= 1, got {args.events}")
    narration = output.stderr if output.json_mode else output.stdout
    outcome = run_demo(events=args.events, serve=args.serve, port=args.port, out=narration)
    if output.json_mode:
        data = {
            "ok": outcome.ok,
            "checks": outcome.checks,
            "stats": outcome.stats,
            "dashboard": outcome.dashboard,
            "served": args.serve,
        }
        output.result(data, "")
    return EXIT_OK if outcome.ok else EXIT_API_ERROR
