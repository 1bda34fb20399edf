"""User code that must NOT type-check: each line marked ``# error`` must be reported."""

from teleflow_py import Client


def campaign(client: Client) -> None:
    client.trigger_bulk_event([{"name": "x", "too": "u1"}])  # error
    client.trigger_bulk_event([{"name": 1, "to": "u1"}])  # error
    client.trigger_bulk_event([{"name": "x"}])  # error
    client.trigger_bulk_event([{"name": "x", "to": "u1", "payload": [1]}])  # error
    client.trigger_bulk_event([{"name": "x", "to": 3}])  # error
    client.trigger_bulk_event([{"name": "x", "to": "u1"}], concurrency="8")  # error
    client.with_options(max_retries="1")  # error
    client.with_options(api_key="other")  # error
