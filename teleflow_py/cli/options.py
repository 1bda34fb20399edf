"""Options shared by the commands, and turning their text into what the client takes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, Optional, Union

from ..client import Client
from ..config import API_KEY_ENV, BASE_URL_ENV, key_hint
from .output import UsageError


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--verbose``, which every command takes.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON object on stdout",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="log every request on stderr (method, URL, status, retries; the key redacted)",
    )


def add_api_options(parser: argparse.ArgumentParser) -> None:
    """``--api-key``, ``--base-url``, ``--max-retries``, ``--quiet`` and the output options.

    Args:
        parser: the sub-command's parser.
    """
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the API key (default: ${API_KEY_ENV}; prefer the variable, a command line is visible to other users)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the API root (default: ${BASE_URL_ENV}, then the hosted API)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries of a failed request, same idempotency key each time "
        "(default: the client's, 5)",
    )
    group.add_argument(
        "--quiet",
        "-q",
        dest="quiet_retries",
        action="store_true",
        help="no line on stderr when a request waits to be retried",
    )
    add_output_options(parser)


def api_key_of(args: argparse.Namespace) -> Optional[str]:
    """The key a command will use (for scrubbing it from output), if there is one.

    Args:
        args: the parsed command line.
    """
    key = getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV)
    return key or None


def key_hint_of(args: argparse.Namespace) -> str:
    """Which key a command uses, safe to print: its source and at most its last 4 characters.

    Args:
        args: the parsed command line.
    """
    if getattr(args, "api_key", None):
        return key_hint(args.api_key, "--api-key")
    key = os.environ.get(API_KEY_ENV)
    return key_hint(key, f"the {API_KEY_ENV} environment variable") if key else ""


def make_client(args: argparse.Namespace, **settings: Any) -> Client:
    """A client built from the connection options.

    Args:
        args: the parsed command line (``api_key``, ``base_url``, ``max_retries``).
        settings: more :class:`~teleflow_py.Client` settings.

    Raises:
        UsageError: no API key, or a negative ``--max-retries``.
        ValidationError: a setting the client refuses (a bad ``--base-url``).
    """
    if api_key_of(args) is None:
        raise UsageError(f"no API key: pass --api-key or set {API_KEY_ENV}")
    if args.max_retries is not None:
        if args.max_retries < 0:
            raise UsageError(f"--max-retries: must be >= 0, got {args.max_retries}")
        settings["max_retries"] = args.max_retries
    return Client(
        api_key=api_key_of(args), base_url=args.base_url, register_atexit=False, **settings
    )


def read_text_argument(value: str, option: str) -> str:
    """``value`` itself, or the content of a file for ``@PATH`` (``@-``: stdin).

    Args:
        value: the option's value.
        option: the option's name, for the error message.

    Raises:
        UsageError: the file cannot be read.
    """
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{option}: cannot read {path}: {reason}") from exc


def json_object_argument(value: Optional[str], option: str) -> Optional[Dict[str, Any]]:
    """Parse ``JSON`` or ``@file`` holding a JSON object; ``None`` stays ``None``.

    Args:
        value: the option's value.
        option: the option's name, for the error message.

    Raises:
        UsageError: unreadable, not JSON, or not an object (the message names ``option``).
    """
    if value is None:
        return None
    parsed = _parse_json(read_text_argument(value, option), option)
    if not isinstance(parsed, dict):
        raise UsageError(f"{option}: must be a JSON object, not {_json_type(parsed)}")
    return parsed


def id_or_object_argument(value: Optional[str], option: str) -> Union[str, Dict[str, Any], None]:
    """A value that starts with ``{`` is a JSON object; anything else is an id, as is.

    Args:
        value: the option's value.
        option: the option's name, for the error message.

    Raises:
        UsageError: it starts with ``{`` but is not a JSON object.
    """
    if value is None:
        return None
    if not value.lstrip().startswith("{"):
        return value
    parsed = _parse_json(value, option)
    if not isinstance(parsed, dict):
        raise UsageError(f"{option}: must be a JSON object, not {_json_type(parsed)}")
    return parsed


def _parse_json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{option}: not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise UsageError(f"{option}: JSON nested too deeply") from exc


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
