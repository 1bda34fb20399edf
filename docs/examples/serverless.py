"""A Lambda-style handler: each invocation's events leave before it returns."""

from teleflow_py import Client
from teleflow_py.integrations.serverless import flush_after

# Made once per process (a "cold start"), reused by every invocation.
client = Client(api_key="sk_test_example")


@flush_after(client)
def handler(event, context):
    client.track("order_placed", user_id=event["user"], properties={"total": event["total"]})
    return {"status": 200}


for invocation in ({"user": "user-1", "total": 30}, {"user": "user-2", "total": 12}):
    print(handler(invocation, None), "pending:", client.analytics_stats.pending)
