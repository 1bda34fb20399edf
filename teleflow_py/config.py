"""Client settings: every default in one place, read once, frozen, key masked in ``repr``."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Union
from urllib.parse import urlsplit

from typing_extensions import Literal

from ._core.deadline import check_seconds
from ._credential import ApiKeyCredential
from ._credential import mask_key as mask_key
from .errors import ValidationError

DEFAULT_BASE_URL = "https://api-teleflow.khulnasoft.com"
EU_BASE_URL = "https://eu.api-teleflow.khulnasoft.com"

API_KEY_ENV = "TELEFLOW_API_KEY"
BASE_URL_ENV = "TELEFLOW_BASE_URL"

#: Called with ``(error, events)`` when the server refuses analytics events for good.
ErrorCallback = Callable[[Exception, List[Dict[str, Any]]], None]
#: Called with ``(event, reason)`` when an analytics event is dropped before sending.
DropCallback = Callable[[Dict[str, Any], str], None]
#: When the spool commits a tracked event: in groups by a background thread, or in the call.
SpoolMode = Literal["group", "sync"]


#: The whole of one Events API call, retries and waits included (see docs/retries.rst).
DEFAULT_DEADLINE = 30.0
#: The largest answer read from the server (headers and body as sent), in bytes.
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024

#: Headers that frame the request on the wire; the SDK sets them, a caller may not.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})
#: RFC 9110 token characters, the only ones a header name may have.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def _check_api_key(api_key: Optional[str]) -> str:
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV)
    if api_key is None:
        raise ValidationError("api_key", f"no API key given; pass api_key= or set {API_KEY_ENV}")
    if not isinstance(api_key, str):
        raise ValidationError("api_key", f"must be a string, not {type(api_key).__name__}")
    if not api_key.strip():
        raise ValidationError("api_key", "must not be empty")
    # A CR or LF would let the key inject headers, and HTTP headers cannot carry most
    # non-ASCII text; the key itself is never echoed.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in api_key):
        raise ValidationError("api_key", "contains a control character (CR, LF or similar)")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in api_key):
        raise ValidationError("api_key", "must be printable ASCII without spaces")
    return api_key


def _check_base_url(base_url: Optional[str]) -> str:
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if not isinstance(base_url, str):
        raise ValidationError("base_url", f"must be a string, not {type(base_url).__name__}")
    if any(ord(ch) <= 0x20 for ch in base_url):
        raise ValidationError("base_url", "must not contain whitespace or control characters")
    parts = urlsplit(base_url)
    if "@" in parts.netloc:
        # Credentials in the URL would be printed wherever the URL is; refuse them unechoed.
        raise ValidationError("base_url", "must not contain credentials (user:password@)")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("base_url", f"must be an http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValidationError("base_url", f"must not have a query or fragment, got {base_url!r}")
    # One spelling of scheme and host, so "HTTPS://" can never be mistaken for plain HTTP.
    url = (
        parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower())
        .geturl()
        .rstrip("/")
    )
    return _without_version(url)


def _without_version(url: str) -> str:
    # Every path the SDK sends starts with /v1, so a root ending in it would ask for
    # /v1/v1/... and get 404s that name no cause: drop it once, and say so.
    if not url.endswith("/v1"):
        return url
    root = url[: -len("/v1")]
    warnings.warn(
        f"base_url {url!r} ends in /v1; using {root!r} (the SDK adds /v1 itself)",
        UserWarning,
        stacklevel=5,
    )
    return root


def key_hint(api_key: str, source: str) -> str:
    """Which key was used, safe to print: where it came from and at most its last 4 characters.

    Args:
        api_key: the key.
        source: where it came from, in words (``"the api_key= argument"``).
    """
    suffix = mask_key(api_key).replace("***", "...")
    shown = f"ending {suffix}" if suffix != "..." else "(too short to show any of it)"
    return f"the key from {source}, {shown}"


def _check_number(name: str, value: Any, *, minimum: float, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(name, f"must be a number, not {type(value).__name__}")
    if math.isnan(value) or math.isinf(value) or value < minimum:
        raise ValidationError(name, f"must be a finite number >= {minimum}, got {value!r}")


def _check_headers(default_headers: Optional[Mapping[str, str]]) -> Dict[str, str]:
    headers = dict(default_headers or {})
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError("default_headers", "names and values must be strings")
        if not name or any(ch not in _TOKEN_CHARS for ch in name):
            raise ValidationError(
                "default_headers", f"header name {name!r} is not a valid HTTP header name"
            )
        if name.lower() in _FRAMING_HEADERS:
            raise ValidationError(
                "default_headers", f"header {name!r} frames the request; the SDK sets it"
            )
        if any(ord(ch) < 0x20 or ord(ch) > 0xFF for ch in value):
            raise ValidationError(
                "default_headers", f"header {name!r} contains CR, LF, NUL or non-Latin-1 text"
            )
        if value != value.strip():
            raise ValidationError(
                "default_headers", f"header {name!r} has leading or trailing whitespace"
            )
        if name.lower() == "authorization":
            raise ValidationError("default_headers", "set the key with api_key=, not a header")
    return headers


def _check_spool(settings: Dict[str, Any]) -> None:
    path = settings.get("spool_path")
    if path is not None:
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path.strip():
            raise ValidationError("spool_path", "must be a file path (str or os.PathLike)")
        if path == ":memory:":
            raise ValidationError("spool_path", "must be a file on disk, not :memory:")
        settings["spool_path"] = os.path.abspath(path)
    mode = settings.get("spool_mode", "group")
    if mode not in ("group", "sync"):
        raise ValidationError("spool_mode", f'must be "group" or "sync", got {mode!r}')


@dataclass(frozen=True)
class ClientConfig:
    """Frozen settings of one :class:`~teleflow_py.Client`. Build it with :meth:`build`."""

    #: The key, in an object whose repr is masked and which refuses pickling.
    credential: ApiKeyCredential = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    # Events API transport.
    max_retries: int = 5
    timeout: float = 10.0
    open_timeout: float = 5.0
    write_timeout: float = 30.0
    max_retry_wait: float = 60.0
    deadline: Optional[float] = DEFAULT_DEADLINE
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    default_headers: Dict[str, str] = field(default_factory=dict)
    telemetry: bool = True
    telemetry_hostname: bool = False
    pace_by_rate_limit: bool = True
    # Analytics batcher.
    flush_at: int = 100
    flush_interval: float = 5.0
    max_queue_size: int = 10_000
    max_queue_bytes: int = 32 * 1024 * 1024
    queue_full_timeout: float = 0.0
    batch_max_retries: int = 2
    shutdown_timeout: float = 5.0
    register_atexit: bool = True
    spool_path: Optional[str] = None
    spool_mode: SpoolMode = "group"
    spool_max_bytes: int = 256 * 1024 * 1024
    on_error: Optional[ErrorCallback] = field(default=None, repr=False)
    on_drop: Optional[DropCallback] = field(default=None, repr=False)
    # Events API: whether the server deduplicates retried requests (None: learn it).
    server_deduplicates: Optional[bool] = None

    @property
    def api_key(self) -> str:
        """The API key itself (never printed: ``repr`` masks it)."""
        return self.credential.reveal()

    @property
    def key_hint(self) -> str:
        """Which key this is, safe to print: its source and at most its last 4 characters."""
        return key_hint(self.api_key, self.credential.source)

    @property
    def hosted(self) -> bool:
        """Whether ``base_url`` is the hosted service (US or EU region)."""
        return self.base_url in (DEFAULT_BASE_URL, EU_BASE_URL)

    def __reduce__(self) -> Any:
        # Pickled, the settings would carry the key in clear; refuse instead.
        raise TypeError("a teleflow_py ClientConfig cannot be pickled (it holds the API key)")

    # Frozen, so a copy may be the object itself (and copying must not go through pickling).
    def __copy__(self) -> ClientConfig:
        return self

    def __deepcopy__(self, memo: Dict[int, Any]) -> ClientConfig:
        return self

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied, validated as :meth:`build` does.

        Args:
            changes: settings to change, by field name (the key cannot be changed).

        Raises:
            ValidationError: a changed setting is invalid (the message names it).
        """
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "credential"}
        settings.update(changes)
        return ClientConfig.build(self.credential, **settings)

    def __repr__(self) -> str:
        return (
            f"ClientConfig(api_key={mask_key(self.api_key)!r}, base_url={self.base_url!r}, "
            f"max_retries={self.max_retries}, timeout={self.timeout}, "
            f"open_timeout={self.open_timeout}, write_timeout={self.write_timeout}, "
            f"deadline={self.deadline}, max_response_bytes={self.max_response_bytes}, "
            f"telemetry={self.telemetry}, flush_at={self.flush_at}, "
            f"flush_interval={self.flush_interval}, max_queue_size={self.max_queue_size}, "
            f"spool_path={self.spool_path!r})"
        )

    __str__ = __repr__

    @classmethod
    def build(
        cls, api_key: Union[str, ApiKeyCredential, None] = None, **settings: Any
    ) -> ClientConfig:
        """Validate every setting and return the frozen config.

        Args:
            api_key: the key (default ``TELEFLOW_API_KEY``), or an existing credential.
            settings: the other fields of :class:`ClientConfig`, by name.

        Raises:
            ValidationError: a setting is missing or out of range (the message names it).
        """
        if isinstance(api_key, ApiKeyCredential):
            credential = api_key
        else:
            source = (
                "the api_key= argument"
                if api_key is not None
                else f"the {API_KEY_ENV} environment variable"
            )
            credential = ApiKeyCredential(_check_api_key(api_key), source)
        settings["base_url"] = _check_base_url(settings.get("base_url"))
        settings["default_headers"] = _check_headers(settings.get("default_headers"))
        for name in ("timeout", "open_timeout", "write_timeout", "flush_interval"):
            if name in settings:
                _check_number(name, settings[name], minimum=0.001)
        for name in ("shutdown_timeout", "max_retry_wait", "queue_full_timeout"):
            if name in settings:
                _check_number(name, settings[name], minimum=0)
        if "deadline" in settings:
            # None or math.inf: no deadline. Kept as given (inf stays inf, for repr).
            settings["deadline"] = check_seconds(
                "deadline", settings["deadline"], minimum=0.001, allow_none=True
            )
        for name, minimum in (
            ("max_retries", 0),
            ("batch_max_retries", 0),
            ("flush_at", 1),
            ("max_queue_size", 1),
            ("max_queue_bytes", 64 * 1024),
            ("spool_max_bytes", 1024 * 1024),
            ("max_response_bytes", 1024),
        ):
            if name in settings:
                value = settings[name]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValidationError(name, f"must be an int, not {type(value).__name__}")
                if value < minimum:
                    raise ValidationError(name, f"must be >= {minimum}, got {value}")
        if not isinstance(settings.get("pace_by_rate_limit", True), bool):
            raise ValidationError("pace_by_rate_limit", "must be True or False")
        for name in ("on_error", "on_drop"):
            if settings.get(name) is not None and not callable(settings[name]):
                raise ValidationError(name, "must be callable or None")
        dedup = settings.get("server_deduplicates")
        if dedup is not None and not isinstance(dedup, bool):
            raise ValidationError(
                "server_deduplicates", f"must be True, False or None, not {type(dedup).__name__}"
            )
        _check_spool(settings)
        return cls(credential=credential, **settings)
