"""User code that must NOT type-check: each line marked ``# error`` must be reported."""

from teleflow_py import Client, TriggerResult
from teleflow_py.aio import AsyncClient


def campaign(client: Client) -> None:
    client.trigger_bulk_event([{"name": "x", "too": "u1"}])  # error
    client.trigger_bulk_event([{"name": 1, "to": "u1"}])  # error
    client.trigger_bulk_event([{"name": "x"}])  # error
    client.trigger_bulk_event([{"name": "x", "to": "u1", "payload": [1]}])  # error
    client.trigger_bulk_event([{"name": "x", "to": 3}])  # error
    client.trigger_bulk_event([{"name": "x", "to": "u1"}], concurrency="8")  # error
    client.with_options(max_retries="1")  # error
    client.with_options(api_key="other")  # error


def one_call_each(client: Client) -> None:
    client.trigger_event("welcome", to="u1", payloads={})  # error
    client.trigger_event("welcome")  # error
    client.cancel_triggered_event(42)  # error
    flag: str = client.cancel_triggered_event("t-1")  # error
    print(flag)


async def one_async_call_each(client: AsyncClient) -> None:
    result: TriggerResult = client.trigger_event("welcome", "u1")  # error
    await client.broadcast_event("news", payload=[1])  # error
    print(result)
