"""Run an emulator in-process, inject an outage, and see the retry reuse its key."""

from teleflow_py import Client
from teleflow_py.emulator import Emulator

with Emulator() as emu, Client(api_key="test", base_url=emu.url) as client:
    # Its answer echoes Idempotency-Key: the client learns that this server deduplicates,
    # so a failure after processing may be retried (see docs/retries.rst).
    client.trigger_event("welcome", "user-1")
    emu.fail_next(2, 503, headers={"Retry-After": "0"})  # the next two requests fail
    emu.drop_next(1)  # the third is processed, but its answer is lost
    result = client.trigger_event("welcome", "user-42")

    keys = {request["headers"]["idempotency-key"] for request in emu.requests()[1:]}
    print(result.status, "after", len(emu.requests()) - 1, "attempts with", len(keys), "key")
    print("triggers stored:", len(emu.triggers()))  # 2: the replay was not stored again
