"""The API key, held where printing, pickling or recording it shows nothing.

Error reporters that record the local variables of every frame (Sentry's
``capture_locals``, ``traceback.TracebackException(capture_locals=True)``, IPython) show
each value by its ``repr``. So the key lives in one object whose ``repr`` and ``str`` are
masked, which refuses to be pickled, and which hands out the ``Authorization`` header value
only as bytes to whoever writes it on the wire (``http.client``'s ``putheader`` and
requests' headers both take an object with ``encode``). No function on the send path keeps
the raw key in a local variable.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Dict, List, NoReturn

# The live credentials, so the log filter (teleflow_py._logging) can find any key in a record
# without a second copy of it being kept anywhere.
_live: weakref.WeakSet[ApiKeyCredential] = weakref.WeakSet()
_live_lock = threading.Lock()


def live_keys() -> List[str]:
    """The keys of the credentials alive now (for scrubbing; never print them)."""
    with _live_lock:
        return [credential.reveal() for credential in _live]


def mask_key(api_key: str) -> str:
    """A form of the key safe to print: never more than its last four characters."""
    if len(api_key) <= 8:
        return "***"
    return "***" + api_key[-4:]


class ApiKeyCredential:
    """One API key. ``repr``/``str`` show ``ApiKey ***1234``; ``encode()`` gives the header."""

    __slots__ = ("__weakref__", "_key", "source")

    def __init__(self, api_key: str, source: str = "the api_key= argument") -> None:
        self._key = api_key
        #: Where the key came from, in words (named when the server refuses it).
        self.source = source
        with _live_lock:
            _live.add(self)

    def reveal(self) -> str:
        """The key itself (for code that must have it, never for printing)."""
        return self._key

    def encode(self, encoding: str = "latin-1", errors: str = "strict") -> bytes:
        """The ``Authorization`` header value, ``ApiKey <key>``, as bytes."""
        return ("ApiKey " + self._key).encode(encoding, errors)

    def __repr__(self) -> str:
        return f"ApiKey {mask_key(self._key)}"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKeyCredential) and other._key == self._key

    def __hash__(self) -> int:
        return hash((ApiKeyCredential, self._key))

    # Copies share the one object (``dataclasses.asdict`` deep-copies every field).
    def __copy__(self) -> ApiKeyCredential:
        return self

    def __deepcopy__(self, memo: Dict[int, Any]) -> ApiKeyCredential:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("the teleflow_py API key cannot be pickled")
