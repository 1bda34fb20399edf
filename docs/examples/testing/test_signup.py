"""Testing your own code with the pytest plugin's ``teleflow_emulator`` fixture."""

import pytest

from teleflow_py import Client


def signup(email: str, client: Client) -> None:
    """The code under test: welcome a new user and record the signup."""
    user_id = email.split("@")[0]
    client.trigger_event("welcome", {"subscriberId": user_id, "email": email})
    client.track("signed_up", user_id=user_id, properties={"plan": "free"})


@pytest.mark.teleflow_emulator(known_workflows=["welcome"])
def test_signup_sends_welcome(teleflow_emulator):
    signup("ada@example.com", client=teleflow_emulator.client)

    [sent] = teleflow_emulator.triggers(name="welcome")
    assert sent["to"] == {"subscriberId": "ada", "email": "ada@example.com"}


def test_signup_is_tracked(teleflow_emulator):
    client = teleflow_emulator.client
    signup("ada@example.com", client=client)

    # track() only queues the event; a background thread sends it later. Deliver the
    # queue before asserting on what the emulator received.
    assert teleflow_emulator.events(event="signed_up") == []
    client.flush()

    [event] = teleflow_emulator.events(event="signed_up")
    assert event["user_id"] == "ada"
    assert event["properties"] == {"plan": "free"}
