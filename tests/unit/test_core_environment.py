"""The proxy, CA-bundle and plain-http rules, as tables (requests' rules, without requests)."""

from __future__ import annotations

import base64
import pickle
import ssl
from typing import Dict, Optional, Tuple

import pytest
import requests

from teleflow_py._core.environment import (
    ca_bundle,
    key_in_clear,
    parse_proxy,
    proxy_for,
    route_for,
)
from teleflow_py._core.headers import CaseInsensitiveDict

PROXY = "http://proxy.example:3128"
_PROXY_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://api.example.com", {}, None),
        ("https://api.example.com", {"HTTPS_PROXY": PROXY}, PROXY),
        ("https://api.example.com", {"https_proxy": PROXY, "HTTPS_PROXY": "http://x:1"}, PROXY),
        ("http://api.example.com", {"HTTPS_PROXY": PROXY}, None),
        ("http://api.example.com", {"ALL_PROXY": PROXY}, PROXY),
        ("https://api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "example.com"}, None),
        ("https://api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": ".example.com"}, None),
        ("https://api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "ample.com"}, PROXY),
        ("https://api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, None),
        ("https://10.1.2.3:8443", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://11.1.2.3:8443", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.0.0.0/8"}, PROXY),
        ("http://127.0.0.1:8080", {"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.1"}, None),
        (
            "http://api.example.com:81",
            {"HTTP_PROXY": PROXY, "NO_PROXY": "api.example.com:81"},
            None,
        ),
    ],
)
def test_the_proxy_is_the_one_requests_would_use(
    environ: pytest.MonkeyPatch, url: str, env: Dict[str, str], expected: Optional[str]
) -> None:
    for name, value in env.items():
        environ.setenv(name, value)
    assert proxy_for(url) == expected
    if env.get("NO_PROXY") == "ample.com" and _requests_version() < (2, 33):
        # requests before 2.33 (the last for Python 3.9 is 2.32) matched a no_proxy entry
        # as a bare suffix, so "ample.com" exempted api.example.com; it now matches at dot
        # boundaries (requests/utils.py should_bypass_proxies), as the SDK does everywhere.
        return
    # The same answer as requests' own reading of the environment.
    with requests.Session() as session:
        settings = session.merge_environment_settings(url, {}, None, None, None)
    assert requests.utils.select_proxy(url, settings["proxies"]) == expected


def test_the_ca_bundle_is_the_environments_then_certifis(
    environ: pytest.MonkeyPatch, tmp_path: object
) -> None:
    assert ca_bundle() == requests.utils.DEFAULT_CA_BUNDLE_PATH
    environ.setenv("CURL_CA_BUNDLE", "/curl.pem")
    assert ca_bundle() == "/curl.pem"
    environ.setenv("REQUESTS_CA_BUNDLE", "/requests.pem")
    assert ca_bundle() == "/requests.pem"


def test_a_route_verifies_https_directly_and_through_a_proxy(
    environ: pytest.MonkeyPatch,
) -> None:
    direct = route_for("https://api.example.com")
    assert direct.proxy is None and isinstance(direct.tls, ssl.SSLContext)
    assert direct.tls.verify_mode == ssl.CERT_REQUIRED
    assert route_for("http://127.0.0.1:1") == (None, None)
    environ.setenv("HTTPS_PROXY", PROXY)
    tunnelled = route_for("https://api.example.com")
    assert tunnelled.proxy == PROXY and isinstance(tunnelled.tls, ssl.SSLContext)
    assert route_for("http://api.example.com").tls is None


@pytest.mark.parametrize(
    ("url", "in_clear"),
    [
        ("http://api.example.com", True),
        ("http://10.0.0.5:3000", True),
        ("HTTP://API.EXAMPLE.COM", True),
        ("https://api.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://127.5.6.7", False),
        ("http://[::1]:8080", False),
        ("http://localhost:3000", False),
        ("http://LocalHost", False),
        ("http://app.localhost", False),
    ],
)
def test_the_key_travels_in_clear_over_http_to_a_host_that_is_not_loopback(
    url: str, in_clear: bool
) -> None:
    assert key_in_clear(url) is in_clear


def test_case_insensitive_headers_keep_the_last_value_and_survive_pickling() -> None:
    headers = CaseInsensitiveDict([("Retry-After", "1"), ("retry-after", "2"), ("X-A", "b")])
    assert headers["RETRY-AFTER"] == "2" and "x-a" in headers and len(headers) == 2
    assert headers == {"retry-after": "2", "x-a": "b"}
    restored = pickle.loads(pickle.dumps(headers))
    assert restored["Retry-After"] == "2" and restored == headers
    copy = headers.copy()
    copy["X-A"] = "c"
    assert headers["x-a"] == "b"


def test_a_view_over_aiohttps_headers_answers_as_the_dict_does() -> None:
    # The async client's answers: aiohttp's CIMultiDictProxy, viewed rather than copied.
    multidict = pytest.importorskip("multidict")
    pairs = [("Retry-After", "1"), ("retry-after", "2"), ("X-A", "b")]
    source = multidict.CIMultiDict(pairs)
    view = CaseInsensitiveDict.over(multidict.CIMultiDictProxy(source))
    copied = CaseInsensitiveDict(pairs)
    for name in ("RETRY-AFTER", "x-a", "RateLimit-Remaining"):
        assert view.get(name) == copied.get(name)
        assert (name in view) is (name in copied)
    assert view.get("missing", "d") == "d" and view.get(1) is None  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        view["missing"]
    assert view == copied and len(view) == 2 and sorted(view) == ["X-A", "retry-after"]
    restored = pickle.loads(pickle.dumps(view))
    assert type(restored) is CaseInsensitiveDict and restored == copied
    view["X-A"] = "c"  # a change is the view's own: aiohttp's headers stay as they came
    assert view["x-a"] == "c" and source["x-a"] == "b"


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("http://proxy.example:3128", ("proxy.example", 3128)),
        ("proxy.example:3128", ("proxy.example", 3128)),  # no scheme: http, as requests reads it
        ("http://proxy.example", ("proxy.example", 80)),
        ("HTTP://user:pw@Proxy.Example:8080/", ("proxy.example", 8080)),
        ("http://us%40er:p%3Ass%20w@[::1]:3128", ("::1", 3128)),
        ("http://j\u00fcrgen:gr\u00fc\u00df@proxy.example:1", ("proxy.example", 1)),
        ("http://user@proxy.example:1", ("proxy.example", 1)),  # no password: none, as requests
        ("https://u:pw-secret@proxy.example", ("proxy.example", 443)),
        ("socks5://proxy.example", ("proxy.example", 1080)),
    ],
)
def test_a_proxy_url_gives_where_to_connect_and_requests_proxy_authorization(
    url: str, where: Tuple[str, int]
) -> None:
    proxy = parse_proxy(url)
    assert (proxy.host, proxy.port) == where
    # Its URL keeps the scheme and drops the credentials (errors may name it).
    assert proxy.url.startswith(url.split("://")[0].lower() if "://" in url else "http")
    assert "@" not in proxy.url and "@" not in repr(proxy)
    # The header requests (urllib3) would send to the same proxy URL.
    username, password = requests.utils.get_auth_from_url(url if "://" in url else "http://" + url)
    if username or password:
        expected = requests.auth._basic_auth_str(username, password)
        assert proxy.headers == {"Proxy-Authorization": expected}
        # Shown masked wherever a repr shows it (a frame's locals, a header map).
        assert password not in repr(proxy.headers) + repr(proxy) or not password
        assert repr(proxy.headers["Proxy-Authorization"]) == "'Basic ***'"
    else:
        assert proxy.headers == {}


def test_proxy_credentials_beyond_latin_1_are_sent_as_utf_8() -> None:
    # requests raises UnicodeEncodeError here; curl and browsers send UTF-8.
    proxy = parse_proxy("http://\u2603:x@proxy.example:1")
    expected = "Basic " + base64.b64encode("\u2603:x".encode()).decode()
    assert proxy.headers == {"Proxy-Authorization": expected}


def _requests_version() -> Tuple[int, ...]:
    return tuple(int(part) for part in requests.__version__.split(".")[:2])
