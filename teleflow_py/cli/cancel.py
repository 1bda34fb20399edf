"""``teleflow cancel TRANSACTION_ID``: cancel the pending steps of a triggered workflow."""

from __future__ import annotations

import argparse

from .options import add_api_options, make_client
from .output import EXIT_OK, Output

HELP = "cancel the pending steps (delays, digests) of a triggered transaction"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow cancel``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("transaction_id", metavar="TRANSACTION_ID", help="the trigger's id")
    add_api_options(parser)


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow cancel``; exit 0 whether or not something was left to cancel.

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: bad options or input (exit code 2).
        TeleflowError: the API call failed; ``main`` prints it in one line and picks the
            exit code (1 API error, 2 invalid input, 3 connection).
    """
    with make_client(args) as client:
        cancelled = client.cancel_triggered_event(args.transaction_id)
    human = (
        f"cancelled {args.transaction_id}"
        if cancelled
        else f"nothing to cancel for {args.transaction_id}"
    )
    output.result(
        {"ok": True, "transaction_id": args.transaction_id, "cancelled": cancelled}, human
    )
    return EXIT_OK
