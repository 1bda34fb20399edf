"""User code that must type-check under mypy --strict (checked by test_typing.py)."""

from typing import List

from teleflow_py import Client, TriggerEvent, TriggerEventBody


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
