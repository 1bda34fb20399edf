"""The sans-I/O core of the client: each capability that touches the wire, written once.

No sockets, no threads started, no sleeping: the drivers (sync, async, analytics) do the I/O.
"""
