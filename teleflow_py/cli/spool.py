"""``teleflow spool PATH``: what a durable analytics spool holds, and re-queueing its dead letters."""

from __future__ import annotations

import argparse
from typing import Any, Dict, Optional

from ..analytics import SpoolError, inspect_spool, retry_dead_letters
from .options import add_output_options
from .output import EXIT_OK, Output, UsageError

HELP = "show what an analytics spool file holds; --retry-dead re-queues its dead letters"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow spool``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("path", metavar="PATH", help="the spool file (a client's spool_path)")
    parser.add_argument(
        "--retry-dead",
        action="store_true",
        help="queue the dead letters again; the next client using the spool sends them",
    )
    add_output_options(parser)


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow spool``: print the spool's counts (after re-queueing, with --retry-dead).

    The file is opened read-only (SQLite ``mode=ro``) and never created, converted or
    written: a path that is not a spool (another application's database, an empty file, a
    symbolic link) is refused and left as it was. ``--retry-dead`` is the one option that
    writes, and only once the file was found to be a spool. Reading takes no lock a
    running client waits on (SQLite WAL readers do not block the writer), so it is safe
    on the spool of a live process.

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: the file is missing or is not a spool (exit code 2).
    """
    try:
        requeued = retry_dead_letters(args.path) if args.retry_dead else None
        summary: Dict[str, Any] = inspect_spool(args.path)
    except FileNotFoundError:
        raise UsageError(f"{args.path}: no such spool file") from None
    except SpoolError as exc:
        raise UsageError(str(exc)) from None
    summary["ok"] = True
    if requeued is not None:
        summary["requeued_dead_letters"] = requeued
    lines = [
        f"spool {summary['path']} ({summary['size_bytes']:,} bytes)",
        f"  pending events   {summary['pending_events']:,}"
        f" (oldest {_age(summary['oldest_age_seconds'])})",
        f"  pending batches  {summary['pending_batches']:,}"
        f" ({summary['claimed_batches']:,} claimed by a process)",
        f"  dead letters     {summary['dead_letters']:,}",
    ]
    if requeued is not None:
        lines.append(f"  re-queued {requeued:,} dead letters")
    output.result(summary, "\n".join(lines))
    return EXIT_OK
