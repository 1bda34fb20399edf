"""A bulk trigger of 250 events: three requests, two in flight at once, resumable."""

from typing import List

from teleflow_py import BulkTriggerError, Client, TriggerEventBody

# Annotated, so mypy checks each event's keys and types (a typo like "too" is an error).
events: List[TriggerEventBody] = [
    {"name": "digest", "to": f"user-{i}", "payload": {"n": i}} for i in range(250)
]

with Client(api_key="sk_test_example") as client:
    try:
        results = client.trigger_bulk_event(
            events, idempotency_key="digest-2026-11-22", concurrency=2
        )
    except BulkTriggerError as exc:
        print(len(exc.accepted), "accepted;", len(exc.unsent), "not sent:", exc.error)
        for key, chunk in exc.unsent_chunks:  # resume later with the same keys
            client.trigger_bulk_event(chunk, idempotency_key=key)
    else:
        print(
            len(results),
            "results;",
            len(results.failed),
            "not processed;",
            len(results.unconfirmed),
            "unconfirmed",
        )
