"""``teleflow demo``: the whole SDK against an in-process emulator, narrated as it goes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, TextIO

from .client import Client
from .emulator import Emulator

DEMO_KEY = "sk_demo_not_a_real_key"
NO_WAIT = {"Retry-After": "0.2"}


class _Narrator:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0
        self.quarters_shown = 0

    def section(self, title: str) -> None:
        self.step += 1
        self.say(f"\n[{self.step}] {title}")

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def progress(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        bar = "#" * filled + "." * (width - filled)
        if self.out.isatty():
            end = "\n" if done == total else ""
            print(f"\r    [{bar}] {done:>6}/{total}", end=end, file=self.out, flush=True)
        elif 4 * done // total > self.quarters_shown:
            # Not a terminal (a log, a pipe): a line at each quarter instead of redraws.
            self.quarters_shown = 4 * done // total
            self.say(f"    [{bar}] {done:>6}/{total}")


def _keys(requests: List[Dict[str, Any]], header: str) -> List[str]:
    return [str(request["headers"].get(header, "-")) for request in requests]


def _same_key(keys: List[str]) -> str:
    """``keys`` in words: one key sent on every attempt, or the list when they differ."""
    if len(set(keys)) == 1:
        return f"{keys[0]} (the same on all {len(keys)} attempts)"
    return str(keys)


def _by_name(rows: List[Dict[str, Any]]) -> str:
    """``welcome 2, digest 250``: how many rows each name has, in first-seen order."""
    counts: Dict[str, int] = {}
    for row in rows:
        name = str(row.get("name") or "?")
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} {count:,}" for name, count in counts.items())


def _statuses(requests: List[Dict[str, Any]]) -> List[str]:
    return [
        "dropped" if request["status"] is None else str(request["status"]) for request in requests
    ]


@dataclass(frozen=True)
class DemoOutcome:
    """How the demo went: each check by label, the emulator's counters, its dashboard URL."""

    checks: Dict[str, bool]
    stats: Dict[str, int]
    dashboard: str

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return all(self.checks.values())


def run_demo(
    *, events: int = 10_000, serve: bool = False, port: int = 0, out: TextIO
) -> DemoOutcome:
    """Run the demo, narrating on ``out``; with ``serve``, keep the emulator up until Ctrl-C.

    Args:
        events: how many ``track()`` calls to make.
        serve: keep the emulator and its dashboard serving after the demo, until Ctrl-C.
        port: the emulator's port (0: any free port).
        out: where the narration goes.

    Raises:
        OSError: the port cannot be bound.
    """
    say = _Narrator(out)
    checks: List[tuple[str, bool]] = []
    # "reminder" has a delay step, so cancelling it finds something pending (as on the server).
    with Emulator(port=port, workflows={"reminder": {"delayed": True}}) as emu:
        say.say(f"Teleflow emulator running at {emu.url} (dashboard: {emu.url}/)")
        client = Client(
            api_key=DEMO_KEY,
            base_url=emu.url,
            flush_at=100,
            flush_interval=0.5,
            max_queue_size=max(1000, events),
            register_atexit=False,
        )
        started = time.monotonic()

        say.section("Trigger a workflow for one subscriber, then for a topic")
        one = client.trigger_event(
            "welcome", {"subscriberId": "ada", "email": "ada@example.com"}, payload={"plan": "pro"}
        )
        say.say(f"    to subscriber 'ada': status={one.status} transactionId={one.transaction_id}")
        topic = client.trigger_event("release-notes", {"type": "Topic", "topicKey": "beta"})
        say.say(f"    to topic 'beta':     status={topic.status}")
        checks.append(("triggers processed", one.ok and topic.ok))

        say.section("Bulk trigger of 250 events (the API takes at most 100 a request)")
        bulk = client.trigger_bulk_event(
            [{"name": "digest", "to": f"user-{i}", "payload": {"n": i}} for i in range(250)],
            idempotency_key="demo-digest",
        )
        # Sent 8 at a time, they may arrive in any order: shown in the call's order.
        sent = sorted(
            emu.requests(path="/v1/events/trigger/bulk"),
            key=lambda r: str(r["headers"].get("idempotency-key")),
        )
        say.say(
            f"    {len(bulk)} results from {len(sent)} requests of {[len(r['body']['events']) for r in sent]} events"
        )
        say.say(f"    idempotency keys: {_keys(sent, 'idempotency-key')}")
        checks.append(("bulk split in 3", len(sent) == 3 and bulk.ok))

        say.section("Broadcast to every subscriber")
        broadcast = client.broadcast_event("maintenance", {"window": "Sunday 02:00 UTC"})
        say.say(f"    status={broadcast.status} transactionId={broadcast.transaction_id}")

        say.section("Trigger with a delay step, then cancel it")
        client.trigger_event("reminder", "ada", transaction_id="demo-reminder")
        first = client.cancel_triggered_event("demo-reminder")
        again = client.cancel_triggered_event("demo-reminder")
        say.say(f"    cancel 'demo-reminder': {first}; cancel again: {again} (nothing left)")
        checks.append(("cancel true then false", first and not again))

        say.section(f"{events:,} track() calls: queued, sent in batches by a background thread")
        # The emulator's counters count every event; its tables keep the newest rows only.
        stored_before = emu.stats().get("events", 0)
        began = time.perf_counter()
        for i in range(events):
            client.track("page_viewed", user_id=f"user-{i % 50}", properties={"n": i})
            if (i + 1) % max(1, events // 20) == 0 or i + 1 == events:
                say.progress(i + 1, events)
        caller_ms = (time.perf_counter() - began) * 1000
        before_flush = client.analytics_stats.accepted
        result = client.flush(timeout=60)
        say.say(f"    the caller's thread spent {caller_ms:.0f} ms in all {events:,} calls")
        flushed = (
            f"flush() sent the other {result.accepted:,} in {result.batches:,} batches and "
            "waited for them"
            if result.accepted
            else "flush() found nothing left to send"
        )
        say.say(
            f"    the worker sent {before_flush:,} while the calls ran; {flushed}; "
            f"{result.pending:,} still queued, {result.dropped:,} dropped"
        )
        delivered = emu.stats().get("events", 0) - stored_before
        say.say(f"    page_viewed events the server accepted: {delivered:,} of {events:,}")
        checks.append(
            (
                f"{events} events delivered",
                delivered == events == before_flush + result.accepted,
            )
        )

        say.section("An outage: 503s with Retry-After, then a dropped connection")
        before = len(emu.triggers())
        emu.fail_next(2, 503, headers=NO_WAIT, path="/v1/events/trigger")
        emu.drop_next(1, path="/v1/events/trigger")
        outage = client.trigger_event("welcome", "grace", idempotency_key="demo-outage")
        attempts = emu.requests(path="/v1/events/trigger")[-4:]
        say.say(f"    attempts answered: {_statuses(attempts)}")
        say.say(f"    idempotency key: {_same_key(_keys(attempts, 'idempotency-key'))}")
        stored = len(emu.triggers()) - before
        say.say(f"    result: status={outage.status}; triggers stored: {stored} (not doubled)")
        checks.append(("outage trigger stored once", outage.ok and stored == 1))

        earlier = len(emu.requests(path="/v1/events/batch"))
        emu.fail_next(2, 503, headers=NO_WAIT, path="/v1/events/batch")
        emu.drop_next(1, path="/v1/events/batch")
        for i in range(100):
            client.track("checkout", user_id="grace", properties={"n": i})
        # A flush stops when a batch's retries are spent and the batch goes back to the
        # front of the queue; the next flush sends it again, under the same key.
        for _ in range(5):
            if not client.flush(timeout=60).pending:
                break
        batches = emu.requests(path="/v1/events/batch")[earlier:]
        say.say(f"    analytics batch attempts: {_statuses(batches)}")
        say.say(f"    X-Idempotency-Key: {_same_key(_keys(batches, 'x-idempotency-key'))}")
        checkout = emu.events(event="checkout")
        unique = len({event["message_id"] for event in checkout})
        say.say(f"    checkout events stored: {len(checkout)} ({unique} unique), none lost")
        same_key = len(set(_keys(batches, "x-idempotency-key"))) == 1
        checks.append(("outage events once, one key", len(checkout) == unique == 100 and same_key))

        say.section("Clean shutdown")
        final = client.shutdown(timeout=10)
        client.close()
        say.say(
            f"    shutdown(): {final.pending:,} events left undelivered, {final.dropped:,} "
            f"dropped{' (nothing was left to send)' if final.ok and not final.accepted else ''}"
        )

        stats = emu.stats()
        say.section("Summary: what the emulator stored")
        rows = [
            ("triggers stored", stats.get("triggers", 0), _by_name(emu.triggers())),
            ("bulk requests", stats.get("bulk_calls", 0), "250 events split by 100"),
            ("broadcasts", stats.get("broadcasts", 0), ""),
            (
                "cancellations",
                stats.get("cancellations", 0),
                "one found the delayed trigger, one found nothing left",
            ),
            (
                "analytics events stored",
                stats.get("events", 0),
                f"page_viewed {delivered:,} + checkout {len(checkout):,}: the {events:,} "
                "track() calls and the outage's 100",
            ),
            ("duplicates ignored", stats.get("duplicates_ignored", 0), "none was sent twice"),
            (
                "idempotent replays",
                stats.get("replays", 0),
                "requests repeated after a dropped connection, answered from the idempotency store",
            ),
            ("faults injected", stats.get("faults", 0), "the outage: 2x 503 + 1 drop, twice"),
            ("seconds", round(time.monotonic() - started, 1), ""),
        ]
        for label, value, why in rows:
            say.say(f"    {label:<26}{value:>10,}{f'  ({why})' if why else ''}")
        for label, ok in checks:
            say.say(f"    {'ok  ' if ok else 'FAIL'} {label}")
        dashboard = f"{emu.url}/"
        say.say(f"\nDashboard: {dashboard}")
        if serve:
            try:
                # Said inside the try: a Ctrl-C that follows the line at once is the stop
                # the line asks for, not an error.
                say.say("The emulator keeps serving the dashboard until Ctrl-C ...")
                while True:
                    time.sleep(3600)  # a plain sleep is interruptible everywhere
            except KeyboardInterrupt:
                pass
    if serve:
        say.say("Stopped: the emulator and its dashboard are gone.")
    else:
        say.say(
            "The demo's emulator stopped when the demo ended, so the dashboard URL above no "
            "longer answers. Run `teleflow demo --serve` to keep it serving until Ctrl-C."
        )
    return DemoOutcome(dict(checks), dict(stats), dashboard)
