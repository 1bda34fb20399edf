"""Headers: a case-insensitive mapping, the headers every request carries, parsing a body.

Pure and dependency-free: the sync and async drivers and the errors use the same
:class:`CaseInsensitiveDict`, so an answer's headers behave alike whichever route read
them (``requests`` is not needed for it).
"""

from __future__ import annotations

import json
import platform
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    MutableMapping,
    NoReturn,
    Optional,
    Tuple,
    Union,
)

from typing_extensions import Protocol

from .._version import __version__

REDACTED = "ApiKey ***"
RETRY_COUNT_HEADER = "X-Teleflow-Retry-Count"


class SecretHeader(str):
    """A header value that carries a secret: sent as it is, shown as ``'<scheme> ***'``.

    A ``str``, so every HTTP library writes it unchanged; its ``repr`` (what error
    reporters record of a frame's locals and what header maps print) masks all but the
    scheme (``ApiKey``, ``Basic``), and it refuses to be pickled.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{self.partition(' ')[0]} ***'"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a teleflow_py secret header cannot be pickled")


class MultiValued(Protocol):
    """Headers looked up case-insensitively, each name with all its values (what
    :meth:`CaseInsensitiveDict.over` views: aiohttp's ``CIMultiDictProxy`` is one)."""

    def getall(self, name: str, default: None) -> Optional[List[str]]:
        """Every value of ``name`` in order, or ``default``."""

    def items(self) -> Iterable[Tuple[str, str]]:
        """Each ``(name, value)`` as received."""


class CaseInsensitiveDict(MutableMapping[str, str]):
    """Header names looked up without regard to case; the spelling last set is kept.

    Built from a mapping or from ``(name, value)`` pairs (a repeated name keeps its last
    value), or with :meth:`over` as a view of headers already held case-insensitively.
    Picklable, so errors that hold an answer's headers cross process boundaries.
    """

    __slots__ = ("_items", "_source")

    def __init__(
        self, data: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None
    ) -> None:
        self._source: Optional[MultiValued] = None
        if data is None:
            self._items: Optional[Dict[str, Tuple[str, str]]] = {}
            return
        items = data.items() if hasattr(data, "items") else data
        self._items = {name.lower(): (name, value) for name, value in items}

    @classmethod
    def over(cls, source: MultiValued) -> CaseInsensitiveDict:
        """A view of ``source``, headers that are already case-insensitive (aiohttp's).

        Lookups ask ``source`` (as fast as it is); the first change, iteration or copy
        takes the headers over into a dict of their own. Every answer's headers are looked
        up a few times and seldom listed, so most answers are never copied.
        """
        view = cls.__new__(cls)
        view._items = None
        view._source = source
        return view

    def _store(self) -> Dict[str, Tuple[str, str]]:
        items = self._items
        if items is None:
            # The source is kept (never cleared): two threads taking a view over at once
            # both build the same dict, and neither finds the source gone.
            assert self._source is not None
            items = self._items = {
                name.lower(): (name, value) for name, value in self._source.items()
            }
        return items

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name`` in any case (the last one given), or ``default``.

        Written out: ``Mapping.get`` goes through ``__getitem__`` and catches its
        ``KeyError``, and a missing header (``Retry-After``, ``RateLimit-*``) is looked up
        on every answer.
        """
        if not isinstance(name, str):
            return default
        items = self._items
        if items is None:
            assert self._source is not None
            values = self._source.getall(name, None)
            return default if values is None else values[-1]
        item = items.get(name.lower())
        return default if item is None else item[1]

    def __setitem__(self, name: str, value: str) -> None:
        self._store()[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value  # type: ignore[no-any-return]

    def __delitem__(self, name: str) -> None:
        del self._store()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._store().values())

    def __len__(self) -> int:
        return len(self._store())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        theirs = {str(k).lower(): v for k, v in other.items()}
        return {k: v for k, (_, v) in self._store().items()} == theirs

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> Dict[str, Tuple[str, str]]:
        return self._store()

    def __setstate__(self, state: Dict[str, Tuple[str, str]]) -> None:
        self._items, self._source = state, None

    def copy(self) -> CaseInsensitiveDict:
        """A copy with the same names and values."""
        return CaseInsensitiveDict(self._store().values())

    def __repr__(self) -> str:
        return repr(dict(self.items()))


_MISSING: Any = object()


def user_agent(telemetry: bool, include_hostname: bool = False) -> str:
    """The ``User-Agent`` value: SDK version, plus Python and OS unless telemetry is off.

    Never raises: a platform call that fails only shortens the string.
    """
    agent = f"teleflow-py/{__version__}"
    if not telemetry:
        return agent
    try:
        details = [
            f"Python {platform.python_version()}",
            f"{platform.system()} {platform.release()}".strip(),
        ]
        if include_hostname:
            # platform.node(): the host name (socket.gethostname) without a socket import.
            details.append(f"host {platform.node()}")
        agent += " (" + "; ".join(d for d in details if d) + ")"
    except Exception:
        pass
    return agent


def base_headers(
    telemetry: bool, include_hostname: bool, extra: Mapping[str, str]
) -> Dict[str, str]:
    """The headers of every request of a client (the key is added by the driver's route)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": user_agent(telemetry, include_hostname),
    }
    headers.update(extra)
    return headers


def redacted(headers: Mapping[str, str]) -> Dict[str, str]:
    """What was sent, as shown on a Response or in a log line: the key redacted."""
    view = dict(headers)
    view["Authorization"] = REDACTED
    return view


#: The C scanner ``json.loads`` ends in, called directly: ``loads`` reaches it through two
#: Python frames and two regular-expression matches for the whitespace around the value.
_scan_json: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = b" \t\n\r"


def parse_body(content: bytes) -> Any:
    """Parsed JSON, the raw text when it is not JSON, or ``None`` when empty.

    JSON is UTF-8 by definition, so no charset guessing (which is slow) is done.
    """
    if not content.strip():
        return None
    try:
        # Decoded first: json.loads(bytes) guesses the encoding in Python code.
        text = content.strip(_JSON_WHITESPACE).decode("utf-8")
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except (ValueError, RecursionError, StopIteration):
        # Not JSON (StopIteration: no value at all; UnicodeDecodeError is a ValueError).
        pass
    return content.decode("utf-8", errors="replace")
