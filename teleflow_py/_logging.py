"""The SDK's loggers: one documented tree, a filter that keeps the API key out of every record,
and ``TELEFLOW_LOG`` to print them on stderr without configuring logging.

The tree (``docs/observability.rst`` says what each one logs)::

    teleflow_py                 anything not below
    teleflow_py.events          Events calls: attempts and retries at DEBUG, a call that
                                fails for good at WARNING (once), rate-limit waits at DEBUG
    teleflow_py.analytics       the analytics queue, worker, spool, exit and fork hooks
    teleflow_py.emulator        the local emulator
    teleflow_py.cli             the ``teleflow`` command
    teleflow_py.integrations    the optional hooks (signals, serverless, celery, otel)

Every logger of the tree carries :class:`SecretFilter` from the moment ``teleflow_py`` is
imported, so a record is cleaned where it is made, before any handler (the application's
included) sees it. Modules take their logger with ``logging.getLogger(<a name above>)``;
``tests/wire/test_logging_tree.py`` fails on any other name under ``teleflow_py``.

``TELEFLOW_LOG=debug`` (or ``info``, ``warning``, ``error``), read once when ``teleflow_py``
is imported, adds a stderr handler to ``teleflow_py`` and sets its level, as ``OPENAI_LOG``
does for openai-python, but on the SDK's logger only, never on the root logger.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, List, Mapping, Optional, TextIO

from ._credential import live_keys, mask_key

ROOT = "teleflow_py"
EVENTS = "teleflow_py.events"
ANALYTICS = "teleflow_py.analytics"
EMULATOR = "teleflow_py.emulator"
CLI = "teleflow_py.cli"
INTEGRATIONS = "teleflow_py.integrations"
TREE = (ROOT, EVENTS, ANALYTICS, EMULATOR, CLI, INTEGRATIONS)

ENVIRONMENT_VARIABLE = "TELEFLOW_LOG"
LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMAT = "[%(asctime)s - %(name)s:%(lineno)d - %(levelname)s] %(message)s"

# An Authorization value written out, whatever the key: "ApiKey sk_live_...".
_AUTHORIZATION = re.compile(r"(ApiKey\s+)(?!\*\*\*)[^\s'\",;}\]]+")


def scrub(text: str, keys: Optional[List[str]] = None) -> str:
    """``text`` with every live API key masked and any ``ApiKey <token>`` value hidden.

    Args:
        text: the text to clean.
        keys: the keys to mask (None: the keys of the live clients).
    """
    for key in live_keys() if keys is None else keys:
        if key and key in text:
            text = text.replace(key, mask_key(key))
    return _AUTHORIZATION.sub(r"\1***", text)


class SecretFilter(logging.Filter):
    """Cleans a record's message, arguments, traceback, stack and extra strings of keys.

    The message is formatted here (``msg % args``) and the arguments dropped, so a handler
    cannot format a key back in. Never rejects a record and never raises.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            keys = live_keys()
            record.msg = scrub(record.getMessage(), keys)
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text, keys)
            if record.stack_info:
                record.stack_info = scrub(record.stack_info, keys)
            for name, value in list(vars(record).items()):
                if name not in _STANDARD and isinstance(value, str):
                    setattr(record, name, scrub(value, keys))
        except Exception:  # a broken record is the handler's to report, not ours
            pass
        return True


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

FILTER = SecretFilter()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def install_filters() -> None:
    """Put :data:`FILTER` on every logger of the tree (idempotent)."""
    for name in TREE:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)


def setup_from_environment(environ: Mapping[str, str] = os.environ) -> Optional[logging.Handler]:
    """Read ``TELEFLOW_LOG`` and, if it names a level, log the SDK on stderr at that level.

    Unknown values are ignored. Called once when ``teleflow_py`` is imported; a second call
    adds no second handler.

    Args:
        environ: where to read the variable.

    Returns:
        The handler added, or None.
    """
    install_filters()
    level = LEVELS.get(environ.get(ENVIRONMENT_VARIABLE, "").strip().lower())
    if level is None:
        return None
    logger = logging.getLogger(ROOT)
    for handler in logger.handlers:
        if isinstance(handler, _StderrHandler):
            logger.setLevel(level)
            return None
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(FILTER)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
