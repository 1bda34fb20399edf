"""Caller cost of ``trigger_event`` against a bare ``requests.Session.post``, in one run.

Both send the same JSON body with the same headers to the same loopback server and parse the
answer; the SDK also validates, mints an idempotency key, builds a Response and a result.
Calls alternate in rounds so that drift on a shared machine hits both sides alike.

    python benchmarks/bench_events.py            # 1,000 calls each, prints the ratio
    python benchmarks/bench_events.py --calls 3000

Target (issue 2): the SDK's median per call within 1.10x of the bare session.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, List

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teleflow_py import Client

ANSWER = json.dumps(
    {"data": {"acknowledged": True, "status": "processed", "transactionId": "tx-bench"}}
).encode()
RESPONSE = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: " + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER
)


def _serve_connection(conn: socket.socket) -> None:
    """Answer every request on a keep-alive connection with a canned 201."""
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            conn.sendall(RESPONSE)


def start_server() -> int:
    """A minimal keep-alive HTTP server on loopback; returns its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept_loop() -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_serve_connection, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return int(listener.getsockname()[1])


def time_calls(call: Callable[[int], None], start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per side (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    args = parser.parse_args()

    port = start_server()
    base_url = f"http://127.0.0.1:{port}"
    api_key = "sk_bench_0123456789"
    client = Client(api_key=api_key, base_url=base_url)
    session = requests.Session()
    bare_headers = {
        "Authorization": f"ApiKey {api_key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }

    def sdk(i: int) -> None:
        client.trigger_event("welcome", "subscriber-1", payload={"i": i, "plan": "pro"})

    def bare(i: int) -> None:
        body = json.dumps(
            {"name": "welcome", "to": "subscriber-1", "payload": {"i": i, "plan": "pro"}}
        )
        headers = dict(bare_headers, **{"Idempotency-Key": str(uuid.uuid4())})
        answer = session.post(
            base_url + "/v1/events/trigger", data=body, headers=headers, timeout=(10, 30)
        )
        answer.raise_for_status()
        answer.json()

    for warm in (sdk, bare):
        time_calls(warm, 0, 50)
    per_round = max(1, args.calls // args.rounds)
    sdk_samples: List[float] = []
    bare_samples: List[float] = []
    for round_number in range(args.rounds):
        first, second = (sdk, bare) if round_number % 2 == 0 else (bare, sdk)
        a = time_calls(first, round_number * per_round, per_round)
        b = time_calls(second, round_number * per_round, per_round)
        (sdk_samples if first is sdk else bare_samples).extend(a)
        (bare_samples if first is sdk else sdk_samples).extend(b)

    sdk_median = statistics.median(sdk_samples)
    bare_median = statistics.median(bare_samples)
    ratio = sdk_median / bare_median
    print(f"calls per side        {len(sdk_samples)}")
    print(f"bare Session.post     median {bare_median:8.1f} us/call")
    print(f"Client.trigger_event  median {sdk_median:8.1f} us/call")
    print(
        f"ratio sdk/bare        {ratio:.3f}  (target <= 1.10: {'PASS' if ratio <= 1.10 else 'FAIL'})"
    )
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
