"""How the environment says to reach the API: which proxy, which CA bundle, and a warning.

Read once per client, by the same rules ``requests`` applies (so the sync client's own
connections, its ``requests`` route and the async client agree): a proxy from
``<scheme>_proxy`` / ``all_proxy`` (lowercase first), skipped for hosts in ``no_proxy``
(names and their subdomains, ``host:port``, IPv4 addresses and CIDR ranges, ``*``); TLS
verified against ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``, else certifi's bundle.
A proxy URL is read into a :class:`Proxy` (credentials from its URL, never shown). Pure: no request is made. See docs/architecture.rst.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import ssl
import warnings
from typing import Any, Dict, NamedTuple, Optional, Union
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi

from .headers import SecretHeader

logger = logging.getLogger("teleflow_py")


class Route(NamedTuple):
    """How to reach a base URL: through ``proxy`` (a URL) or directly, verifying with ``tls``."""

    proxy: Optional[str]
    #: The TLS settings of an https base URL, direct or tunnelled (``None`` for http).
    tls: Optional[ssl.SSLContext]


class Proxy:
    """A proxy to send through: where it is, and the ``Proxy-Authorization`` it needs.

    Its ``repr`` and :attr:`url` name the scheme, host and port only; the credentials live
    in :attr:`headers` as a :class:`~teleflow_py._core.headers.SecretHeader`, so no error
    message (aiohttp's name the proxy URL) or frame can show them.
    """

    __slots__ = ("headers", "host", "port", "scheme")

    def __init__(
        self, scheme: str, host: str, port: int, authorization: Optional[str] = None
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        #: Sent to the proxy: on every request to an ``http://`` API, on the ``CONNECT``
        #: of a tunnel to an ``https://`` one.
        self.headers: Dict[str, str] = (
            {} if authorization is None else {"Proxy-Authorization": SecretHeader(authorization)}
        )

    @property
    def url(self) -> str:
        """The proxy's URL without credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"Proxy({self.url!r})"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_proxy(url: str) -> Proxy:
    """A proxy URL as the environment gives it, as a :class:`Proxy`.

    A URL without a scheme is ``http://`` (as requests reads it); the port defaults to the
    scheme's (1080 for ``socks``); ``user:password@`` (percent-decoded) becomes ``Basic``
    proxy authentication, encoded as requests does (latin-1; beyond it UTF-8, where
    requests fails). A user without a password sends none, as with requests.

    Raises:
        ValueError: no host, or a port that is not a number in range.
    """
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("the proxy URL names no host")
    scheme = parts.scheme.lower()
    authorization = None
    if parts.username is not None and parts.password is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password)}"
        try:
            raw = pair.encode("latin-1")
        except UnicodeEncodeError:
            raw = pair.encode("utf-8")
        authorization = "Basic " + base64.b64encode(raw).decode("ascii")
    port = parts.port or _DEFAULT_PORTS.get(scheme, 1080)
    return Proxy(scheme, parts.hostname, port, authorization)


def _env(name: str) -> Optional[str]:
    return os.environ.get(name) or os.environ.get(name.upper())


def _bypassed(url: str) -> bool:
    """Whether ``no_proxy`` (or the platform's settings) exempt ``url`` from proxies."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None:
        return True
    no_proxy = _env("no_proxy") or ""
    entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
    try:
        address: Optional[ipaddress.IPv4Address] = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    for entry in entries:
        if entry == "*":
            return True
        if address is not None:
            try:
                if "/" in entry and address in ipaddress.IPv4Network(entry, strict=False):
                    return True
            except ValueError:
                pass
            if host == entry:
                return True
            continue
        with_port = f"{host}:{parts.port}" if parts.port else host
        bare = entry.lstrip(".")
        if host == bare or with_port == bare:
            return True
        if host.endswith("." + bare) or with_port.endswith("." + bare):
            return True
    try:
        return bool(proxy_bypass(host))
    except Exception:  # a resolver error on some platforms: no exemption
        return False


def proxy_for(url: str) -> Optional[str]:
    """The proxy URL the environment names for ``url``, or ``None``."""
    if _bypassed(url):
        return None
    proxies = getproxies()
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    for key in (f"{scheme}://{host}", scheme, f"all://{host}", "all"):
        if proxies.get(key):
            return proxies[key]
    return None


def ca_bundle() -> str:
    """The CA bundle requests would verify with: the environment's, else certifi's."""
    return _env("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()


def tls_context(verify: Union[bool, str, None] = None, cert: Any = None) -> ssl.SSLContext:
    """The TLS settings requests would apply, as one context.

    ``verify`` is ``False`` (no verification), a CA bundle file or folder, or ``None`` /
    ``True`` for :func:`ca_bundle`; ``cert`` a client certificate file or a
    ``(cert, key)`` pair.

    Raises:
        OSError: a CA bundle or certificate file cannot be read.
        ssl.SSLError: one of them is not a valid certificate file.
    """
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        bundle = verify if isinstance(verify, str) else ca_bundle()
        if os.path.isdir(bundle):
            context = ssl.create_default_context(capath=bundle)
        else:
            context = ssl.create_default_context(cafile=bundle)
    if cert:
        if isinstance(cert, (tuple, list)):
            context.load_cert_chain(cert[0], cert[1])
        else:
            context.load_cert_chain(cert)
    return context


def route_for(base_url: str) -> Route:
    """How the environment says to reach ``base_url`` (read it once per client).

    Raises:
        OSError, ssl.SSLError: the CA bundle named by the environment cannot be used.
    """
    proxy = proxy_for(base_url)
    if urlsplit(base_url).scheme.lower() != "https":
        return Route(proxy, None)
    # Through a proxy too: the TLS to the API host is still ours to verify.
    return Route(proxy, tls_context())


def _loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_in_clear(base_url: str) -> bool:
    """Whether the API key would travel unencrypted: ``http://`` to a host not loopback."""
    parts = urlsplit(base_url)
    return parts.scheme.lower() == "http" and not _loopback(parts.hostname or "")


def warn_if_key_in_clear(base_url: str) -> None:
    """Warn (``warnings`` and the ``teleflow_py`` logger) when :func:`key_in_clear`.

    Called once per client, when it is made.
    """
    if not key_in_clear(base_url):
        return
    message = (
        f"teleflow_py: base_url {base_url!r} is plain http:// to a host that is not "
        "loopback; the API key will travel unencrypted (use https://)"
    )
    logger.warning(message)
    warnings.warn(message, UserWarning, stacklevel=3)
