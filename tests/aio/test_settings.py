"""One settings signature: Client and AsyncClient take the same keywords, from one place.

The constructor and ``with_options`` live once in ``teleflow_py/_base_client.py``; the async
client refuses, by name, the three settings that would make its event loop wait or that
belong to requests.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Dict

import pytest
import requests
from both_clients import API_KEY, Calls

from teleflow_py import AsyncClient, Client, ValidationError
from teleflow_py.config import ClientConfig


def test_both_clients_have_one_signature_with_the_configs_defaults() -> None:
    assert inspect.signature(Client) == inspect.signature(AsyncClient)
    assert inspect.signature(Client.with_options) == inspect.signature(AsyncClient.with_options)
    fields = {f.name: f for f in ClientConfig.__dataclass_fields__.values()}
    for parameter in inspect.signature(Client).parameters.values():
        if parameter.name in fields and parameter.default is not None:
            assert parameter.default == fields[parameter.name].default, parameter.name


@pytest.mark.parametrize(
    ("setting", "value"),
    [("session", requests.Session()), ("queue_full_timeout", 1.0), ("spool_mode", "sync")],
)
def test_the_async_client_refuses_by_name_what_would_block_its_loop(
    setting: str, value: Any
) -> None:
    options: Dict[str, Any] = {setting: value}
    with pytest.raises(ValidationError) as caught:
        AsyncClient(api_key=API_KEY, base_url="http://127.0.0.1:1", **options)
    assert caught.value.argument == setting
    assert "AsyncClient" in str(caught.value)


def test_with_options_keeps_what_is_left_out_and_takes_none_as_no_deadline(
    make_api: Callable[..., Calls],
) -> None:
    api = make_api(base_url="http://127.0.0.1:1", deadline=7, default_headers={"X-A": "1"})
    same = api.with_options().client.config
    assert same.deadline == 7 and same.max_retries == 5
    changed = api.with_options(deadline=None, max_retries=1, default_headers={"X-B": "2"})
    config = changed.client.config
    assert config.deadline is None and config.max_retries == 1
    assert config.default_headers == {"X-A": "1", "X-B": "2"}
    assert api.with_options(deadline=math.inf).client.config.deadline == math.inf
    with pytest.raises(ValidationError) as caught:
        api.with_options(timeout=-1)
    assert caught.value.argument == "timeout"
    assert type(changed.client) is type(api.client)
