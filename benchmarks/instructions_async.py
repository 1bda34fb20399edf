"""Instructions per async trigger, raw aiohttp beside AsyncClient: a count that load cannot blur.

On a shared machine wall time and even process CPU time swing with the other jobs (three
runs of ``bench_async.py`` at a load of 25 on two cores gave 1.08x, 1.16x and 1.24x). The
number of instructions a call executes does not: this script runs each side in a process
of its own under valgrind's cachegrind (``--cache-sim=no``: counting only), once with 100
and once with 600 calls after the same warm-up, and divides the difference by 500, which
leaves out start-up and import. The loopback server (``_loopback.py``) runs outside
valgrind. Needs ``valgrind`` on the PATH; slow (about a minute); not part of ``run.py``.

    python benchmarks/instructions_async.py
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer

FEW, MANY, WARM_UP = 100, 600, 50


async def _calls(url: str, side: str, count: int) -> None:
    import aiohttp
    from bench_async import API_KEY, raw_trigger, sdk_trigger

    from teleflow_py import AsyncClient

    session = aiohttp.ClientSession()
    client = AsyncClient(api_key=API_KEY, base_url=url)
    trigger = raw_trigger(session, url) if side == "raw" else sdk_trigger(client)
    try:
        for i in range(WARM_UP + count):
            if not await trigger(i):
                raise SystemExit(f"call {i} was not processed")
    finally:
        await client.close()
        await session.close()


def _instructions(url: str, side: str, count: int) -> int:
    valgrind = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
    ]
    ran = subprocess.run(
        [*valgrind, sys.executable, __file__, "--child", url, side, str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", ran.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{ran.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        url, side, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
        asyncio.run(_calls(url, side, count))
        return 0
    server = LoopbackServer(kind="trigger")
    try:
        per_call = {
            side: (_instructions(server.url, side, MANY) - _instructions(server.url, side, FEW))
            / (MANY - FEW)
            for side in ("raw", "sdk")
        }
    finally:
        server.close()
    print(f"raw aiohttp session.post           {per_call['raw']:10,.0f} instructions/call")
    print(f"AsyncClient.trigger_event          {per_call['sdk']:10,.0f} instructions/call")
    print(f"ratio AsyncClient/raw              {per_call['sdk'] / per_call['raw']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
