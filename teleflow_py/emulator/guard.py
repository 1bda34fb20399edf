"""Who may use the emulator's own routes: the local browser and local tests, nobody else.

A developer leaves the emulator running while browsing, so any web page could try to reach
it. Two checks keep its inspection and control routes (``/``, ``/static/*``, ``/emulator/*``)
to itself:

- ``Host`` must name the emulator: a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``,
  ``*.localhost``) or the address it was bound to. A DNS-rebinding page sends its own name.
- Cross-site requests are refused: an ``Origin`` that is not the emulator's own, a
  ``Sec-Fetch-Site`` of ``cross-site`` or ``same-site`` (except following a link to the
  dashboard page), and a control POST without a JSON content type (which a page can only
  send cross-site after a CORS preflight the emulator never grants; other changing methods
  always need one).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional
from urllib.parse import urlsplit

from .wire import Incoming, Reply, error_reply, is_json_media_type

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """True for a name or address that can only mean this machine."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> Optional[str]:
    """The host part of a ``Host`` header value, lower-case, without port or brackets."""
    parsed = urlsplit(f"//{value.strip()}")
    try:
        parsed.port  # noqa: B018  (raises for a bad port)
    except ValueError:
        return None
    return (parsed.hostname or "").lower() or None


class Guard:
    """Checks a request for a control route.

    Args:
        bound_host: the address the emulator listens on; when it is not a wildcard, it is
            accepted as a ``Host`` too.
        extra_hosts: more names to accept (for a machine name or a proxy).
    """

    def __init__(self, bound_host: str, extra_hosts: Iterable[str] = ()) -> None:
        allowed = {host.strip("[]").lower() for host in extra_hosts}
        if bound_host not in _WILDCARDS:
            allowed.add(bound_host.strip("[]").lower())
        self._allowed = frozenset(allowed)

    def _host_ok(self, name: Optional[str]) -> bool:
        return name is not None and (is_loopback(name) or name in self._allowed)

    def check(self, incoming: Incoming) -> Optional[Reply]:
        """Return a 403 for a request that must not reach a control route, else None."""
        # No Host at all is an HTTP/1.0 client (curl -0), never a browser.
        host = _host_name(incoming.headers["host"]) if "host" in incoming.headers else "localhost"
        if not self._host_ok(host):
            return error_reply(403, "Host not allowed: the emulator answers to its own name only")
        origin = incoming.headers.get("origin")
        if origin is not None and not self._same_origin(origin, incoming.headers.get("host", "")):
            return error_reply(403, "Cross-site request refused")
        site = incoming.headers.get("sec-fetch-site", "").lower()
        navigating = incoming.method == "GET" and incoming.path == "/"
        if site in ("cross-site", "same-site") and not navigating:
            return error_reply(403, "Cross-site request refused")
        # POST is the one changing method a page may send cross-site without a preflight.
        if incoming.method == "POST" and not is_json_media_type(
            incoming.headers.get("content-type", "")
        ):
            return error_reply(
                403, "Control requests must be sent with Content-Type: application/json"
            )
        return None

    def _same_origin(self, origin: str, host: str) -> bool:
        parsed = urlsplit(origin)
        return parsed.scheme == "http" and parsed.netloc.lower() == host.strip().lower()
