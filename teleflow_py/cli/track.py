"""``teleflow track EVENT --user-id ID``: record one analytics event and wait until it is delivered."""

from __future__ import annotations

import argparse

from ..analytics import FlushResult
from ..errors import APIConnectionError
from .options import add_api_options, json_object_argument, make_client
from .output import EXIT_API_ERROR, EXIT_CONNECTION, EXIT_OK, Output, UsageError

HELP = "record an analytics event; waits until the server has it"

#: How long ``track`` waits for delivery before it gives up (seconds).
DEFAULT_FLUSH_TIMEOUT = 30.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow track``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("event", metavar="EVENT", help="the event name, e.g. signed_up")
    parser.add_argument("--user-id", metavar="ID", help="your id of the user")
    parser.add_argument(
        "--anonymous-id", metavar="ID", help="an anonymous id (when there is no user id yet)"
    )
    parser.add_argument(
        "--properties", metavar="JSON|@FILE", help="event properties: a JSON object, or @file"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_FLUSH_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for delivery, retries included (default: {DEFAULT_FLUSH_TIMEOUT:g})",
    )
    add_api_options(parser)


def _exit_code(result: FlushResult) -> int:
    if result.ok:
        return EXIT_OK
    last = result.errors[-1] if result.errors else None
    if result.rejected or (last is not None and not isinstance(last, APIConnectionError)):
        return EXIT_API_ERROR
    return EXIT_CONNECTION


def _problem(result: FlushResult, timeout: float, output: Output) -> str:
    if result.errors:
        return output.describe(result.errors[-1])
    if result.rejected:
        return "the server rejected the event"
    return f"not delivered within {timeout:g} seconds"


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow track``; return the exit code (0 only once the server accepted it).

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: bad options or input (exit code 2).
        TeleflowError: the API call failed; ``main`` prints it in one line and picks the
            exit code (1 API error, 2 invalid input, 3 connection).
    """
    if not (args.user_id or args.anonymous_id):
        raise UsageError(
            "teleflow track: give --user-id ID (or --anonymous-id ID for a visitor who is "
            "not signed in)"
        )
    properties = json_object_argument(args.properties, "--properties")
    with make_client(args) as client:
        client.track(
            args.event,
            user_id=args.user_id,
            anonymous_id=args.anonymous_id,
            properties=properties,
        )
        result = client.shutdown(timeout=args.timeout)
    code = _exit_code(result)
    data = {
        "ok": code == EXIT_OK,
        "event": args.event,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "pending": result.pending,
    }
    output.result(
        data, f"delivered {args.event!r}" if code == EXIT_OK else f"not delivered {args.event!r}"
    )
    if code != EXIT_OK:
        output.note(
            f"teleflow: error: {args.event!r} not delivered: {_problem(result, args.timeout, output)}"
        )
    return code
