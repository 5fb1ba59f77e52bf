"""The bug zoo: classic epoll-server mistakes, one per variant, selected with --bug NAME.

The clean code path is the default. Each deviation point in the code is guarded by
``bugs.<name>`` and commented ``# BUG ZOO: <name>`` so the variants are easy to find and
everything else stays identical.
"""

from __future__ import annotations

from typing import Final

BUGS: Final = {
    "no_eof_check": "recv returning b'' is not treated as end of input: CPU spin and CLOSE_WAIT",
    "leak_on_disconnect": "closed connections are unregistered but their sockets never closed",
    "unguarded_io": "ECONNRESET/EPIPE/ENOTCONN from recv, send and shutdown crash the server",
    "ignore_send_count": "send()'s return value is ignored: large responses to slow readers are truncated",
    "unbounded_headers": "no header size limit, and the whole buffer is rescanned on every read",
    "no_timeouts": "no header, idle or write timeouts",
    "edge_single_recv": "edge-triggered mode reads once per event instead of until EAGAIN",
    "emfile_ignored": "EMFILE on accept is caught and ignored: the loop spins",
}


class Bugs:
    """Which deviation is active; every flag is False for the real server."""

    __slots__ = (
        "edge_single_recv",
        "emfile_ignored",
        "ignore_send_count",
        "leak_on_disconnect",
        "name",
        "no_eof_check",
        "no_timeouts",
        "unbounded_headers",
        "unguarded_io",
    )

    def __init__(self, name: str | None = None) -> None:
        if name is not None and name not in BUGS:
            raise ValueError(f"unknown bug {name!r}; known: {', '.join(BUGS)}")
        self.name = name
        self.no_eof_check = name == "no_eof_check"
        self.leak_on_disconnect = name == "leak_on_disconnect"
        self.unguarded_io = name == "unguarded_io"
        self.ignore_send_count = name == "ignore_send_count"
        self.unbounded_headers = name == "unbounded_headers"
        self.no_timeouts = name == "no_timeouts"
        self.edge_single_recv = name == "edge_single_recv"
        self.emfile_ignored = name == "emfile_ignored"


NONE: Final = Bugs()
