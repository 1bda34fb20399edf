"""Response: what the server answered, and what was sent to get that answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass(frozen=True)
class Response:
    """One HTTP exchange, after retries.

    ``request_headers`` has the ``Authorization`` value redacted; ``body`` is the parsed JSON
    answer (or the raw text when it was not JSON, or ``None`` when empty);
    ``retry_count`` is how many retries were made before this answer;
    ``time_spent_in_ms`` covers every attempt and wait of the call.
    """

    status: int
    headers: Dict[str, str]
    body: Any
    url: str
    method: str = "POST"
    request_headers: Dict[str, str] = field(default_factory=dict)
    request_body: Optional[str] = None
    retry_count: int = 0
    time_spent_in_ms: float = 0.0

    @property
    def request_id(self) -> Optional[str]:
        """The server's request id header, when it sent one."""
        lowered = {key.lower(): value for key, value in self.headers.items()}
        return lowered.get("x-request-id") or lowered.get("request-id")

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
