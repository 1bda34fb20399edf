"""The sans-I/O core: what every driver of the request path shares, without any I/O.

No sockets, threads, ``requests`` or ``aiohttp`` here; every rule is tested as a table
(``tests/unit``). Three drivers run it: the sync client (:mod:`teleflow_py._transport`
over :mod:`teleflow_py._connection`), the async client (:mod:`teleflow_py.aio._transport`
over aiohttp) and the analytics worker (:mod:`teleflow_py.analytics.delivery`).

- :mod:`~teleflow_py._core.calls`: each Events call as data (method, path, body, key).
- :mod:`~teleflow_py._core.answers`: how each call reads its accepted answer.
- :mod:`~teleflow_py._core.bulk`: what became of each request of a bulk trigger.
- :mod:`~teleflow_py._core.attempts`: the attempt loop, one generator of "send" and
  "sleep" steps, and its two drivers' loops (blocking and awaited).
- :mod:`~teleflow_py._core.sending`: a client's settings for sending, built once.
- :mod:`~teleflow_py._core.hooks`: the observer the loop reports to (pacing, tracing).
- :mod:`~teleflow_py._core.retry`: the retry policy and the server's requested waits.
- :mod:`~teleflow_py._core.deadline`: the deadline of one call, the pause a bulk call shares.
- :mod:`~teleflow_py._core.limits`: timeouts, the limits of one attempt, the read budget.
- :mod:`~teleflow_py._core.failures`: the one ladder from a failure to the SDK's error.
- :mod:`~teleflow_py._core.environment`: proxy and CA-bundle rules, the plain-http warning.
- :mod:`~teleflow_py._core.headers`: a case-insensitive mapping, the request headers.
- :mod:`~teleflow_py._core.ratelimit_headers`: the server's ``RateLimit-*`` fields, each
  route's rate-limit category and cost.
- :mod:`~teleflow_py._core.pacing`: the rate-limit budget shared by a client's requests.
- :mod:`~teleflow_py._core.tracing`: the telemetry hooks (no-op unless OpenTelemetry is on).

Nothing is imported here, so that importing one module (``errors`` imports ``headers``
and ``retry``) loads no other. How a call travels through these, and the module map:
docs/architecture.rst.
"""
