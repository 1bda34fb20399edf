"""``teleflow broadcast NAME --payload JSON``: trigger a workflow for every subscriber."""

from __future__ import annotations

import argparse

from .options import json_object_argument, make_client
from .output import Output
from .trigger import add_trigger_options, report, trigger_fields

HELP = "trigger a workflow for every subscriber"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow broadcast``.

    Args:
        parser: the sub-command's parser.
    """
    add_trigger_options(parser)


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow broadcast``; return the exit code.

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: bad options or input (exit code 2).
        TeleflowError: the API call failed; ``main`` prints it in one line and picks the
            exit code (1 API error, 2 invalid input, 3 connection).
    """
    payload = json_object_argument(args.payload, "--payload")
    fields = trigger_fields(args)
    with make_client(args) as client:
        result = client.broadcast_event(args.name, payload or {}, **fields)
    return report(output, result, f"broadcast {args.name!r}")
