"""The Date header (RFC 9110 6.6.1), formatted at most once per second, as nginx does.

An origin server with a clock must send Date in its 2xx, 3xx and 4xx responses. ``tick`` reads the
wall clock and says when (on the monotonic clock the loop already reads) the next second begins, so
a wakeup costs one float comparison, and only a new second formats a new value. Replies kept whole
(the "/" replies, the fast path's answers to known requests) carry the date they were made with,
so they live in memos this object empties when the second changes: a memoized reply is never
older than the current second, and a request costs nothing more than before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # tm_wday: Monday is 0
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imf_fixdate(second: int) -> str:
    """``Sun, 06 Nov 1994 08:49:37 GMT`` (RFC 9110 5.6.7); names spelled here, not by the locale."""
    t = time.gmtime(second)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


class HttpDate:
    """The current Date value and the memos of replies that contain it."""

    __slots__ = ("_clock", "_memos", "second", "value")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # wall-clock seconds; a test passes a fake one
        self._memos: list[dict[Any, Any]] = []
        self.second = -1
        self.value = ""
        self.tick(time.monotonic())

    def tick(self, now: float) -> float:
        """At monotonic time ``now``: a new value (and emptied memos) if the second changed.

        Returns the monotonic time the next wall-clock second begins: call again once ``now`` reaches it.
        """
        wall = self._clock()
        second = int(wall)
        if second != self.second:
            self.second = second
            self.value = imf_fixdate(second)
            for memo in self._memos:
                memo.clear()
        return now + (second + 1 - wall)

    def memo(self) -> dict[Any, Any]:
        """A dict for replies that contain the date: emptied whenever the second changes."""
        memo: dict[Any, Any] = {}
        self._memos.append(memo)
        return memo
