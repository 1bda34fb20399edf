"""Per-call options: a tighter deadline for a call on a web request path."""

import math

from teleflow_py import APITimeoutError, Client

with Client(api_key="sk_test_example") as client:
    # Every call of the client: 30 s at most, retries and waits included (the default).
    print(client.config.deadline)

    # This call only: 3 s and one retry. The copy shares the client's connections.
    fast = client.with_options(deadline=3, max_retries=1)
    try:
        result = fast.trigger_event("welcome", "user-1")
        print(result.ok, result.response.status if result.response else None)
    except APITimeoutError as exc:
        print("gave up in time:", exc)

    # No overall limit for a batch job (retries and timeouts still apply).
    client.with_options(deadline=math.inf).trigger_event("welcome", "user-2")
