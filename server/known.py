"""Requests already parsed, validated and answered, kept with their answer: the fast path's memo.

A request's bytes decide everything the quick path checks (the parser is a pure function of its
input and the fixed limits) and, for routes whose reply depends on nothing else, the response too.
So bytes seen once and found valid need no second parse: the same bytes get the same response
(within one second: the response carries a Date, and the memo is emptied when it changes).
Only the parser's own verdict puts an entry here; a value never validated cannot be found.
"""

from __future__ import annotations

from typing import Final

from server.http.date import HttpDate

MAX_ENTRIES: Final = 256  # distinct requests remembered; a flood of new ones empties it, no more
MAX_REQUEST_BYTES: Final = 1024  # longer requests are parsed every time (keys stay small)


class KnownRequests:
    """Whole request bytes -> the whole response bytes, bounded in entries and key size."""

    __slots__ = ("answers", "max_entries", "max_request_bytes")

    def __init__(
        self, max_entries: int = MAX_ENTRIES, max_request_bytes: int = MAX_REQUEST_BYTES, date: HttpDate | None = None
    ) -> None:
        # Read directly by the fast path (``answers.get``): one dict lookup per request. The answers carry a
        # Date: with one, they are forgotten when its second changes (so none is older than the current second).
        self.answers: dict[bytes, bytes] = date.memo() if date is not None else {}
        self.max_entries = max_entries
        self.max_request_bytes = max_request_bytes

    def remember(self, request: bytes, answer: bytes) -> None:
        """Call only with a request the parser accepted whole and the answer the router gave it."""
        if len(request) > self.max_request_bytes:
            return
        answers = self.answers
        if len(answers) >= self.max_entries and request not in answers:
            answers.clear()  # bounded: a stream of distinct requests costs a re-parse, never memory
        answers[request] = answer

    def __len__(self) -> int:
        return len(self.answers)
