"""Trigger a workflow, then cancel it. Runs against TELEFLOW_BASE_URL (the emulator in tests)."""

from teleflow_py import Client

with Client(api_key="sk_test_example") as client:
    result = client.trigger_event(
        "welcome",
        {"subscriberId": "user-42", "email": "ada@example.com", "firstName": "Ada"},
        payload={"plan": "pro"},
        transaction_id="signup-user-42",
    )
    print(result.ok, result.status, result.transaction_id)

    # Cancel the pending steps (delays, digests) of that transaction.
    print("cancelled:", client.cancel_triggered_event("signup-user-42"))
