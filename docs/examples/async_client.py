"""The async client: the same calls as coroutines, many at once from one event loop."""

import asyncio

from teleflow_py import AsyncClient


async def main() -> None:
    async with AsyncClient(api_key="sk_test_example") as client:
        result = await client.trigger_event("welcome", "user-42", payload={"plan": "pro"})
        print(result.status, result.transaction_id)

        # A hundred triggers at once: each its own request, key and retries.
        results = await asyncio.gather(
            *(client.trigger_event("digest", f"user-{n}") for n in range(100))
        )
        print(sum(r.ok for r in results), "processed")

        # A shorter deadline and no retries for one call only.
        quick = client.with_options(deadline=2, max_retries=0)
        await quick.broadcast_event("maintenance", {"window": "Sunday 02:00 UTC"})

        # Analytics queue at once (no I/O on the loop); close() delivers them.
        client.track("signed_up", user_id="user-42", properties={"plan": "pro"})


asyncio.run(main())
