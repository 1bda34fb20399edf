"""How a request reaches the server: the SDK's own keep-alive connections, or a session.

The environment's settings are resolved once per client, by requests' own rules
(``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``HTTP(S)_PROXY``, ``NO_PROXY``...:
:mod:`teleflow_py._core.environment`). The SDK's own connections
(:mod:`teleflow_py._keepalive`) carry every request, directly or through an ``http://``
proxy, so the whole-call deadline holds on every byte. Failures are raised as they are
met; the attempt loop maps them to the SDK's errors with :data:`SYNC_FAILURES`.

Two cases go through ``requests`` instead (where the deadline bounds each socket
operation, not the whole call): a ``requests.Session`` of the caller's (``session=``, so
its adapters, proxies and CA settings keep working), and a proxy the SDK does not speak
(``https://`` or ``socks`` proxy URLs).

The connections are shared by every thread of the client (one in use by one thread at a
time). After ``fork()`` the child drops what it inherited (those sockets belong to the
parent) and connects anew.

See docs/architecture.rst for how a call travels and the module map.
"""

from __future__ import annotations

import os
import threading
from typing import Mapping, Optional, Union

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ._bounded import read_session_body
from ._core.environment import parse_proxy, route_for
from ._core.failures import FailureKinds, reason
from ._core.limits import Answer, Limits
from ._credential import ApiKeyCredential
from ._keepalive import POOL_SIZE, KeepAliveRoute
from .errors import APIConnectionError, TeleflowError

#: What the failures of both routes mean, for the core's one mapping
#: (:func:`teleflow_py._core.failures.api_error`); the standard library's are known there.
SYNC_FAILURES = FailureKinds(
    timeouts=(requests.Timeout, urllib3.exceptions.TimeoutError),
    # No retry fixes these (requests' SSLError: a wrong certificate stays wrong).
    permanent=(
        requests.exceptions.InvalidHeader,
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
        requests.exceptions.SSLError,
    ),
    transient=(
        requests.RequestException,
        urllib3.exceptions.HTTPError,  # reading a streamed body on the requests route
    ),
    # Connecting failed (refused, DNS, timed out): nothing was sent.
    unsent=(requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError),
)


class _ApiKeyAuth(requests.auth.AuthBase):
    """Sets ``Authorization: ApiKey ...`` on each request of the requests route.

    Passed as ``auth=``, it wins over ``session.auth`` and ``~/.netrc``, which requests would
    otherwise apply on top of a plain header. Its repr never shows the key.
    """

    def __init__(self, credential: ApiKeyCredential) -> None:
        self._credential = credential

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # The credential itself: http.client calls its encode() as it writes the header,
        # so requests' and urllib3's frames (and their locals) hold only its masked repr.
        request.headers["Authorization"] = self._credential  # type: ignore[assignment]
        return request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(***)"


class _SessionRoute:
    """Sends through a ``requests.Session``: the caller's, or ours for a proxy we do not speak."""

    def __init__(
        self, session: requests.Session, base_url: str, credential: ApiKeyCredential
    ) -> None:
        self.session = session
        self._base_url = base_url
        self._auth = _ApiKeyAuth(credential)

    def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        limits: Limits,
    ) -> Answer:
        # requests takes a connect and a read timeout only (see Client's docstring).
        timeouts = limits.timeouts
        timeout = (
            limits.timeout(timeouts.connect, "connecting"),
            limits.timeout(timeouts.read, "sending"),
        )
        answer = self.session.request(
            method,
            self._base_url + path,
            data=body,
            headers=headers,
            auth=self._auth,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            content = read_session_body(answer, limits.budget())
        finally:
            answer.close()
        return Answer(answer.status_code, answer.headers, content)


Route = Union[KeepAliveRoute, _SessionRoute]


class Connection:
    """The way to the API for one client: opened on first use, again after a fork."""

    def __init__(
        self,
        base_url: str,
        credential: ApiKeyCredential,
        session: Optional[requests.Session] = None,
    ) -> None:
        self._base_url = base_url
        self._credential = credential
        self._user_session = session
        self._route: Optional[Route] = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    def __repr__(self) -> str:
        return f"Connection(base_url={self._base_url!r})"

    def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        limits: Limits,
    ) -> Answer:
        """One attempt, no retry, within ``limits`` (timeouts, deadline, answer size).

        Raises:
            TeleflowError: the client was closed.
            APIConnectionError: the environment's CA bundle cannot be used (not retryable).
            ResponseTooLargeError: the answer passed ``limits.max_response_bytes``.
            Exception: the route's own failure (``OSError``, ``http.client`` and
                ``requests`` errors, ``TimeoutError``), which the attempt loop maps with
                :data:`SYNC_FAILURES`.
        """
        url = self._base_url + path
        route = self._route
        if route is None or self._pid != os.getpid():
            try:
                route = self._open()
            except TeleflowError:
                raise
            except Exception as exc:
                # For example REQUESTS_CA_BUNDLE naming a missing or broken file.
                raise APIConnectionError(
                    f"{method} {url} cannot connect: {reason(exc)}", url=url, retryable=False
                ) from exc
        return route.send(method, path, body, headers, limits)

    def _open(self) -> Route:
        with self._lock:
            if self._closed:
                raise TeleflowError("the client is closed")
            if self._pid != os.getpid():  # the fork hook did not run (or not yet)
                self._forget_locked()
            if self._route is None:
                self._route = self._new_route()
            return self._route

    def _new_route(self) -> Route:
        if self._user_session is not None:
            return _SessionRoute(self._user_session, self._base_url, self._credential)
        proxy, tls = route_for(self._base_url)
        spoken = None if proxy is None else parse_proxy(proxy)
        if spoken is not None and spoken.scheme != "http":  # an https:// or socks proxy
            session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_maxsize=POOL_SIZE))
            session.mount("https://", HTTPAdapter(pool_maxsize=POOL_SIZE))
            return _SessionRoute(session, self._base_url, self._credential)
        return KeepAliveRoute(self._base_url, self._credential, tls, spoken)

    def after_fork(self) -> None:
        """In a forked child: never use a connection that belongs to the parent.

        The SDK's own session is dropped (its sockets are the parent's); a caller's session
        has its pools emptied in the child, which leaves the parent's connections intact.
        """
        self._lock = threading.Lock()
        self._forget_locked()

    def _forget_locked(self) -> None:
        self._route = None
        self._pid = os.getpid()
        if self._user_session is not None:
            for adapter in self._user_session.adapters.values():
                adapter.close()

    def close(self) -> None:
        """Close the SDK's own connections (never the caller's session). Idempotent."""
        with self._lock:
            self._closed = True
            route, self._route = self._route, None
        if isinstance(route, KeepAliveRoute):
            route.close()
        elif route is not None and route.session is not self._user_session:
            route.session.close()
