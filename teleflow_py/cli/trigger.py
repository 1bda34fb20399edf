"""``teleflow trigger NAME --to SUBSCRIBER``: trigger a workflow once."""

from __future__ import annotations

import argparse
from typing import Any, Dict, cast

from ..results import TriggerResult
from ..types import Recipients
from .options import add_api_options, id_or_object_argument, json_object_argument, make_client
from .output import EXIT_API_ERROR, EXIT_OK, Output

HELP = "trigger a workflow for one or more subscribers or topics"


def add_trigger_options(parser: argparse.ArgumentParser) -> None:
    """The options a trigger and a broadcast share.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("name", metavar="NAME", help="the workflow's trigger identifier")
    parser.add_argument(
        "--payload", metavar="JSON|@FILE", help="the payload: a JSON object, or @file (@- stdin)"
    )
    parser.add_argument(
        "--overrides", metavar="JSON|@FILE", help="provider overrides: a JSON object, or @file"
    )
    parser.add_argument(
        "--actor", metavar="ID|JSON", help="the actor: a subscriber id, or a JSON subscriber"
    )
    parser.add_argument(
        "--tenant", metavar="ID|JSON", help="the tenant: an identifier, or a JSON tenant"
    )
    parser.add_argument("--transaction-id", metavar="ID", help="your id for this trigger")
    parser.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="send the same key again and the server answers without triggering twice "
        "(default: a new key for each run)",
    )
    add_api_options(parser)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow trigger``.

    Args:
        parser: the sub-command's parser.
    """
    add_trigger_options(parser)
    parser.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="SUBSCRIBER",
        help='a subscriber id, or a JSON object: a subscriber ({"subscriberId": ...}) '
        'or a topic ({"type": "Topic", "topicKey": ...}); repeat for several',
    )


def trigger_fields(args: argparse.Namespace) -> Dict[str, Any]:
    """The keyword arguments of the client call common to trigger and broadcast.

    Args:
        args: the parsed command line.

    Raises:
        UsageError: an option's JSON does not parse or is not an object.
    """
    return {
        "overrides": json_object_argument(args.overrides, "--overrides"),
        "actor": id_or_object_argument(args.actor, "--actor"),
        "tenant": id_or_object_argument(args.tenant, "--tenant"),
        "transaction_id": args.transaction_id,
        "idempotency_key": args.idempotency_key,
    }


def report(output: Output, result: TriggerResult, what: str) -> int:
    """Print a trigger's result; return exit code 1 when the server did not process it.

    Args:
        output: where to print.
        result: the server's answer.
        what: names the call in the error line (``trigger 'welcome'``).
    """
    response = result.response
    data = {
        "ok": result.ok,
        "acknowledged": result.acknowledged,
        "status": result.status,
        "transaction_id": result.transaction_id,
        "error": result.error,
        "request_id": response.request_id if response is not None else None,
        "idempotency_key": response.idempotency_key if response is not None else None,
    }
    output.result(data, f"{result.status or 'no status'}: transactionId={result.transaction_id}")
    if result.ok:
        return EXIT_OK
    detail = "; ".join(result.error) or "no reason given"
    request_id = f" (request id {data['request_id']})" if data["request_id"] else ""
    output.note(
        f"teleflow: error: {what} was not processed: "
        f"status {result.status or '(empty answer)'}: {detail}{request_id}"
    )
    return EXIT_API_ERROR


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow trigger``; return the exit code.

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: bad options or input (exit code 2).
        TeleflowError: the API call failed; ``main`` prints it in one line and picks the
            exit code (1 API error, 2 invalid input, 3 connection).
    """
    recipients = [id_or_object_argument(value, "--to") for value in args.to]
    # The client checks each recipient's shape (and names the bad one) before sending.
    to = cast(Recipients, recipients[0] if len(recipients) == 1 else recipients)
    fields = trigger_fields(args)
    payload = json_object_argument(args.payload, "--payload")
    with make_client(args) as client:
        result = client.trigger_event(args.name, to, payload=payload, **fields)
    return report(output, result, f"trigger {args.name!r}")
