"""``teleflow broadcast NAME --payload JSON``: trigger a workflow for every subscriber."""

from __future__ import annotations

import argparse

from .options import json_object_argument, make_client
from .output import Output
from .trigger import add_trigger_options, report, trigger_fields

HELP = "trigger a workflow for every subscriber"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow broadcast``."""
    add_trigger_options(parser)


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow broadcast``; return the exit code."""
    payload = json_object_argument(args.payload, "--payload")
    fields = trigger_fields(args)
    with make_client(args) as client:
        result = client.broadcast_event(args.name, payload or {}, **fields)
    return report(output, result, f"broadcast {args.name!r}")
