"""Counters behind GET /__lab/stats. One Stats per process (each --workers process has its own)."""

from __future__ import annotations

import os
from typing import Final

from server import jsontext

CLOSE_REASONS: Final = ("eof", "reset", "hup", "timeout", "error", "protocol")
_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # minus the fd listdir itself holds open
    except OSError:
        return -1


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return -1


class Stats:
    def __init__(self, trigger: str, bug: str | None) -> None:
        self.trigger = trigger
        self.bug = bug
        self.open_connections = 0
        self.accepted = 0
        self.closed = dict.fromkeys(CLOSE_REASONS, 0)
        self.requests = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.parse_errors = 0

    def snapshot(self) -> dict[str, object]:
        return {
            "trigger": self.trigger,
            "bug": self.bug,
            "open_connections": self.open_connections,
            "open_fds": open_fds(),
            "accepted": self.accepted,
            "closed": dict(self.closed),
            "requests": self.requests,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "parse_errors": self.parse_errors,
            "rss_bytes": rss_bytes(),
        }

    def to_json(self) -> bytes:
        return (jsontext.dumps(self.snapshot()) + "\n").encode("ascii")  # type: ignore[arg-type]
