"""The attempt loop as data: drive ``Attempts.flow`` by hand, no socket, no sleep.

Each test plays the driver: it answers every "send" step with an answer or a failure and
every "sleep" step with ``True`` (or ``False``: the driver may not wait), and checks the
steps the loop asks for, the hooks it calls and how the call ends.
"""

from __future__ import annotations

import math
import socket
from typing import Any, List, Mapping, MutableMapping, Optional, Tuple

import pytest

from teleflow_py import (
    APIConnectionError,
    APITimeoutError,
    ServiceUnavailableError,
    TeleflowError,
)
from teleflow_py._core.attempts import Attempts, Failure, Send, Sleep
from teleflow_py._core.calls import Call
from teleflow_py._core.deadline import Deadline, SharedPause
from teleflow_py._core.hooks import NO_OBSERVER, AttemptObserver
from teleflow_py._core.limits import Answer, Timeouts
from teleflow_py._core.retry import RetryPolicy
from teleflow_py._core.sending import Sending
from teleflow_py.response import Response

CALL = Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', "key-1", kind="trigger")
OK = Answer(201, {"Content-Type": "application/json"}, b'{"data":{"status":"processed"}}')
BUSY = Answer(503, {"Retry-After": "0"}, b"{}")


def sending(observer: AttemptObserver = NO_OBSERVER, **changes: Any) -> Sending:
    base = Sending(
        base_url="http://127.0.0.1:9",
        base_headers={"User-Agent": "test"},
        policy=RetryPolicy(max_retries=2),
        timeouts=Timeouts(connect=1.0, read=1.0, write=1.0),
        deadline=30.0,
        max_response_bytes=1000,
        observer=observer,
        paced=observer is not NO_OBSERVER,
    )
    return base._replace(**changes)


def test_one_key_on_every_attempt_and_the_retry_count_in_its_header() -> None:
    flow = Attempts(CALL, sending()).flow()
    step = next(flow)
    assert isinstance(step, Send)
    assert step.headers["Idempotency-Key"] == "key-1"
    assert step.headers["X-Teleflow-Retry-Count"] == "0"
    assert "Authorization" not in step.headers  # the driver's route adds it
    assert flow.send(BUSY) == Sleep(0.0, "retry")
    step = flow.send(True)
    assert isinstance(step, Send)
    assert step.headers["Idempotency-Key"] == "key-1"
    assert step.headers["X-Teleflow-Retry-Count"] == "1"
    with pytest.raises(StopIteration) as done:
        flow.send(OK)
    response = done.value.value
    assert isinstance(response, Response)
    assert response.status == 201 and response.retry_count == 1
    assert response.headers["content-type"] == "application/json"


def test_retries_spent_raise_the_last_error_with_its_count() -> None:
    attempts = Attempts(CALL, sending())
    flow = attempts.flow()
    next(flow)
    for _ in range(2):
        assert isinstance(flow.send(BUSY), Sleep)
        assert isinstance(flow.send(True), Send)
    with pytest.raises(ServiceUnavailableError) as caught:
        flow.send(BUSY)
    assert caught.value.retry_count == 2
    assert attempts.decision is not None and attempts.decision.reason == "retries_exhausted"


def test_a_driver_that_may_not_wait_ends_the_call_with_the_last_error() -> None:
    attempts = Attempts(CALL, sending())
    flow = attempts.flow()
    next(flow)
    assert isinstance(flow.send(BUSY), Sleep)
    with pytest.raises(ServiceUnavailableError):
        flow.send(False)
    assert attempts.decision is not None and attempts.decision.reason == "no_time"
    assert attempts.retries == 0


@pytest.mark.parametrize(
    ("failure", "error", "retryable"),
    [
        (ConnectionResetError("reset"), APIConnectionError, True),
        (socket.timeout("slow"), APITimeoutError, True),
        (TimeoutError("deadline"), APITimeoutError, True),
        (ValueError("bad header value"), APIConnectionError, False),
    ],
)
def test_a_failure_is_mapped_once_and_retried_only_when_a_repeat_can_help(
    failure: BaseException, error: type, retryable: bool
) -> None:
    flow = Attempts(CALL, sending(policy=RetryPolicy(max_retries=0))).flow()
    next(flow)
    with pytest.raises(error) as caught:
        flow.send(Failure(failure))
    assert caught.value.retryable is retryable
    assert caught.value.url == "http://127.0.0.1:9/v1/events/trigger"


def test_a_failure_that_is_not_a_transport_failure_is_raised_as_it_is() -> None:
    flow = Attempts(CALL, sending()).flow()
    next(flow)
    with pytest.raises(KeyError):
        flow.send(Failure(KeyError("a bug")))


def test_a_closed_client_is_not_retried() -> None:
    flow = Attempts(CALL, sending()).flow()
    next(flow)
    with pytest.raises(TeleflowError, match="closed"):
        flow.send(Failure(TeleflowError("the client is closed")))


def test_a_2xx_the_call_does_not_accept_is_retried_like_a_lost_answer() -> None:
    call = CALL._replace(accepts=lambda response: response.body == {"accepted": 1})
    flow = Attempts(call, sending()).flow()
    next(flow)
    step = flow.send(Answer(200, {}, b"<html>portal</html>"))
    assert isinstance(step, Sleep) and step.why == "retry"
    assert isinstance(flow.send(True), Send)
    with pytest.raises(StopIteration) as done:
        flow.send(Answer(200, {}, b'{"accepted": 1}'))
    assert done.value.value.retry_count == 1


def test_a_shared_pause_is_waited_before_the_deadline_starts_and_a_429_sets_it() -> None:
    now = [0.0]
    pause = SharedPause(clock=lambda: now[0])
    pause.hold(3.0)
    flow = Attempts(CALL, sending(), pause).flow()
    assert next(flow) == Sleep(3.0, "pause")
    now[0] = 3.0
    assert isinstance(flow.send(True), Send)
    # A 429 holds the pause for every request of the call; this one waits it out too.
    step = flow.send(Answer(429, {"Retry-After": "2"}, b"{}"))
    assert step == Sleep(pytest.approx(2.0), "pause")


class Recorder:
    """An observer that records every hook, and asks for the pacing delays given, in turn."""

    def __init__(self, *delays: float, watches: bool = True) -> None:
        self.delays = list(delays)
        self.watches = watches
        self.seen: List[Tuple[Any, ...]] = []

    def call_started(self, call: Call) -> bool:
        self.seen.append(("call_started", call.kind))
        return self.watches

    def delay_before_send(self, call: Call, attempt: int, deadline: Deadline) -> float:
        self.seen.append(("delay_before_send", attempt))
        return self.delays.pop(0) if self.delays else 0.0

    def attempt_started(self, call: Call, attempt: int, headers: MutableMapping[str, str]) -> None:
        headers["traceparent"] = f"00-trace-{attempt}"
        self.seen.append(("attempt_started", attempt))

    def attempt_answered(
        self, call: Call, attempt: int, status: int, headers: Mapping[str, str]
    ) -> None:
        self.seen.append(("attempt_answered", attempt, status))

    def attempt_failed(self, call: Call, attempt: int, error: TeleflowError) -> None:
        self.seen.append(("attempt_failed", attempt, type(error).__name__))

    def waiting(self, call: Call, attempt: int, seconds: float, why: str) -> None:
        self.seen.append(("waiting", attempt, why))

    def call_ended(
        self, call: Call, response: Optional[Response], error: Optional[BaseException]
    ) -> None:
        self.seen.append(("call_ended", response.status if response else type(error).__name__))


def test_the_observer_sees_every_event_of_a_call_in_order_and_may_pace_and_add_headers() -> None:
    recorder = Recorder(0.25)
    flow = Attempts(CALL, sending(recorder)).flow()
    assert next(flow) == Sleep(0.25, "pacing")
    step = flow.send(True)
    assert isinstance(step, Send) and step.headers["traceparent"] == "00-trace-0"
    assert isinstance(flow.send(Failure(ConnectionResetError())), Sleep)
    assert isinstance(flow.send(True), Send)
    with pytest.raises(StopIteration):
        flow.send(OK)
    assert recorder.seen == [
        ("call_started", "trigger"),
        ("delay_before_send", 0),
        ("waiting", 0, "pacing"),
        ("delay_before_send", 0),  # asked again after the wait: nothing more
        ("attempt_started", 0),
        ("attempt_failed", 0, "APIConnectionError"),
        ("waiting", 1, "retry"),
        ("delay_before_send", 1),
        ("attempt_started", 1),
        ("attempt_answered", 1, 201),
        ("call_ended", 201),
    ]


def test_an_observer_that_does_not_watch_a_call_hears_only_of_its_answers() -> None:
    # Nothing traced, nothing paced: the answers still reach it (rate-limit headers that
    # appear are learnt), nothing else does, and no delay is asked even with pacing on.
    recorder = Recorder(5.0, watches=False)
    flow = Attempts(CALL, sending(recorder)).flow()
    step = next(flow)
    assert isinstance(step, Send) and "traceparent" not in step.headers
    assert isinstance(flow.send(Failure(ConnectionResetError())), Sleep)
    assert isinstance(flow.send(True), Send)
    with pytest.raises(StopIteration):
        flow.send(OK)
    assert recorder.seen == [("call_started", "trigger"), ("attempt_answered", 1, 201)]


def test_a_pacing_delay_past_the_deadline_ends_the_call_before_waiting() -> None:
    recorder = Recorder(math.inf)
    flow = Attempts(CALL, sending(recorder, deadline=5.0)).flow()
    with pytest.raises(APITimeoutError) as caught:
        next(flow)
    assert not caught.value.retryable
    assert recorder.seen[-1] == ("call_ended", "APITimeoutError")


def test_the_loop_asks_again_after_each_pacing_wait_until_the_answer_is_now() -> None:
    # A pacer waiting for the first answer of a bucket says "look again in 10 ms".
    recorder = Recorder(0.01, 0.01, 0.0)
    flow = Attempts(CALL, sending(recorder)).flow()
    assert next(flow) == Sleep(0.01, "pacing")
    assert flow.send(True) == Sleep(0.01, "pacing")
    assert isinstance(flow.send(True), Send)
    assert [event for event in recorder.seen if event[0] == "delay_before_send"] == [
        ("delay_before_send", 0)
    ] * 3


def test_with_pacing_off_the_observer_is_not_asked_for_a_delay() -> None:
    recorder = Recorder(5.0)
    flow = Attempts(CALL, sending(recorder, paced=False)).flow()
    assert isinstance(next(flow), Send)
    assert ("delay_before_send", 0) not in recorder.seen


def test_with_pacing_on_a_spent_window_does_not_pause_a_bulk_call_by_whole_seconds() -> None:
    spent = Answer(
        201,
        {"RateLimit-Remaining": "0", "RateLimit-Reset": "1"},
        b'{"data":[{"status":"processed"}]}',
    )
    for paced, paused in ((True, False), (False, True)):
        pause = SharedPause()
        flow = Attempts(CALL, sending(Recorder(), paced=paced), pause).flow()
        next(flow)
        with pytest.raises(StopIteration):
            flow.send(spent)
        assert (pause.remaining() > 0) is paused


def test_a_call_interrupted_in_its_driver_still_ends_for_the_observer() -> None:
    recorder = Recorder()

    def interrupted(*attempt: Any) -> Answer:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Attempts(CALL, sending(recorder)).run(interrupted, lambda seconds: None)
    assert recorder.seen[-1] == ("call_ended", "KeyboardInterrupt")
