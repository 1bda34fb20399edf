"""A long-running script that delivers its queue when a container stops it (SIGTERM)."""

from teleflow_py import Client
from teleflow_py.integrations.signals import flush_on_sigterm

client = Client(api_key="sk_test_example")
flush_on_sigterm(client)  # the one line: from the main thread, where the program starts

for job in range(3):
    client.track("job_done", user_id="worker-1", properties={"job": job})
# A normal end flushes at exit; a SIGTERM now would flush first, then end the process.
