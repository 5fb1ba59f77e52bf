"""Polling with a deadline: the only way the lab waits for anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lab.errors import LabError

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str,
) -> T:
    """Call `probe` until it returns something other than None or False; LabError at the deadline.

    Exceptions from `probe` count as "not yet": the last one is named in the error.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
        except Exception as error:  # a not-ready service raises all kinds of errors
            last_error = error
        else:
            if result is not None and result is not False:
                return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise LabError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)
