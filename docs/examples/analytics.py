"""Track, identify and alias; flush and look at the result."""

from teleflow_py import Client

dropped = []

with Client(
    api_key="sk_test_example",
    flush_at=50,
    on_drop=lambda event, reason: dropped.append((event["event"], reason)),
) as client:
    client.identify(user_id="user-42", traits={"plan": "pro", "email": "ada@example.com"})
    for page in ("/", "/pricing", "/signup"):
        queued = client.track("page_viewed", user_id="user-42", properties={"path": page})
        assert queued
    client.alias(user_id="user-42", anonymous_id="anon-7")

    result = client.flush(timeout=10)
    print(result.accepted, "accepted;", result.pending, "pending;", result.ok)
    print(client.analytics_stats)
# Leaving the block shuts the client down: anything still queued is sent first.
