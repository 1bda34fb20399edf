"""What the ``teleflow`` command prints, and the exit codes a script can rely on.

Every command prints its result on stdout: a short human text, or with ``--json`` exactly
one JSON object. Problems are one line on stderr (``teleflow: error: ...``), with the
server's request id when it sent one, never a traceback. The API key is scrubbed from
everything written, log lines included.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Dict, List, Optional, TextIO

from ..errors import (
    APIConnectionError,
    APIError,
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
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: stdout was closed before everything was written (``teleflow ... | head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141

LIBRARY_LOGGER = "teleflow_py"
#: Shorter keys are not real keys; scrubbing them would mangle ordinary words.
MIN_SCRUBBED_LENGTH = 8


class UsageError(Exception):
    """A bad command line or bad input; exit code 2. The message is the whole line."""


class InterruptedByUser(Exception):
    """Ctrl-C, after the command said what it had done so far; exit code 130."""


def exit_code_for(error: BaseException) -> int:
    """The exit code of a command that ended with ``error``.

    Args:
        error: what ended the command.
    """
    if isinstance(error, (UsageError, ValidationError, OSError)):
        return EXIT_USAGE
    if isinstance(error, APIConnectionError):
        return EXIT_CONNECTION
    if isinstance(error, InterruptedByUser):
        return EXIT_INTERRUPTED
    return EXIT_API_ERROR


def describe(error: BaseException) -> str:
    """One line saying what went wrong, with the request id when the server sent one.

    Args:
        error: what went wrong.
    """
    if isinstance(error, InterruptedByUser):
        return str(error) or "interrupted"
    if isinstance(error, APIConnectionError):
        text = f"connection failed: {error}"
        if error.retry_count:
            plural = "retry" if error.retry_count == 1 else "retries"
            text += f" (after {error.retry_count} {plural})"
        return text
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    text = str(error) or type(error).__name__
    if isinstance(error, APIError) and error.request_id:
        text += f" (request id {error.request_id})"
    if not isinstance(error, (TeleflowError, UsageError)):
        text = f"unexpected {type(error).__name__}: {text} (run with --verbose for details)"
    return " ".join(text.split())


def error_fields(error: BaseException) -> Dict[str, Any]:
    """The machine-readable form of an error, as the ``error`` field of ``--json`` output.

    Args:
        error: what went wrong.
    """
    fields: Dict[str, Any] = {
        "type": type(error).__name__,
        "message": describe(error),
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
        stdout: the stream for results (``sys.stdout`` when ``None``).
        stderr: the stream for errors and progress (``sys.stderr`` when ``None``).
    """

    def __init__(
        self,
        *,
        json_mode: bool = False,
        secret: Optional[str] = None,
        stdout: Optional[TextIO] = None,
        stderr: Optional[TextIO] = None,
    ) -> None:
        self.json_mode = json_mode
        self.secret = secret
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

    def error(self, error: BaseException) -> int:
        """Report ``error`` in one line on stderr (and as JSON on stdout); return its exit code.

        Args:
            error: what went wrong.
        """
        self.note(f"teleflow: error: {describe(error)}")
        if self.json_mode:
            self.result({"ok": False, "error": error_fields(error)}, "")
        return exit_code_for(error)


class _Scrub(logging.Filter):
    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._output.scrub(record.getMessage())
        record.args = None
        return True


class LibraryLogging:
    """Route the SDK's log lines while a command runs, and restore the logger after.

    Without ``--verbose`` the SDK stays silent (the command reports what matters itself);
    with it, every request is logged on stderr (method, URL, attempt, status, retries),
    the key redacted.

    Args:
        output: where the lines go (its stderr) and what to scrub from them.
        verbose: log the requests (``--verbose``).
    """

    def __init__(self, output: Output, verbose: bool) -> None:
        self._output = output
        self._verbose = verbose
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
