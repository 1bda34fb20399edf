"""What the ``teleflow`` command prints, and the exit codes a script can rely on.

Every command prints its result on stdout: a short human text, or with ``--json`` exactly
one JSON object. Problems are one line on stderr (``teleflow: error: ...``), with the
server's request id when it sent one, never a traceback. The API key is scrubbed from
everything written, log lines included.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from typing import Any, Dict, List, Mapping, Match, Optional, TextIO

from .._core.attempts import RetryNote
from ..errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BulkTriggerError,
    QuotaExceededError,
    ResponseTooLargeError,
    TeleflowError,
    ValidationError,
)

#: Success.
EXIT_OK = 0
#: The server refused the request (an HTTP error, or a trigger it did not process).
EXIT_API_ERROR = 1
#: A bad command line or bad input (an unreadable file, a line that does not parse).
EXIT_USAGE = 2
#: No answer from the server (refused, reset, timed out), after retries.
EXIT_CONNECTION = 3
#: A call may or may not have been delivered: it failed after the request was sent, and
#: the server does not deduplicate, so it was not retried. Check before running it again.
EXIT_MAYBE_DELIVERED = 4
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: stdout was closed before everything was written (``teleflow ... | head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141

LIBRARY_LOGGER = "teleflow_py"
#: Shorter keys are not real keys; scrubbing them would mangle ordinary words.
MIN_SCRUBBED_LENGTH = 8

#: Inside a message only names with an underscore are replaced ("to" is also a word).
_SNAKE_NAME = re.compile(r"(?<![\w.-])([a-z]+(?:_[a-z]+)+)(?![\w-])")
_LEADING_NAME = re.compile(r"^(\w+)(?=[\[.:])")


def flag_names(parser: argparse.ArgumentParser) -> Dict[str, str]:
    """What a command calls each SDK argument: ``{"user_id": "--user-id", "event": "EVENT"}``.

    Args:
        parser: the command's parser (an option's ``dest`` is the SDK's argument name).
    """
    names: Dict[str, str] = {}
    for action in parser._actions:
        if action.option_strings:
            names[action.dest] = max(action.option_strings, key=len)
        elif isinstance(action.metavar, str):
            names[action.dest] = action.metavar
    return names


class UsageError(Exception):
    """A bad command line or bad input; exit code 2. The message is the whole line."""


class InterruptedByUser(Exception):
    """Ctrl-C, after the command said what it had done so far; exit code 130."""


def exit_code_for(error: BaseException) -> int:
    """The exit code of a command that ended with ``error``.

    Args:
        error: what ended the command.
    """
    if maybe_delivered(error):
        return EXIT_MAYBE_DELIVERED
    if isinstance(error, (UsageError, ValidationError, OSError)):
        return EXIT_USAGE
    if isinstance(error, APIConnectionError):
        return EXIT_CONNECTION
    if isinstance(error, InterruptedByUser):
        return EXIT_INTERRUPTED
    return EXIT_API_ERROR


def maybe_delivered(error: BaseException) -> bool:
    """Whether ``error`` (or the failed request of a bulk trigger) may have been delivered.

    Args:
        error: what ended the command.
    """
    if isinstance(error, BulkTriggerError):
        error = error.error
    return bool(getattr(error, "maybe_delivered", False))


def with_flag_names(text: str, names: Mapping[str, str]) -> str:
    """``text`` with the SDK's argument names (``user_id``) replaced by the options (``--user-id``).

    The argument a message starts with (``to[1]: ...``) is always replaced; inside the
    message, only names with an underscore, which cannot be ordinary words.

    Args:
        text: a message of the SDK about its arguments (``"<argument>: <message>"``).
        names: the command's names of the arguments, from :func:`flag_names`.
    """

    def replace(match: Match[str]) -> str:
        return names.get(match.group(1), match.group(1))

    return _SNAKE_NAME.sub(replace, _LEADING_NAME.sub(replace, text))


def plural(number: int, noun: str, plural_noun: str = "") -> str:
    """``1 event``, ``2 events``: the number with its noun, in the right number.

    Args:
        number: how many.
        noun: the noun in the singular.
        plural_noun: the plural when it is not ``noun + "s"``.
    """
    return f"{number:,} {noun if number == 1 else plural_noun or noun + 's'}"


def describe(
    error: BaseException, key_hint: str = "", names: Optional[Mapping[str, str]] = None
) -> str:
    """One line saying what went wrong and what to do, with the server's request id.

    Args:
        error: what went wrong.
        key_hint: which API key the command used, safe to print (see
            :func:`teleflow_py.config.key_hint`); named when the server refuses it.
        names: the command's names of the SDK's arguments (see :func:`flag_names`).
    """
    if isinstance(error, InterruptedByUser):
        return str(error) or "interrupted"
    if maybe_delivered(error):
        # The error says why it was not retried and what to check.
        return " ".join(f"may or may not have been delivered: {error}".split())
    if isinstance(error, QuotaExceededError):
        return " ".join(
            f"event quota exceeded (HTTP 402): {error.server_message or 'payment required'}: "
            "nothing was sent; raise the plan's quota or wait for it to renew".split()
        )
    if isinstance(error, APIConnectionError):
        text = f"connection failed: {error}"
        if error.retry_count:
            plural = "retry" if error.retry_count == 1 else "retries"
            text += f" (after {error.retry_count} {plural})"
        if not isinstance(error, ResponseTooLargeError):
            text += ": check that the API answers at that address (--base-url or TELEFLOW_BASE_URL)"
        return text
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    text = str(error) or type(error).__name__
    if isinstance(error, AuthenticationError):
        which = key_hint or "the key"
        text = (
            f"HTTP 401: {error.server_message or 'unauthorized'}: the server refused {which}; "
            "pass the right one with --api-key or set TELEFLOW_API_KEY"
        )
    if isinstance(error, ValidationError):
        text = with_flag_names(text, names or {})
    if isinstance(error, APIError) and error.request_id:
        text += f" (request id {error.request_id})"
    if not isinstance(error, (TeleflowError, UsageError)):
        text = f"unexpected {type(error).__name__}: {text} (run with --verbose for details)"
    return " ".join(text.split())


def error_fields(
    error: BaseException, key_hint: str = "", names: Optional[Mapping[str, str]] = None
) -> Dict[str, Any]:
    """The machine-readable form of an error, as the ``error`` field of ``--json`` output.

    Args:
        error: what went wrong.
        key_hint: which API key the command used, safe to print.
        names: the command's names of the SDK's arguments (see :func:`flag_names`).
    """
    fields: Dict[str, Any] = {
        "type": type(error).__name__,
        "message": describe(error, key_hint, names),
        "exit_code": exit_code_for(error),
        "status": None,
        "request_id": None,
    }
    if isinstance(error, APIError):
        fields["status"] = error.status
        fields["request_id"] = error.request_id
    return fields


class Output:
    """Where a command writes: results on stdout, errors and progress on stderr.

    Args:
        json_mode: print results as one JSON object (``--json``) instead of text.
        secret: the API key in use; replaced by ``***`` in everything written.
        key_hint: which key that is, safe to print (its source and last 4 characters).
        names: the command's names of the SDK's arguments, used in messages about them.
        stdout: the stream for results (``sys.stdout`` when ``None``).
        stderr: the stream for errors and progress (``sys.stderr`` when ``None``).
    """

    def __init__(
        self,
        *,
        json_mode: bool = False,
        secret: Optional[str] = None,
        key_hint: str = "",
        names: Optional[Mapping[str, str]] = None,
        stdout: Optional[TextIO] = None,
        stderr: Optional[TextIO] = None,
    ) -> None:
        self.json_mode = json_mode
        self.secret = secret
        self.key_hint = key_hint
        self.names: Mapping[str, str] = names or {}
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def scrub(self, text: str) -> str:
        """``text`` with the API key, if it appears, replaced by ``***``.

        Args:
            text: what is about to be written.
        """
        if self.secret and len(self.secret) >= MIN_SCRUBBED_LENGTH:
            return text.replace(self.secret, "***")
        return text

    def result(self, data: Dict[str, Any], human: str) -> None:
        """Print a command's result on stdout: ``data`` as JSON with ``--json``, else ``human``.

        Args:
            data: the result for ``--json``.
            human: the result as text.
        """
        text = json.dumps(data, sort_keys=True) if self.json_mode else human
        print(self.scrub(text), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        """Write a line for the person at the terminal (an error, progress) on stderr.

        Args:
            text: the line.
        """
        print(self.scrub(text), file=self.stderr, flush=True)

    def describe(self, error: BaseException) -> str:
        """:func:`describe` with this command's key hint.

        Args:
            error: what went wrong.
        """
        return describe(error, self.key_hint, self.names)

    def fields(self, error: BaseException) -> Dict[str, Any]:
        """:func:`error_fields` with this command's key hint and names.

        Args:
            error: what went wrong.
        """
        return error_fields(error, self.key_hint, self.names)

    def error(self, error: BaseException) -> int:
        """Report ``error`` in one line on stderr (and as JSON on stdout); return its exit code.

        Args:
            error: what went wrong.
        """
        self.note(f"teleflow: error: {self.describe(error)}")
        if self.json_mode:
            self.result({"ok": False, "error": self.fields(error)}, "")
        return exit_code_for(error)


class _Scrub(logging.Filter):
    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._output.scrub(record.getMessage())
        record.args = None
        return True


class RetryNotice(logging.Handler):
    """One line on stderr when a request is about to be retried, from the SDK's own record.

    It reads the DEBUG record the Events API's retry loop logs before each wait, so the
    loop itself needs no hook: ``teleflow: POST <url> failed (503); attempt 2 of 6 in 0.5 s``.

    Args:
        output: where the line goes (its stderr), the key scrubbed.
    """

    def __init__(self, output: Output) -> None:
        super().__init__(logging.DEBUG)
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line for a retry record; ignore every other record.

        Args:
            record: a record of the ``teleflow_py`` logger.
        """
        note = getattr(record, "teleflow_retry", None)
        # Events API requests only: the analytics worker's batch retries print no line
        # (``teleflow track`` is bounded by --timeout; see docs/cli.rst).
        if not isinstance(note, RetryNote) or note.kind == "batch":
            return
        self._output.note(
            f"teleflow: {note.method} {note.url} failed ({note.failure}); attempt "
            f"{note.retry + 1} of {note.max_retries + 1} in {note.wait:.1f} s "
            "(--quiet hides this line)"
        )


class LibraryLogging:
    """Route the SDK's log lines while a command runs, and restore the logger after.

    Without ``--verbose`` the SDK's lines are not shown (the command reports what matters
    itself), except one line per retry of a request (:class:`RetryNotice`) unless
    ``quiet``; with ``--verbose``, every request is logged on stderr (method, URL,
    attempt, status, retries), the key redacted.

    Args:
        output: where the lines go (its stderr) and what to scrub from them.
        verbose: log the requests (``--verbose``).
        quiet: not even a line per retry (``--quiet``).
    """

    def __init__(self, output: Output, verbose: bool, quiet: bool = False) -> None:
        self._output = output
        self._verbose = verbose
        self._quiet = quiet
        self._logger = logging.getLogger(LIBRARY_LOGGER)
        self._saved: List[Any] = []

    def __enter__(self) -> LibraryLogging:
        logger = self._logger
        self._saved = [logger.level, logger.propagate, list(logger.handlers)]
        handler: logging.Handler
        if self._verbose:
            handler = logging.StreamHandler(self._output.stderr)
            handler.setFormatter(logging.Formatter("teleflow: %(levelname)s: %(message)s"))
            handler.addFilter(_Scrub(self._output))
            logger.setLevel(logging.DEBUG)
        elif not self._quiet:
            handler = RetryNotice(self._output)
            logger.setLevel(logging.DEBUG)
        else:
            handler = logging.NullHandler()
            logger.setLevel(logging.CRITICAL + 1)
        logger.handlers = [handler]
        logger.propagate = False
        return self

    def __exit__(self, *exc_info: Any) -> None:
        level, propagate, handlers = self._saved
        self._logger.setLevel(level)
        self._logger.propagate = propagate
        self._logger.handlers = handlers
