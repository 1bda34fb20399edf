"""A durable spool: events wait on disk until the server took them."""

import os
import tempfile

from teleflow_py import Client
from teleflow_py.analytics import inspect_spool

spool = os.path.join(tempfile.mkdtemp(), "teleflow-analytics.db")

with Client(api_key="sk_test_example", spool_path=spool) as client:
    for step in ("signup", "verify", "first_order"):
        client.track("funnel_step", user_id="user-42", properties={"step": step})
    result = client.flush(timeout=10)
    print(result.accepted, "accepted;", result.pending, "pending")

    health = client.analytics_health()
    print("worker alive:", health.worker_alive, "oldest pending:", health.oldest_pending_age)

# What the file still holds (the `teleflow spool PATH` command prints the same).
state = inspect_spool(spool)
print(state["pending_events"], "pending;", state["dead_letters"], "dead letters")
