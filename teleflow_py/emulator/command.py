"""``teleflow emulator``: run the emulator in the foreground, one log line per request.

``configure_parser`` adds the options to a (sub)parser; ``run`` runs it and returns the exit
status. Every expected failure (port in use, bad port, a database that cannot be opened, a
bad option value) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sqlite3
import sys
import threading
import time
import warnings
from types import FrameType
from typing import Any, Optional, TextIO

from .emulator import Emulator
from .ratelimit import TIERS
from .settings import SERVER_VERSIONS

_PREFIX = "teleflow emulator"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``.

    Args:
        parser: the ``emulator`` sub-command's parser (or a parser of its own).
    """
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", default="4010", help="port to bind (4010; 0: any free port)")
    parser.add_argument("--db", metavar="PATH", help="keep everything in this SQLite file")
    parser.add_argument(
        "--workflow",
        action="append",
        dest="workflows",
        metavar="NAME",
        help="a known workflow name (repeat); others get 422. Default: all names accepted",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this API key (repeat for more). Default: any key",
    )
    parser.add_argument(
        "--idempotency",
        choices=("on", "off"),
        default="on",
        help="honour Idempotency-Key (on: the hosted service; off: a self-hosted server as "
        "shipped, IS_API_IDEMPOTENCY_ENABLED=false)",
    )
    parser.add_argument(
        "--rate-limiting",
        choices=("on", "off"),
        default="on",
        help="token buckets per API key with RateLimit-* headers (on: the hosted service; "
        "off: self-hosted, IS_API_RATE_LIMITING_ENABLED=false)",
    )
    parser.add_argument(
        "--rate-limit-tier",
        default="unlimited",
        metavar="TIER",
        help=f"{'|'.join(TIERS)} or N tokens per 1 s window in every category "
        "(default unlimited; a new hosted organisation is free)",
    )
    parser.add_argument(
        "--event-quota",
        metavar="N",
        help="answer 402 Payment Required on the events routes after N triggered events "
        "(default: no quota)",
    )
    parser.add_argument(
        "--server-version",
        default="fork",
        metavar="VERSION",
        help=f"fork (= {SERVER_VERSIONS[0]}, NxPKG/teleflow 2066d4c74, default) or latest "
        f"(= {SERVER_VERSIONS[1]}: timestamp/path in error bodies)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        dest="allowed_hosts",
        default=[],
        metavar="NAME",
        help="another Host name the dashboard answers to (loopback names always work)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print a line per request")


def _fail(message: str, err: TextIO) -> int:
    print(f"{_PREFIX}: error: {message}", file=err, flush=True)
    return 2


def _number(text: Optional[str], name: str, low: int, high: int) -> int:
    value = text.strip() if text is not None else ""
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {text!r}")
    return int(value)


def _options(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": args.host,
        "port": _number(args.port, "--port", 0, 65535),
        "db_path": args.db,
        "known_workflows": args.workflows,
        "api_keys": args.api_keys,
        "server_version": args.server_version,
        "allowed_hosts": args.allowed_hosts,
    }
    options["idempotency"] = args.idempotency == "on"
    options["rate_limiting"] = args.rate_limiting == "on"
    tier = args.rate_limit_tier
    options["rate_limit_tier"] = (
        tier if tier in TIERS else _number(tier, "--rate-limit-tier (a tier or N)", 1, 10**9)
    )
    if args.event_quota is not None:
        options["event_quota"] = _number(args.event_quota, "--event-quota", 0, 10**12)
    if not args.quiet:

        def say(line: str) -> None:
            stamp = time.strftime("%H:%M:%S")
            print(f"{stamp} {line}", file=out, flush=True)

        options["request_log"] = say
    return options


def _start(options: dict[str, Any], err: TextIO) -> Emulator:
    """Build and start; turn the expected failures into ValueError with a clear message."""
    try:
        emulator = Emulator(**options)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open --db {options['db_path']}: {exc}") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            emulator.start()
        except OSError as exc:
            where = f"{options['host']}:{options['port']}"
            if exc.errno == errno.EADDRINUSE:
                message = f"port {options['port']} is already in use on {options['host']}"
                raise ValueError(message) from None
            raise ValueError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    for warning in caught:
        print(f"{_PREFIX}: warning: {warning.message}", file=err, flush=True)
    return emulator


def _describe(settings: dict[str, Any]) -> str:
    """One line on what server this emulates: its version and the state of its flags."""
    tier = settings["rate_limit_tier"]
    quota = settings["event_quota"]
    return (
        f"server {settings['server_version']}: "
        f"idempotency {'on' if settings['idempotency'] else 'off'}, "
        f"rate limiting {'off' if tier is None else 'on (' + tier + ')'}, "
        f"event quota {'none' if quota is None else quota}"
    )


def run(
    args: argparse.Namespace, out: Optional[TextIO] = None, err: Optional[TextIO] = None
) -> int:
    """Run the emulator until Ctrl-C or SIGTERM; return the exit status.

    Args:
        args: the parsed options (see ``configure_parser``).
        out: where the address and request lines go (default: stdout).
        err: where warnings and errors go (default: stderr).

    Returns:
        0 after a clean stop, 2 when the options or the environment do not allow a start.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        emulator = _start(_options(args, out), err)
    except ValueError as exc:
        return _fail(str(exc), err)
    stop = threading.Event()

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    # Installed before the address is printed: whoever reads it may stop us at once.
    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        # One line: under --json it becomes {"url", "dashboard"} (the rest is in /emulator/settings).
        print(
            f"Teleflow emulator on {emulator.url} (dashboard: {emulator.url}/), Ctrl-C to stop; "
            f"{_describe(emulator.settings())}",
            file=out,
            flush=True,
        )
        while not stop.is_set():
            time.sleep(0.2)  # a plain sleep is interruptible by Ctrl-C everywhere
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    return 0
