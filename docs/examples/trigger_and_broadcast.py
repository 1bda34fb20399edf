"""Trigger to a subscriber, a topic and a list; broadcast to everyone."""

from teleflow_py import Client

with Client(api_key="sk_test_example") as client:
    client.trigger_event("comment-reply", "user-42", payload={"comment_id": "c-1"})
    client.trigger_event("release-notes", {"type": "Topic", "topicKey": "beta-users"})
    result = client.trigger_event(
        "incident",
        ["user-42", {"subscriberId": "oncall", "phone": "+15550100"}],
        payload={"severity": "high"},
        tenant="acme",
        actor="monitoring-bot",
        idempotency_key="incident-2026-11-22-01",
    )
    if not result.ok:
        print("not processed:", result.status, result.error)

    announcement = client.broadcast_event("maintenance", {"window": "Sunday 02:00 UTC"})
    print(announcement.status, announcement.transaction_id)
