"""teleflow_py: the Python SDK of the Teleflow notification API."""

from typing import TYPE_CHECKING, Any

from ._core.pacing import Budget as RateLimitBudget
from ._logging import setup_from_environment as _setup_logging
from ._version import __version__
from .analytics import AnalyticsHealth, AnalyticsStats, FlushResult
from .client import Client
from .config import DEFAULT_BASE_URL, EU_BASE_URL, ClientConfig
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    BulkTriggerError,
    ConflictError,
    DailyQuotaIsReachedError,
    EventsRejectedError,
    GatewayTimeoutError,
    InvalidIdempotencyKeyError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    SecondBasedQuotaIsReachedError,
    ServerError,
    ServiceUnavailableError,
    TeleflowError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    ValidationError,
)
from .response import Response
from .results import BulkTriggerResult, TriggerResult
from .types import (
    Recipient,
    Recipients,
    SubscriberPayload,
    TenantPayload,
    TopicPayload,
    TriggerEvent,
    TriggerEventBody,
)

if TYPE_CHECKING:
    from .aio import AsyncClient as AsyncClient


def __getattr__(name: str) -> Any:
    # AsyncClient is imported on first use, so that `import teleflow_py` never imports aiohttp
    # (nor does `from teleflow_py import *`: it is left out of __all__ for that reason).
    if name == "AsyncClient":
        from .aio import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_BASE_URL",
    "EU_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AnalyticsHealth",
    "AnalyticsStats",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BulkTriggerError",
    "BulkTriggerResult",
    "Client",
    "ClientConfig",
    "ConflictError",
    "DailyQuotaIsReachedError",
    "EventsRejectedError",
    "FlushResult",
    "GatewayTimeoutError",
    "InvalidIdempotencyKeyError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitBudget",
    "RateLimitError",
    "Recipient",
    "Recipients",
    "RequestTimeoutError",
    "Response",
    "ResponseTooLargeError",
    "SecondBasedQuotaIsReachedError",
    "ServerError",
    "ServiceUnavailableError",
    "SubscriberPayload",
    "TeleflowError",
    "TenantPayload",
    "TopicPayload",
    "TriggerEvent",
    "TriggerEventBody",
    "TriggerResult",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "ValidationError",
    "__version__",
]

_setup_logging()  # the key filter on the logger tree, and TELEFLOW_LOG
