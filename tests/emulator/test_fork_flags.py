"""The fork's feature flags, at the HTTP level (raw requests, no SDK client).

NxPKG/teleflow 2066d4c74: ``apps/api/src/app/shared/framework/idempotency.interceptor.ts``
(``IS_API_IDEMPOTENCY_ENABLED``), ``apps/api/src/app/resource-limiting/guards/
resource-throttler.guard.ts`` (``IS_EVENT_RESOURCE_LIMITING_ENABLED``: 402), both false or
unset in ``apps/api/src/.env.production``.
"""

from __future__ import annotations

import pytest
import requests

from teleflow_py.emulator import Emulator
from teleflow_py.emulator.access import QUOTA_MESSAGE

from ._support import Api, analytics_event, trigger_body

TRIGGER = "/v1/events/trigger"


def send_until_answered(api: Api, body: dict[str, object], key: str) -> requests.Response:
    """Send, and resend once if the connection was dropped (what any retrying client does)."""
    try:
        return api.post(TRIGGER, body, **{"Idempotency-Key": key})
    except requests.ConnectionError:
        return api.post(TRIGGER, body, **{"Idempotency-Key": key})


def test_with_idempotency_off_a_resend_after_a_lost_answer_is_processed_twice() -> None:
    # A self-hosted server as shipped ignores Idempotency-Key: the drop happened after the
    # trigger was processed, so the resend is a second trigger.
    with Emulator(idempotency=False) as emu:
        api = Api(emu.url)
        emu.drop_next(1, path=TRIGGER)
        answer = send_until_answered(api, trigger_body(), "k-1")
        assert answer.status_code == 201
        assert "Idempotency-Key" not in answer.headers  # nothing echoed when off
        assert [t["status"] for t in emu.triggers()] == ["processed", "processed"]
        assert emu.replays() == []
        assert [r["status"] for r in emu.requests(path=TRIGGER)] == [None, 201]
        # The key the client sent is still logged, so a test can see it was the same.
        assert [r["idempotency_key"] for r in emu.requests(path=TRIGGER)] == ["k-1", "k-1"]


def test_with_idempotency_on_the_resend_is_answered_from_the_cache() -> None:
    with Emulator() as emu:  # the default: the hosted service
        api = Api(emu.url)
        emu.drop_next(1, path=TRIGGER)
        answer = send_until_answered(api, trigger_body(), "k-1")
        assert answer.status_code == 201
        assert answer.headers["Idempotency-Key"] == "k-1"
        assert answer.headers["Idempotency-Replay"] == "true"
        [trigger] = emu.triggers()
        assert answer.json()["data"]["transactionId"] == trigger["transactionId"]
        assert len(emu.replays()) == 1


@pytest.mark.parametrize(("idempotency", "status"), [(True, 400), (False, 201)])
def test_a_key_over_255_characters_matters_only_when_on(idempotency: bool, status: int) -> None:
    # The interceptor returns next.handle() before its length check when the flag is off.
    with Emulator(idempotency=idempotency) as emu:
        answer = Api(emu.url).post(TRIGGER, trigger_body(), **{"Idempotency-Key": "k" * 256})
        assert answer.status_code == status
        assert "Idempotency-Key" not in answer.headers


def test_the_analytics_key_is_teleflows_own_and_honoured_either_way() -> None:
    with Emulator(idempotency=False) as emu:
        api = Api(emu.url)
        body = {"events": [analytics_event("m-1")]}
        for _ in range(2):
            api.post("/v1/events/batch", body, **{"X-Idempotency-Key": "b-1"})
        assert len(emu.batches()) == 1 and len(emu.replays()) == 1


@pytest.mark.parametrize("idempotency", [True, False])
def test_every_answer_to_a_keyed_request_echoes_the_key_only_when_on(idempotency: bool) -> None:
    # idempotency.interceptor.ts sets Idempotency-Key on a new request's success and error,
    # and on every duplicate (replay, 409, 422) before answering.
    with Emulator(idempotency=idempotency) as emu:
        api = Api(emu.url)
        answers = [
            api.post(TRIGGER, trigger_body(), **{"Idempotency-Key": "ok"}),  # 201
            api.post(TRIGGER, {}, **{"Idempotency-Key": "bad"}),  # 400, kept
            api.post(TRIGGER, trigger_body(), **{"Idempotency-Key": "ok"}),  # replay
            api.post(TRIGGER, {}, **{"Idempotency-Key": "bad"}),  # cached error
            api.post(TRIGGER, trigger_body(to="other"), **{"Idempotency-Key": "ok"}),  # 422
        ]
        echoed = [answer.headers.get("Idempotency-Key") for answer in answers]
        if idempotency:
            assert [a.status_code for a in answers] == [201, 400, 201, 400, 422]
            assert echoed == ["ok", "bad", "ok", "bad", "ok"]
            # DOCS_LINK of the fork's interceptor (NxPKG/teleflow 2066d4c74).
            assert answers[4].headers["Link"] == (
                "https://docs.novu.co/additional-resources/idempotency"
            )
        else:
            assert [a.status_code for a in answers] == [201, 400, 201, 400, 201]
            assert echoed == [None] * 5
            assert all("Idempotency-Replay" not in a.headers for a in answers)
            assert len(emu.triggers()) == 3


def test_the_event_quota_answers_402_on_every_events_route_once_spent() -> None:
    with Emulator(event_quota=2) as emu:
        api = Api(emu.url)
        first = api.post(TRIGGER, trigger_body(), **{"Idempotency-Key": "a"})
        second = api.post("/v1/events/trigger/broadcast", {"name": "n", "payload": {}})
        refused = [
            api.post(TRIGGER, trigger_body(), **{"Idempotency-Key": "b"}),
            api.post("/v1/events/trigger/bulk", {"events": [trigger_body(payload={})]}),
            api.delete("/v1/events/trigger/some-id"),
        ]
        assert (first.status_code, second.status_code) == (201, 201)
        assert [r.status_code for r in refused] == [402, 402, 402]
        # new HttpException(THROTTLED_EXCEPTION_MESSAGE, HttpStatus.PAYMENT_REQUIRED), with
        # FRONT_BASE_URL from apps/api/src/.env.production.
        assert refused[0].text == (
            '{"statusCode":402,"message":"You have exceeded the number of allowed requests '
            "for this resource. Please visit https://web.novu.co/settings/billing to upgrade "
            'your plan."}'
        )
        assert refused[0].json()["message"] == QUOTA_MESSAGE
        # The resource throttler runs after the rate limiter, before idempotency: rate-limit
        # headers, no echoed key, nothing kept for the key.
        assert "RateLimit-Limit" in refused[0].headers
        assert "Idempotency-Key" not in refused[0].headers
        # Analytics are not an events-controller route.
        assert api.post("/v1/events/batch", {"events": []}).status_code == 400  # not 402
        assert len(emu.triggers()) + len(emu.broadcasts()) == 2
        emu.set_event_quota(None)
        assert api.post(TRIGGER, trigger_body(), **{"Idempotency-Key": "b"}).status_code == 201


def test_a_quota_of_zero_is_the_fork_with_the_flag_on() -> None:
    with Emulator(event_quota=0, rate_limiting=False) as emu:
        answer = Api(emu.url).post(TRIGGER, trigger_body())
        assert answer.status_code == 402 and emu.triggers() == []


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_a_bad_quota_is_refused_at_the_call(bad: object) -> None:
    with pytest.raises(ValueError, match="event_quota"):
        Emulator(event_quota=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="idempotency"):
        Emulator(idempotency="off")  # type: ignore[arg-type]
