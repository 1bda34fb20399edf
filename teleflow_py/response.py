"""Response: what the server answered, and what was sent to get that answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional


def request_id_of(headers: Mapping[str, str]) -> Optional[str]:
    """The request id a server put in its headers, under any of the usual names."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in ("x-request-id", "request-id", "x-correlation-id"):
        if name in lowered:
            return lowered[name]
    return None


@dataclass(frozen=True, init=False)
class Response:
    """One HTTP exchange, after retries.

    ``request_headers`` has the ``Authorization`` value redacted; ``body`` is the parsed JSON
    answer (or the raw text when it was not JSON, or ``None`` when empty);
    ``retry_count`` is how many retries were made before this answer;
    ``time_spent_in_ms`` covers every attempt and wait of the call.

    Args:
        status: the HTTP status code.
        headers: the answer's headers (case-insensitive).
        body: the parsed answer.
        url: the URL the request went to.
        method: the HTTP method.
        request_headers: the headers sent, the key redacted (default: none).
        request_body: the request body as text, ``None`` when there was none.
        retry_count: retries made before this answer.
        time_spent_in_ms: milliseconds the call took, every attempt and wait included.
    """

    status: int
    #: Case-insensitive: ``headers["content-type"]`` finds ``Content-Type``.
    headers: Mapping[str, str]
    body: Any
    url: str
    method: str = "POST"
    request_headers: Dict[str, str] = field(default_factory=dict)
    request_body: Optional[str] = None
    retry_count: int = 0
    time_spent_in_ms: float = 0.0

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        url: str,
        method: str = "POST",
        request_headers: Optional[Dict[str, str]] = None,
        request_body: Optional[str] = None,
        retry_count: int = 0,
        time_spent_in_ms: float = 0.0,
    ) -> None:
        # Written out rather than generated: a frozen dataclass's own __init__ sets each
        # field through object.__setattr__, which costs more than the rest of building a
        # call's answer. A test holds it to the dataclass's fields.
        self.__dict__.update(
            status=status,
            headers=headers,
            body=body,
            url=url,
            method=method,
            request_headers={} if request_headers is None else request_headers,
            request_body=request_body,
            retry_count=retry_count,
            time_spent_in_ms=time_spent_in_ms,
        )

    @property
    def request_id(self) -> Optional[str]:
        """The server's request id header, when it sent one."""
        return request_id_of(self.headers)

    @property
    def idempotency_key(self) -> Optional[str]:
        """The idempotency key the request carried, if any."""
        return self.request_headers.get("Idempotency-Key") or self.request_headers.get(
            "X-Idempotency-Key"
        )

    def __repr__(self) -> str:
        return (
            f"Response(method={self.method!r}, url={self.url!r}, status={self.status}, "
            f"retry_count={self.retry_count}, time_spent_in_ms={self.time_spent_in_ms:.1f})"
        )
