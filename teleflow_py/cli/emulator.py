"""``teleflow emulator``: run the local Teleflow API emulator and its dashboard until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from ..emulator import Emulator
from .options import add_output_options
from .output import EXIT_OK, Output, UsageError

HELP = "run the local Teleflow API emulator and its dashboard"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow emulator``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=4010, help="port to bind (4010; 0: any)")
    parser.add_argument("--db", metavar="PATH", help="keep everything in this SQLite file")
    parser.add_argument(
        "--workflow",
        action="append",
        dest="workflows",
        metavar="NAME",
        help="a known workflow name (repeat); others get 422. Default: all names accepted",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        metavar="N",
        help="allow N requests per second, then answer 429 (off by default)",
    )
    add_output_options(parser)


def run(args: argparse.Namespace, output: Output) -> int:
    """Serve until Ctrl-C, which is the normal way to stop it (exit code 0).

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: the address cannot be listened on (exit code 2).
    """
    emu = Emulator(
        args.host,
        args.port,
        db_path=args.db,
        known_workflows=args.workflows,
        rate_limit=args.rate_limit,
    )
    try:
        emu.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from exc
    try:
        output.result(
            {"url": emu.url, "dashboard": emu.url + "/"},
            f"Teleflow emulator on {emu.url} (dashboard: {emu.url}/), Ctrl-C to stop",
        )
        while True:
            time.sleep(3600)  # a plain sleep, unlike Event.wait, is interruptible everywhere
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        emu.stop()
