"""``teleflow cancel TRANSACTION_ID``: cancel the pending steps of a triggered workflow."""

from __future__ import annotations

import argparse

from .options import add_api_options, make_client
from .output import EXIT_OK, Output

HELP = "cancel the pending steps (delays, digests) of a triggered transaction"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow cancel``."""
    parser.add_argument("transaction_id", metavar="TRANSACTION_ID", help="the trigger's id")
    add_api_options(parser)


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow cancel``; exit 0 whether or not something was left to cancel."""
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
