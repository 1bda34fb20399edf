"""User code that must type-check under mypy --strict (checked by test_typing.py)."""

from typing import List

from teleflow_py import Client, TriggerEvent, TriggerEventBody, TriggerResult
from teleflow_py.aio import AsyncClient


def campaign(client: Client) -> None:
    client.trigger_bulk_event([{"name": "welcome", "to": "u1"}])
    client.trigger_bulk_event(
        [
            {"name": "welcome", "to": ["u1", {"subscriberId": "u2", "email": "a@b.c"}]},
            {"name": "digest", "to": {"type": "Topic", "topicKey": "news"}, "payload": {}},
            TriggerEvent("welcome", "u3", transaction_id="t-1"),
        ],
        concurrency=4,
    )
    built: List[TriggerEventBody] = []
    for user in ("u1", "u2"):
        built.append({"name": "welcome", "to": user, "transactionId": f"t-{user}"})
    result = client.trigger_bulk_event(built, idempotency_key="k")
    for index, failed in result.failed:
        print(index, failed.status, failed.response)
    client.with_options(deadline=5.0, max_retries=1).trigger_event("welcome", "u1")
    client.with_options(deadline=None).trigger_event("welcome", "u1")


def one_call_each(client: Client) -> None:
    # The Events methods of both clients are made from one definition (events.py): each
    # still has its parameters and result types for the caller.
    result: TriggerResult = client.trigger_event("welcome", "u1", payload={"a": 1})
    print(result.transaction_id)
    cancelled: bool = client.cancel_triggered_event("t-1")
    broadcast: TriggerResult = client.broadcast_event("news", {}, idempotency_key="k")
    print(cancelled, broadcast.ok)


async def one_async_call_each(client: AsyncClient) -> None:
    result: TriggerResult = await client.trigger_event("welcome", "u1", actor="a")
    cancelled: bool = await client.cancel_triggered_event("t-1")
    print(result.ok, cancelled)
    copy: AsyncClient = client.with_options(deadline=1.0)
    print(copy)
