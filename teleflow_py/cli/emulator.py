"""``teleflow emulator``: the local API emulator in the foreground, until Ctrl-C.

Its options and behaviour live with the emulator (:mod:`teleflow_py.emulator.command`);
this module adds ``--json``/``--verbose``, as on every command.
"""

from __future__ import annotations

import argparse
import io
import re
from typing import TextIO, cast

from ..emulator import command
from .options import add_output_options
from .output import Output

HELP = "run the local Teleflow API emulator and its dashboard"

_URL = re.compile(r"https?://[^\s)]+")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow emulator``.

    Args:
        parser: the sub-command's parser.
    """
    command.configure_parser(parser)
    add_output_options(parser)


class _AddressAsJson(io.TextIOBase):
    """The emulator's stdout under ``--json``: its address line becomes one JSON object,
    ``{"url", "dashboard"}``, on stdout; the per-request lines go to stderr."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output
        self._partial = ""
        self._announced = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        match = _URL.search(line)
        if match is not None and not self._announced:
            self._announced = True
            url = match.group(0).rstrip("/")
            self._output.result({"url": url, "dashboard": url + "/"}, "")
        elif line.strip():
            self._output.note(line)


def run(args: argparse.Namespace, output: Output) -> int:
    """Serve until Ctrl-C or SIGTERM (exit code 0); 2 when it cannot start.

    Args:
        args: the parsed command line.
        output: where the address, the request lines and errors go.
    """
    out = cast(TextIO, _AddressAsJson(output)) if output.json_mode else output.stdout
    return command.run(args, out=out, err=output.stderr)
